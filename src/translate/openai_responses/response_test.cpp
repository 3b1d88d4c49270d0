// The encoding of complete answers as response objects, and the error body.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <string>
#include <utility>

#include "api/openai.hpp"
#include "translate/openai_responses.hpp"
#include "translate/openai_responses/test_support.hpp"
#include "translate/testing.hpp"

namespace shepherd::translate::responses_test {
namespace {

namespace json = boost::json;
using testing::fixture;
using testing::json_equal;

Usage usage(std::int64_t prompt, std::int64_t completion, std::int64_t cached,
            std::int64_t reasoning) {
  Usage u;
  u.prompt_tokens = prompt;
  u.completion_tokens = completion;
  u.cache_read_tokens = cached;
  u.reasoning_tokens = reasoning;
  return u;
}

Response answer(std::string id, std::int64_t created) {
  Response r;
  r.id = std::move(id);
  r.created = created;
  return r;
}

std::string encode(const Response& response) {
  std::string out;
  openai_responses_codec().encode_response(Request{}, response, "gpt-4.1", out);
  return out;
}

TEST(ResponsesEncode, WritesTextAnswerAsOneMessageItem) {
  Response r = answer("67ccd2bed1ec8190b14f964abc0542670bb6a6b452d3795b", 1741476542);
  r.content = {testing::text("In a peaceful grove beneath a silver moon, "),
               testing::text("a unicorn named Lumina discovered a hidden pool.")};
  r.usage = usage(36, 87, 0, 0);
  EXPECT_TRUE(json_equal(encode(r), fixture("responses/response_text.json")));
}

TEST(ResponsesEncode, WritesOneFunctionCallItemPerToolCall) {
  Response r = answer("resp_tools1", 1741294021);
  r.content = {
      testing::text("Let me check both cities."),
      testing::tool_call("call_12345xyz", "get_weather", R"({"location":"Paris, France"})"),
      testing::tool_call("call_67890abc", "get_weather", R"({"location":"Bogotá, Colombia"})")};
  r.stop_reason = StopReason::kToolUse;
  r.usage = usage(291, 23, 128, 0);
  EXPECT_TRUE(json_equal(encode(r), fixture("responses/response_function_calls.json")));
}

TEST(ResponsesEncode, WritesThinkingAsReasoningItemsWithEncryptedContent) {
  Response r = answer("resp_reason1", 1741294021);
  Part thinking;
  thinking.kind = Part::Kind::kThinking;
  thinking.text = "The user asks for 2+2; that is 4.";
  thinking.signature = "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds";
  Part redacted;
  redacted.kind = Part::Kind::kRedactedThinking;
  redacted.text = "EmwKAhgBEgy3va3pzix";
  r.content = {thinking, redacted, testing::text("4")};
  r.usage = usage(20, 64, 0, 52);
  const auto out = encode(r);
  EXPECT_TRUE(json_equal(out, fixture("responses/response_reasoning.json")));

  // The items come back on the next turn as input: the thinking and its signature survive.
  const std::string next = R"({"model":"m","input":[{"role":"user","content":"2+2?"}, )" +
                           json::serialize(json::parse(out).at("output").at(0)) + ", " +
                           json::serialize(json::parse(out).at("output").at(1)) + ", " +
                           json::serialize(json::parse(out).at("output").at(2)) + "]}";
  const auto back = decode_ok(next);
  ASSERT_EQ(back.messages.size(), 2u);
  const auto& parts = back.messages[1].parts;
  ASSERT_EQ(parts.size(), 3u);
  EXPECT_EQ(parts[0].kind, Part::Kind::kThinking);
  EXPECT_EQ(parts[0].text, thinking.text);
  EXPECT_EQ(parts[0].signature, thinking.signature);
  EXPECT_EQ(parts[1].kind, Part::Kind::kRedactedThinking);
  EXPECT_EQ(parts[1].text, redacted.text);
  EXPECT_EQ(parts[2].text, "4");
}

TEST(ResponsesEncode, WritesMaxTokensStopAsIncomplete) {
  Response r = answer("resp_cut1", 1741294021);
  r.content = {testing::text("Once upon a time, in a")};
  r.stop_reason = StopReason::kMaxTokens;
  r.usage = usage(12, 8, 0, 0);
  EXPECT_TRUE(json_equal(encode(r), fixture("responses/response_incomplete.json")));
}

TEST(ResponsesEncode, ErrorBodyHasOpenAiShape) {
  auto e = base::make_error(base::ErrorCode::kBadRequest, "bad");
  e.param = "input";
  const auto body = openai_responses_codec().error_body(e);
  EXPECT_EQ(body, api::error_body(e));
  EXPECT_EQ(json::parse(body).at("error").at("param"), "input");
}

}  // namespace
}  // namespace shepherd::translate::responses_test
