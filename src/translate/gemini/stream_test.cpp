#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <string>
#include <vector>

#include "translate/gemini/test_support.hpp"

namespace shepherd::translate {
namespace {

using namespace gemini_test;

// ---------------------------------------------------------------------------------------------
// Streams

TEST(GeminiStream, TextThoughtsCallFinishAndUsage) {
  const auto deltas = run_stream(sse_events(fixture("gemini/stream_function_call.sse")));
  using K = Delta::Kind;
  ASSERT_EQ(kinds(deltas),
            (std::vector<K>{K::kStart, K::kThinking, K::kText, K::kText, K::kToolCall,
                            K::kToolArguments, K::kFinish, K::kUsage, K::kDone}));
  EXPECT_EQ(deltas[0].id, "Wt2taLz7Gp_Fz7IP3q-YmAk");
  EXPECT_EQ(deltas[0].model, "gemini-2.5-flash");
  EXPECT_EQ(deltas[1].text, "**Checking the lights**");
  EXPECT_EQ(deltas[2].text, "Sure, dimming");
  EXPECT_EQ(deltas[3].text, " the lights now.");
  EXPECT_EQ(deltas[4].index, 0);
  EXPECT_EQ(deltas[4].name, "set_light_values");
  EXPECT_TRUE(valid_tool_id(deltas[4].id));
  EXPECT_NE(deltas[4].id.find("_ts_" + std::string(kSignatureUrl)), std::string::npos);
  EXPECT_EQ(deltas[5].index, 0);
  EXPECT_TRUE(json_equal(deltas[5].text, R"({"brightness":25,"color_temp":"warm"})"));
  EXPECT_EQ(deltas[6].stop_reason, StopReason::kToolUse);
  EXPECT_EQ(counts(deltas[7].usage), (Counts{110, 44, 64, 0, 20}));
}

TEST(GeminiStream, CutBeforeFinishReasonIsNotDone) {
  auto events = sse_events(fixture("gemini/stream_function_call.sse"));
  ASSERT_EQ(events.size(), 5u);
  events.pop_back();  // the event with finishReason
  const auto deltas = run_stream(events);
  for (const auto& d : deltas) {
    EXPECT_NE(d.kind, Delta::Kind::kFinish);
    EXPECT_NE(d.kind, Delta::Kind::kUsage);
    EXPECT_NE(d.kind, Delta::Kind::kDone);
  }
  EXPECT_EQ(deltas.back().kind, Delta::Kind::kToolArguments);
}

TEST(GeminiStream, ErrorEvent) {
  const auto deltas = run_stream(sse_events(fixture("gemini/stream_error.sse")));
  using K = Delta::Kind;
  ASSERT_EQ(kinds(deltas), (std::vector<K>{K::kStart, K::kText, K::kError}));
  const base::Error& e = deltas[2].error;
  EXPECT_EQ(e.code, base::ErrorCode::kUpstreamStatus);
  EXPECT_EQ(e.status, 503);
  EXPECT_EQ(e.message, "The model is overloaded. Please try again later.");
}

TEST(GeminiStream, BlockedPromptFinishesWithContentFilter) {
  const auto deltas = run_stream({R"({"promptFeedback":{"blockReason":"SAFETY"},
                                      "usageMetadata":{"promptTokenCount":9,"totalTokenCount":9}})"});
  using K = Delta::Kind;
  ASSERT_EQ(kinds(deltas), (std::vector<K>{K::kStart, K::kFinish, K::kUsage, K::kDone}));
  EXPECT_EQ(deltas[1].stop_reason, StopReason::kContentFilter);
}

TEST(GeminiStream, MalformedEventIsAnError) {
  auto decoder = gemini_codec().stream_decoder();
  std::vector<Delta> out;
  const auto status = decoder->feed("", R"({"candidates":[{"content":)", out);
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().code, base::ErrorCode::kUpstreamUnreachable);
  EXPECT_TRUE(status.error().retryable);
}

// ---------------------------------------------------------------------------------------------
// Error bodies

TEST(GeminiErrorMessage, ReadsTheMessageOrAnExcerpt) {
  const auto& codec = gemini_codec();
  EXPECT_EQ(codec.error_message(fixture("gemini/error.json")),
            "API key not valid. Please pass a valid API key.");
  EXPECT_EQ(codec.error_message(R"([{"error":{"code":429,"message":"Resource exhausted.",)"
                                R"("status":"RESOURCE_EXHAUSTED"}}])"),
            "Resource exhausted.");
  const std::string html = "<html>\n<body>" + std::string(1000, 'x') + "</body></html>";
  const std::string excerpt = codec.error_message(html);
  EXPECT_LE(excerpt.size(), 500u);
  EXPECT_EQ(excerpt.find('\n'), std::string::npos);
  EXPECT_EQ(excerpt.rfind("<html> <body>", 0), 0u);
}

}  // namespace
}  // namespace shepherd::translate
