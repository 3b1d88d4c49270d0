#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <string>

#include "translate/gemini/test_support.hpp"

namespace shepherd::translate {
namespace {

using namespace gemini_test;

// ---------------------------------------------------------------------------------------------
// Call ids and thought signatures

TEST(GeminiIds, SignatureTravelsInTheIdAndComesBack) {
  const Response answer = decode(fixture("gemini/response_function_call.json"));
  ASSERT_EQ(answer.content.size(), 2u);
  const Part& signed_call = answer.content[0];
  const Part& plain_call = answer.content[1];
  EXPECT_TRUE(valid_tool_id(signed_call.id)) << signed_call.id;
  EXPECT_TRUE(valid_tool_id(plain_call.id)) << plain_call.id;
  EXPECT_EQ(signed_call.id.rfind("call_0_", 0), 0u) << signed_call.id;
  EXPECT_EQ(plain_call.id.rfind("call_1_", 0), 0u) << plain_call.id;
  EXPECT_NE(signed_call.id.find("_ts_" + std::string(kSignatureUrl)), std::string::npos);
  EXPECT_EQ(plain_call.id.find("_ts_"), std::string::npos);

  // The client sends the conversation back with the calls' results.
  Request next = user_says("Dim the lights so the room feels cozy and warm.");
  next.messages.push_back(message(Role::kAssistant, answer.content));
  next.messages.push_back(message(
      Role::kUser, {tool_result(signed_call.id, "ok"), tool_result(plain_call.id, "12 W")}));
  const json::value body = json::parse(encode(next));
  const auto& model_parts = body.at("contents").at(1).at("parts");
  EXPECT_EQ(model_parts.at(0).at("thoughtSignature").as_string(), kSignature);
  EXPECT_FALSE(model_parts.at(1).as_object().contains("thoughtSignature"));
  // Ids Shepherd made up are not Gemini's to match.
  EXPECT_FALSE(model_parts.at(0).at("functionCall").as_object().contains("id"));
  const auto& results = body.at("contents").at(2).at("parts");
  EXPECT_EQ(results.at(0).at("functionResponse").at("name").as_string(), "set_light_values");
  EXPECT_EQ(results.at(1).at("functionResponse").at("name").as_string(), "get_power_usage");
  EXPECT_FALSE(results.at(0).at("functionResponse").as_object().contains("id"));
}

TEST(GeminiIds, OwnIdIsKeptAndSentBack) {
  const Response answer = decode(fixture("gemini/response_function_call_own_id.json"));
  ASSERT_EQ(answer.content.size(), 1u);
  const std::string& id = answer.content[0].id;
  EXPECT_EQ(id.rfind("fc-3x9kq2_ts_", 0), 0u) << id;
  EXPECT_TRUE(valid_tool_id(id)) << id;

  Request next = user_says("How much power does the kitchen use?");
  next.messages.push_back(message(Role::kAssistant, answer.content));
  next.messages.push_back(message(Role::kUser, {tool_result(id, "12 W")}));
  const json::value body = json::parse(encode(next));
  const auto& call = body.at("contents").at(1).at("parts").at(0);
  EXPECT_EQ(call.at("functionCall").at("id").as_string(), "fc-3x9kq2");
  EXPECT_EQ(call.at("thoughtSignature").as_string(), "yMnKy8zNzs/Q0dLT1NXW19jZ2tvc3d7f4OHi4+Tl");
  EXPECT_EQ(body.at("contents").at(2).at("parts").at(0).at("functionResponse").at("id").as_string(),
            "fc-3x9kq2");
}

TEST(GeminiIds, DifferentAnswersGetDifferentIds) {
  std::string other = fixture("gemini/response_function_call.json");
  other.replace(other.find("8XqtaKnSMdrVz7IPt8qS4Qc"), 23, "9YrtaKnSMdrVz7IPt8qS4Qd");
  const Response a = decode(fixture("gemini/response_function_call.json"));
  const Response b = decode(other);
  ASSERT_EQ(a.content.size(), 2u);
  ASSERT_EQ(b.content.size(), 2u);
  EXPECT_NE(a.content[1].id, b.content[1].id);

  // Without a responseId the call itself names the id.
  const Response c = decode(R"({"candidates":[{"content":{"role":"model","parts":[
      {"functionCall":{"name":"f","args":{"x":1}}},{"functionCall":{"name":"f","args":{"x":2}}}]},
      "finishReason":"STOP"}]})");
  ASSERT_EQ(c.content.size(), 2u);
  EXPECT_TRUE(valid_tool_id(c.content[0].id));
  EXPECT_NE(c.content[0].id, c.content[1].id);
}

// ---------------------------------------------------------------------------------------------
// Response decoding

TEST(GeminiDecode, Text) {
  const Response r = decode(fixture("gemini/response_text.json"));
  EXPECT_EQ(r.id, "mAitaLmkHPPlz7IPvtfUqQ4");
  EXPECT_EQ(r.model, "gemini-2.0-flash");
  ASSERT_EQ(r.content.size(), 1u);
  EXPECT_EQ(r.content[0].kind, Part::Kind::kText);
  EXPECT_EQ(r.content[0].text,
            "In the heart of a bustling city, there lived a young girl named Lily. She had a "
            "backpack that could talk.");
  EXPECT_EQ(r.stop_reason, StopReason::kEndTurn);
  ASSERT_TRUE(r.usage);
  EXPECT_EQ(counts(*r.usage), (Counts{8, 398, 0, 0, 0}));
}

TEST(GeminiDecode, Thoughts) {
  const Response r = decode(fixture("gemini/response_thoughts.json"));
  ASSERT_EQ(r.content.size(), 2u);
  EXPECT_EQ(r.content[0].kind, Part::Kind::kThinking);
  EXPECT_EQ(r.content[0].text,
            "**Counting the paws**\n\nTwo dogs, four paws each. Eight in total.");
  EXPECT_TRUE(r.content[0].signature.empty());
  EXPECT_EQ(r.content[1].kind, Part::Kind::kText);
  EXPECT_EQ(r.content[1].text, "There are 8 paws in your house.");
  ASSERT_TRUE(r.usage);
  EXPECT_EQ(counts(*r.usage), (Counts{20, 109, 0, 0, 100}));
}

TEST(GeminiDecode, FunctionCalls) {
  const Response r = decode(fixture("gemini/response_function_call.json"));
  EXPECT_EQ(r.stop_reason, StopReason::kToolUse);
  ASSERT_EQ(r.content.size(), 2u);
  EXPECT_EQ(r.content[0].kind, Part::Kind::kToolCall);
  EXPECT_EQ(r.content[0].name, "set_light_values");
  EXPECT_TRUE(json_equal(r.content[0].arguments, R"({"brightness":25,"color_temp":"warm"})"));
  EXPECT_EQ(r.content[0].arguments.find(' '), std::string::npos);  // compact
  EXPECT_EQ(r.content[1].name, "get_power_usage");
  EXPECT_EQ(r.content[1].arguments, "{}");
  ASSERT_TRUE(r.usage);
  EXPECT_EQ(r.usage->completion_tokens, 80);
}

TEST(GeminiDecode, FinishReasons) {
  const Response safety = decode(fixture("gemini/response_safety.json"));
  EXPECT_EQ(safety.stop_reason, StopReason::kContentFilter);
  EXPECT_TRUE(safety.content.empty());

  const Response cut = decode(fixture("gemini/response_max_tokens.json"));
  EXPECT_EQ(cut.stop_reason, StopReason::kMaxTokens);
  ASSERT_EQ(cut.content.size(), 1u);

  const Response blocked = decode(fixture("gemini/response_prompt_blocked.json"));
  EXPECT_EQ(blocked.stop_reason, StopReason::kContentFilter);
  EXPECT_TRUE(blocked.content.empty());
  ASSERT_TRUE(blocked.usage);
  EXPECT_EQ(blocked.usage->prompt_tokens, 9);

  const Response malformed = decode(fixture("gemini/response_malformed_call.json"));
  EXPECT_EQ(malformed.stop_reason, StopReason::kEndTurn);
  EXPECT_TRUE(malformed.content.empty());

  for (const char* reason : {"SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII",
                             "IMAGE_SAFETY", "LANGUAGE", "OTHER"}) {
    const Response r =
        decode(std::string(R"({"candidates":[{"content":{"role":"model","parts":[{"text":"x"}]},)"
                           R"("finishReason":")") +
               reason + R"("}]})");
    EXPECT_EQ(r.stop_reason, StopReason::kContentFilter) << reason;
  }
  const Response stop = decode(R"({"candidates":[{"content":{"parts":[{"text":"x"}]},
                                  "finishReason":"STOP"}]})");
  EXPECT_EQ(stop.stop_reason, StopReason::kEndTurn);
}

TEST(GeminiDecode, UsageWithCachedAndThoughtTokens) {
  const Response r = decode(fixture("gemini/response_cached.json"));
  ASSERT_TRUE(r.usage);
  EXPECT_EQ(counts(*r.usage), (Counts{323383 + 50, 40 + 100, 323379, 0, 100}));
}

TEST(GeminiDecode, ErrorOrMalformedBodyIsUnreadable) {
  for (const std::string& body :
       {fixture("gemini/error.json"), std::string("not json"), std::string("[]"), std::string("{}"),
        std::string(R"({"candidates":[{"content":{"parts":["x"]}}]})"),
        std::string(R"({"candidates":[{"content":{"parts":[{"functionCall":{"args":{}}}]}}]})")}) {
    const auto r = gemini_codec().decode_response(body);
    ASSERT_FALSE(r.ok()) << body;
    EXPECT_EQ(r.error().code, base::ErrorCode::kUpstreamUnreachable) << body;
    EXPECT_TRUE(r.error().retryable);
  }
}

}  // namespace
}  // namespace shepherd::translate
