// OpenAI chat codec tests. decode_response and encode_response: whole completions, and the codec's
// error shapes.
#include <gtest/gtest.h>

#include <string>

#include "api/openai.hpp"
#include "translate/openai_chat/test_support.hpp"

namespace shepherd::translate {
namespace {

using namespace openai_chat_test;

TEST(OpenAiChatDecodeResponse, ReadsToolCallsAndUsageDetails) {
  auto r = codec().decode_response(fixture("openai/response_tool_calls.json"));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->id, "chatcmpl-abc123");
  EXPECT_EQ(r->model, "gpt-4o-mini-2024-07-18");
  EXPECT_EQ(r->created, 1699896916);
  ASSERT_EQ(r->content.size(), 2u);
  EXPECT_EQ(r->content[0].kind, Part::Kind::kToolCall);
  EXPECT_EQ(r->content[0].id, "call_abc123");
  EXPECT_EQ(r->content[0].name, "get_current_weather");
  EXPECT_EQ(r->content[0].arguments, "{\n\"location\": \"Boston, MA\"\n}");
  EXPECT_EQ(r->content[1].name, "get_current_time");
  EXPECT_EQ(r->stop_reason, StopReason::kToolUse);
  ASSERT_TRUE(r->usage);
  EXPECT_EQ(r->usage->prompt_tokens, 82);
  EXPECT_EQ(r->usage->completion_tokens, 57);
  EXPECT_EQ(r->usage->cache_read_tokens, 64);
  EXPECT_EQ(r->usage->reasoning_tokens, 40);
}

TEST(OpenAiChatEncodeResponse, WritesAChatCompletionForTheClientsModel) {
  auto r = codec().decode_response(fixture("openai/response_tool_calls.json"));
  ASSERT_TRUE(r.ok());
  std::string out;
  codec().encode_response(Request{}, *r, "my-alias", out);
  EXPECT_TRUE(json_equal(out, fixture("openai/response_tool_calls_client.json")));
}

TEST(OpenAiChatDecodeResponse, ReadsThinkingBlocksBeforeText) {
  auto r = codec().decode_response(fixture("openai/response_reasoning.json"));
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->content.size(), 3u);
  EXPECT_EQ(r->content[0].kind, Part::Kind::kThinking);
  EXPECT_EQ(r->content[0].signature, "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds");
  EXPECT_EQ(r->content[1].kind, Part::Kind::kRedactedThinking);
  EXPECT_EQ(r->content[2].kind, Part::Kind::kText);
  EXPECT_EQ(r->content[2].text, "27 * 453 = 12231");
  EXPECT_EQ(r->stop_reason, StopReason::kMaxTokens);
  EXPECT_EQ(r->usage->reasoning_tokens, 100);
  EXPECT_EQ(r->usage->cache_read_tokens, 0);

  std::string out;
  codec().encode_response(Request{}, *r, "sonnet", out);
  EXPECT_TRUE(json_equal(out, R"({"id":"chatcmpl-msg_01AbCdEf","object":"chat.completion",
    "created":1737000000,"model":"sonnet","choices":[{"index":0,"message":{"role":"assistant",
    "content":"27 * 453 = 12231",
    "reasoning_content":"27 * 400 = 10800; 27 * 53 = 1431; the sum is 12231.",
    "thinking_blocks":[{"type":"thinking",
      "thinking":"27 * 400 = 10800; 27 * 53 = 1431; the sum is 12231.",
      "signature":"EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds"},
      {"type":"redacted_thinking",
       "data":"EmwKAhgBEgy3va3pzix/LafPsn4aDFIT2Xlxh0L5L8rLVyIwxtE3rAFBa8cr3qpP"}]},
    "logprobs":null,"finish_reason":"length"}],
    "usage":{"prompt_tokens":20,"completion_tokens":120,"total_tokens":140,
      "prompt_tokens_details":{"cached_tokens":0},
      "completion_tokens_details":{"reasoning_tokens":100}}})"));
}

TEST(OpenAiChatDecodeResponse, ReadsReasoningContentAndMissingUsage) {
  auto r = codec().decode_response(R"({"id":"x","model":"deepseek-reasoner","choices":[
    {"index":0,"message":{"role":"assistant","content":"9.11 < 9.8",
      "reasoning_content":"Compare the decimals."},"finish_reason":"stop"}]})");
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->content.size(), 2u);
  EXPECT_EQ(r->content[0].kind, Part::Kind::kThinking);
  EXPECT_EQ(r->content[0].text, "Compare the decimals.");
  EXPECT_EQ(r->stop_reason, StopReason::kEndTurn);
  EXPECT_FALSE(r->usage);
  std::string out;
  codec().encode_response(Request{}, *r, "m", out);
  EXPECT_FALSE(parse_object(out).contains("usage"));
}

TEST(OpenAiChatDecodeResponse, ErrorsAndMalformedAnswersAreUnreadable) {
  const std::string error = fixture("openai/response_error.json");
  for (const std::string_view body :
       {std::string_view(error), std::string_view(R"({"id":"x","choices":[]})"),
        std::string_view(R"({"id":"x"})"), std::string_view("<html>502</html>"),
        std::string_view(R"({"choices":[{"index":0}]})")}) {
    auto r = codec().decode_response(body);
    ASSERT_FALSE(r.ok()) << body;
    EXPECT_EQ(r.error().code, ErrorCode::kUpstreamUnreachable) << body;
    EXPECT_TRUE(r.error().retryable);
    EXPECT_EQ(r.error().message.rfind("the upstream answer could not be read: ", 0), 0u);
  }
  EXPECT_NE(codec().decode_response(error).error().message.find("The server had an error"),
            std::string::npos);
}

TEST(OpenAiChatCodec, ErrorBodyAndMessageUseTheOpenAiShape) {
  auto e = base::make_error(ErrorCode::kBadRequest, "bad n");
  e.param = "n";
  EXPECT_EQ(codec().error_body(e), api::error_body(e));
  EXPECT_EQ(codec().error_message(fixture("openai/response_error.json")),
            "The server had an error while processing your request. Sorry about that!");
}

}  // namespace
}  // namespace shepherd::translate
