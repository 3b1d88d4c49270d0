// decode_response and encode_response: complete answers both ways.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "translate/anthropic/test_support.hpp"

namespace shepherd::translate::anthropic_test {
namespace {

TEST(AnthropicDecodeResponse, ReadsToolUse) {
  auto r = codec().decode_response(fixture("anthropic/response_tool_use.json"));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->id, "msg_01Aq9w938a90dw8q");
  EXPECT_EQ(r->model, "claude-sonnet-4-5");
  EXPECT_EQ(r->stop_reason, StopReason::kToolUse);
  ASSERT_EQ(r->content.size(), 2u);
  EXPECT_EQ(r->content[0].text, "I'll check the current weather in San Francisco for you.");
  EXPECT_EQ(r->content[1].kind, Part::Kind::kToolCall);
  EXPECT_EQ(r->content[1].id, "toolu_01A09q90qw90lq917835lq9");
  EXPECT_EQ(r->content[1].name, "get_weather");
  EXPECT_TRUE(
      json_equal(r->content[1].arguments, R"({"location":"San Francisco, CA","unit":"celsius"})"));
  ASSERT_TRUE(r->usage);
  EXPECT_EQ(r->usage->prompt_tokens, 472);
  EXPECT_EQ(r->usage->completion_tokens, 89);
}

TEST(AnthropicDecodeResponse, ReadsThinkingAndCacheUsage) {
  auto r = codec().decode_response(fixture("anthropic/response_thinking.json"));
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_EQ(r->content.size(), 3u);
  EXPECT_EQ(r->content[0].kind, Part::Kind::kThinking);
  EXPECT_EQ(r->content[0].signature.substr(0, 10), "zbbJhbGciO");
  EXPECT_EQ(r->content[1].kind, Part::Kind::kRedactedThinking);
  EXPECT_EQ(r->content[2].kind, Part::Kind::kText);
  EXPECT_EQ(r->stop_reason, StopReason::kEndTurn);
  ASSERT_TRUE(r->usage);
  EXPECT_EQ(r->usage->prompt_tokens, 21 + 188086 + 1500);
  EXPECT_EQ(r->usage->cache_creation_tokens, 188086);
  EXPECT_EQ(r->usage->cache_read_tokens, 1500);
  EXPECT_EQ(r->usage->completion_tokens, 393);
}

TEST(AnthropicDecodeResponse, MapsStopReasons) {
  const struct {
    const char* reason;
    StopReason expected;
  } cases[] = {
      {"end_turn", StopReason::kEndTurn},           {"max_tokens", StopReason::kMaxTokens},
      {"stop_sequence", StopReason::kStopSequence}, {"tool_use", StopReason::kToolUse},
      {"refusal", StopReason::kContentFilter},      {"pause_turn", StopReason::kPauseTurn}};
  for (const auto& c : cases) {
    const std::string body = std::string(R"({"id":"msg_1","type":"message","content":[],)") +
                             R"("stop_reason":")" + c.reason + R"(","stop_sequence":"###"})";
    auto r = codec().decode_response(body);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->stop_reason, c.expected) << c.reason;
    EXPECT_EQ(r->stop_sequence, "###");
  }
}

TEST(AnthropicDecodeResponse, ErrorBodiesAndMalformedAnswersAreRetryable) {
  for (const std::string& body :
       {fixture("anthropic/error_overloaded.json"), std::string("not json"), std::string("[]"),
        std::string(R"({"id":"msg_1","content":"text"})"),
        std::string(R"({"id":"msg_1","content":[{"type":"text"}]})")}) {
    auto r = codec().decode_response(body);
    ASSERT_FALSE(r.ok()) << body;
    EXPECT_EQ(r.error().code, base::ErrorCode::kUpstreamUnreachable);
    EXPECT_TRUE(r.error().retryable);
    EXPECT_EQ(r.error().message.rfind("the upstream answer could not be read: ", 0), 0u);
  }
}

TEST(AnthropicEncodeResponse, RoundTripsThinkingAndCacheUsage) {
  const auto body = fixture("anthropic/response_thinking.json");
  auto r = codec().decode_response(body);
  ASSERT_TRUE(r.ok());
  std::string out;
  codec().encode_response(Request{}, *r, "claude-sonnet-4-5", out);
  EXPECT_TRUE(json_equal(out, body));
}

TEST(AnthropicEncodeResponse, WritesIdModelToolUseAndStopSequence) {
  Response r;
  r.id = "chatcmpl-123";
  r.model = "gpt-4o";
  r.content.push_back(text("Done"));
  r.content.push_back(tool_call("call_1", "f", R"({"a":1})"));
  r.content.push_back(tool_call("call_2", "g", "not json"));
  r.stop_reason = StopReason::kStopSequence;
  r.stop_sequence = "###";
  Usage u;
  u.prompt_tokens = 100;
  u.cache_read_tokens = 60;
  u.completion_tokens = 7;
  r.usage = u;
  std::string out;
  codec().encode_response(Request{}, r, "my-alias", out);
  EXPECT_TRUE(json_equal(out, R"({"id":"msg_chatcmpl-123","type":"message","role":"assistant",
      "model":"my-alias","content":[{"type":"text","text":"Done"},
      {"type":"tool_use","id":"call_1","name":"f","input":{"a":1}},
      {"type":"tool_use","id":"call_2","name":"g","input":{}}],
      "stop_reason":"stop_sequence","stop_sequence":"###",
      "usage":{"input_tokens":40,"output_tokens":7,"cache_creation_input_tokens":0,
               "cache_read_input_tokens":60}})"));

  r.id = "msg_abc";
  r.stop_reason = StopReason::kContentFilter;
  out.clear();
  codec().encode_response(Request{}, r, "my-alias", out);
  const auto body = parsed(out);
  EXPECT_EQ(body.at("id"), "msg_abc");
  EXPECT_EQ(body.at("stop_reason"), "refusal");
  EXPECT_TRUE(body.at("stop_sequence").is_null());
}

}  // namespace
}  // namespace shepherd::translate::anthropic_test
