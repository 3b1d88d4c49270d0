// OpenAI chat codec tests. The stream encoder: deltas as chunks for a client, and the round trip
// through the decoder.
#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

#include "api/openai.hpp"
#include "translate/openai_chat/test_support.hpp"

namespace shepherd::translate {
namespace {

using namespace openai_chat_test;

std::vector<Delta> sample_deltas() {
  std::vector<Delta> d(9);
  d[0].kind = Delta::Kind::kStart;
  d[0].id = "abc123";
  d[0].model = "upstream";
  d[0].created = 1741570283;
  d[1].kind = Delta::Kind::kThinking;
  d[1].text = "Let me think.";
  d[2].kind = Delta::Kind::kSignature;
  d[2].text = "sig-1";
  d[3].kind = Delta::Kind::kText;
  d[3].text = "Checking.";
  d[4].kind = Delta::Kind::kToolCall;
  d[4].id = "call_1";
  d[4].name = "get_weather";
  d[5].kind = Delta::Kind::kToolArguments;
  d[5].text = R"({"location":"Paris"})";
  d[6].kind = Delta::Kind::kFinish;
  d[6].stop_reason = StopReason::kToolUse;
  d[7].kind = Delta::Kind::kUsage;
  d[7].usage = Usage{10, 20, 4, 0, 5, std::nullopt};
  d[8].kind = Delta::Kind::kDone;
  return d;
}

// What a stream encoder writes for `deltas`, for a client that asked for usage or not.
std::string encode_all(const std::vector<Delta>& deltas, bool include_usage,
                       std::string_view model) {
  Request request;
  request.include_usage = include_usage;
  auto encoder = codec().stream_encoder(request, model);
  std::string out;
  for (const auto& d : deltas) encoder->encode(d, out);
  return out;
}

TEST(OpenAiChatStreamEncoder, WritesChunksForEachDelta) {
  const auto events = unframe(encode_all(sample_deltas(), true, "my-alias"));
  const auto expected = sse_data(fixture("openai/stream_encoded.sse"));
  ASSERT_EQ(events.size(), expected.size());
  for (std::size_t i = 0; i < events.size(); ++i) {
    if (expected[i] == "[DONE]") {
      EXPECT_EQ(events[i], "[DONE]");
    } else {
      EXPECT_TRUE(json_equal(events[i], expected[i])) << "event " << i;
    }
  }
  EXPECT_EQ(events[0],
            R"({"id":"chatcmpl-abc123","object":"chat.completion.chunk","created":1741570283,)"
            R"("model":"my-alias","choices":[{"index":0,"delta":{"role":"assistant","content":""},)"
            R"("logprobs":null,"finish_reason":null}]})");
  EXPECT_EQ(events[5],
            R"({"id":"chatcmpl-abc123","object":"chat.completion.chunk","created":1741570283,)"
            R"("model":"my-alias","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,)"
            R"("function":{"arguments":"{\"location\":\"Paris\"}"}}]},"logprobs":null,)"
            R"("finish_reason":null}]})");
  EXPECT_EQ(events[6],
            R"({"id":"chatcmpl-abc123","object":"chat.completion.chunk","created":1741570283,)"
            R"("model":"my-alias","choices":[{"index":0,"delta":{},"logprobs":null,)"
            R"("finish_reason":"tool_calls"}]})");
}

TEST(OpenAiChatStreamEncoder, WritesUsageOnlyWhenTheClientAskedForIt) {
  const auto out = encode_all(sample_deltas(), false, "my-alias");
  const auto events = unframe(out);
  ASSERT_EQ(events.size(), 8u);
  EXPECT_EQ(events.back(), "[DONE]");
  EXPECT_EQ(out.find("\"usage\""), std::string::npos);
}

TEST(OpenAiChatStreamEncoder, WritesRedactedThinkingAndErrors) {
  auto encoder = codec().stream_encoder(Request{}, "m");
  std::string out;
  Delta start;
  start.kind = Delta::Kind::kStart;
  start.id = "chatcmpl-9";
  encoder->encode(start, out);
  Delta redacted;
  redacted.kind = Delta::Kind::kRedactedThinking;
  redacted.text = "opaque";
  encoder->encode(redacted, out);
  auto e = base::make_error(ErrorCode::kUpstreamTimeout, "the upstream timed out");
  encoder->error(e, out);
  const auto events = unframe(out);
  ASSERT_EQ(events.size(), 3u);
  const auto chunk = parse_object(events[1]);
  EXPECT_EQ(chunk.at("id"), "chatcmpl-9");  // an id already prefixed is kept
  EXPECT_TRUE(json_equal(json::serialize(chunk.at("choices").at(0).at("delta")),
                         R"({"thinking_blocks":[{"type":"redacted_thinking","data":"opaque"}]})"));
  EXPECT_EQ(events[2], api::error_body(e));
}

TEST(OpenAiChatStream, DecodingWhatTheEncoderWroteGivesTheSameDeltas) {
  const auto first = decode_stream(fixture("openai/stream_tool_calls.sse"));
  std::string transcript;
  for (const auto& data : unframe(encode_all(first, true, "alias")))
    transcript += "data: " + data + "\n\n";
  const auto second = decode_stream(transcript);
  ASSERT_EQ(second.size(), first.size());
  for (std::size_t i = 0; i < first.size(); ++i) {
    EXPECT_EQ(second[i].kind, first[i].kind) << i;
    EXPECT_EQ(second[i].text, first[i].text) << i;
    EXPECT_EQ(second[i].index, first[i].index) << i;
    EXPECT_EQ(second[i].id, first[i].id) << i;
  }
  EXPECT_EQ(second[13].usage.cache_read_tokens, 32);
}

}  // namespace
}  // namespace shepherd::translate
