// OpenAI chat codec tests. The stream decoder: provider transcripts as deltas.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "translate/openai_chat/test_support.hpp"

namespace shepherd::translate {
namespace {

using namespace openai_chat_test;

TEST(OpenAiChatStreamDecoder, ReadsTheReferenceTranscript) {
  const auto d = decode_stream(fixture("openai/stream_tool_calls.sse"));
  ASSERT_EQ(d.size(), 15u);
  EXPECT_EQ(d[0].kind, Delta::Kind::kStart);
  EXPECT_EQ(d[0].id, "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG");
  EXPECT_EQ(d[0].model, "gpt-4o-2024-08-06");
  EXPECT_EQ(d[0].created, 1741570283);
  EXPECT_EQ(d[1].kind, Delta::Kind::kText);
  EXPECT_EQ(d[1].text, "Let me check");
  EXPECT_EQ(d[2].text, " both cities.");
  EXPECT_EQ(d[3].kind, Delta::Kind::kToolCall);
  EXPECT_EQ(d[3].index, 0);
  EXPECT_EQ(d[3].id, "call_DdmO9pD3xa9XTPNJ32zg2hcA");
  EXPECT_EQ(d[3].name, "get_weather");
  std::string args;
  for (std::size_t i = 4; i <= 9; ++i) {
    EXPECT_EQ(d[i].kind, Delta::Kind::kToolArguments);
    EXPECT_EQ(d[i].index, 0);
    args += d[i].text;
  }
  EXPECT_EQ(args, R"({"location":"Paris, France"})");
  EXPECT_EQ(d[10].kind, Delta::Kind::kToolCall);
  EXPECT_EQ(d[10].index, 1);
  EXPECT_EQ(d[10].id, "call_9QtrBK3UHpfRsDNULUNUjQGb");
  EXPECT_EQ(d[11].kind, Delta::Kind::kToolArguments);
  EXPECT_EQ(d[11].index, 1);
  EXPECT_EQ(d[11].text, R"({"location":"Bogotá, Colombia"})");
  EXPECT_EQ(d[12].kind, Delta::Kind::kFinish);
  EXPECT_EQ(d[12].stop_reason, StopReason::kToolUse);
  EXPECT_EQ(d[13].kind, Delta::Kind::kUsage);
  EXPECT_EQ(d[13].usage.prompt_tokens, 82);
  EXPECT_EQ(d[13].usage.completion_tokens, 40);
  EXPECT_EQ(d[13].usage.cache_read_tokens, 32);
  EXPECT_EQ(d[14].kind, Delta::Kind::kDone);
  // After [DONE], the end of the body adds nothing.
  auto decoder = codec().stream_decoder();
  std::vector<Delta> more;
  for (const auto& data : sse_data(fixture("openai/stream_tool_calls.sse"))) {
    ASSERT_TRUE(decoder->feed("", data, more).ok());
  }
  const auto before = more.size();
  decoder->end(more);
  EXPECT_EQ(more.size(), before);
}

TEST(OpenAiChatStreamDecoder, ReadsReasoningSignaturesAndRedactedThinking) {
  auto decoder = codec().stream_decoder();
  std::vector<Delta> d;
  for (
      const std::string_view data : {
          R"({"id":"1","model":"m","created":5,"choices":[{"index":0,"delta":{"role":"assistant","reasoning_content":"Let me"}}]})",
          R"({"id":"1","choices":[{"index":0,"delta":{"reasoning":" think."}}]})",
          R"({"id":"1","choices":[{"index":0,"delta":{"thinking_blocks":[{"type":"thinking","thinking":"","signature":"sig-1"}]}}]})",
          R"({"id":"1","choices":[{"index":0,"delta":{"thinking_blocks":[{"type":"redacted_thinking","data":"opaque"}]}}]})",
          R"({"id":"1","choices":[{"index":0,"delta":{"content":"Yes."},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":4,"completion_tokens_details":{"reasoning_tokens":2}}})",
          "[DONE]",
      }) {
    ASSERT_TRUE(decoder->feed("", data, d).ok()) << data;
  }
  ASSERT_EQ(d.size(), 9u);
  EXPECT_EQ(d[1].kind, Delta::Kind::kThinking);
  EXPECT_EQ(d[1].text, "Let me");
  EXPECT_EQ(d[2].kind, Delta::Kind::kThinking);
  EXPECT_EQ(d[2].text, " think.");
  EXPECT_EQ(d[3].kind, Delta::Kind::kSignature);
  EXPECT_EQ(d[3].text, "sig-1");
  EXPECT_EQ(d[4].kind, Delta::Kind::kRedactedThinking);
  EXPECT_EQ(d[4].text, "opaque");
  EXPECT_EQ(d[5].kind, Delta::Kind::kText);
  EXPECT_EQ(d[6].kind, Delta::Kind::kFinish);
  EXPECT_EQ(d[6].stop_reason, StopReason::kEndTurn);
  EXPECT_EQ(d[7].kind, Delta::Kind::kUsage);  // after the finish, though it came with it
  EXPECT_EQ(d[7].usage.reasoning_tokens, 2);
  EXPECT_EQ(d[8].kind, Delta::Kind::kDone);
}

TEST(OpenAiChatStreamDecoder, CallsEndInToolUseWhateverTheReason) {
  auto decoder = codec().stream_decoder();
  std::vector<Delta> d;
  ASSERT_TRUE(decoder
                  ->feed("",
                         R"({"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"c",
                            "function":{"name":"f","arguments":"{}"}}]}}]})",
                         d)
                  .ok());
  ASSERT_TRUE(
      decoder->feed("", R"({"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]})", d).ok());
  ASSERT_EQ(d.back().kind, Delta::Kind::kFinish);
  EXPECT_EQ(d.back().stop_reason, StopReason::kToolUse);
  // The body ended after the finish reason without [DONE]: the stream is complete.
  decoder->end(d);
  EXPECT_EQ(d.back().kind, Delta::Kind::kDone);
}

TEST(OpenAiChatStreamDecoder, ReportsErrorEvents) {
  auto decoder = codec().stream_decoder();
  std::vector<Delta> d;
  ASSERT_TRUE(decoder
                  ->feed("",
                         R"({"error":{"message":"Rate limit reached for gpt-4o",
                            "type":"requests","code":"rate_limit_exceeded"}})",
                         d)
                  .ok());
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].kind, Delta::Kind::kError);
  EXPECT_EQ(d[0].error.code, ErrorCode::kUpstreamStatus);
  EXPECT_EQ(d[0].error.message, "Rate limit reached for gpt-4o");
  EXPECT_EQ(d[0].error.status, 429);

  decoder = codec().stream_decoder();
  d.clear();
  ASSERT_TRUE(decoder->feed("", R"({"error":{"message":"boom","type":"server_error"}})", d).ok());
  EXPECT_EQ(d[0].error.status, 500);
  EXPECT_TRUE(d[0].error.retryable);
}

TEST(OpenAiChatStreamDecoder, RejectsMalformedChunks) {
  for (const std::string_view data :
       {"{\"choices\":[", "[1,2]", "not json", R"({"choices":[{"delta":{"tool_calls":{}}}]})"}) {
    auto decoder = codec().stream_decoder();
    std::vector<Delta> d;
    const auto s = decoder->feed("", data, d);
    ASSERT_FALSE(s.ok()) << data;
    EXPECT_EQ(s.error().code, ErrorCode::kUpstreamUnreachable);
    EXPECT_TRUE(s.error().retryable);
  }
}

TEST(OpenAiChatStreamDecoder, EndWithoutFinishAddsNothing) {
  auto decoder = codec().stream_decoder();
  std::vector<Delta> d;
  ASSERT_TRUE(decoder->feed("", R"({"choices":[{"index":0,"delta":{"content":"Hal"}}]})", d).ok());
  decoder->end(d);
  ASSERT_EQ(d.size(), 2u);
  EXPECT_EQ(d.back().kind, Delta::Kind::kText);
}

}  // namespace
}  // namespace shepherd::translate
