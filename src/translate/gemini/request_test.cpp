#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "translate/gemini/test_support.hpp"

namespace shepherd::translate {
namespace {

using namespace gemini_test;

// ---------------------------------------------------------------------------------------------
// Request encoding

TEST(GeminiEncode, TextWithSystemAndGenerationConfig) {
  Request r = user_says("Hello there");
  r.system = "You are a cat. Your name is Neko.";
  r.max_tokens = 800;
  r.temperature = 1.0;
  r.top_p = 0.8;
  r.top_k = 10;
  r.stop = {"Title"};
  r.presence_penalty = 0.5;
  r.frequency_penalty = 0.25;
  r.seed = 42;
  r.user = "user-1234";
  EXPECT_TRUE(json_equal(encode(r), fixture("gemini/request_text_system.json")));
}

TEST(GeminiEncode, OmitsEverythingUnset) {
  EXPECT_TRUE(json_equal(encode(user_says("Hi")),
                         R"({"contents":[{"role":"user","parts":[{"text":"Hi"}]}]})"));
}

TEST(GeminiEncode, MergesConsecutiveTurnsAndDropsThinking) {
  Request r;
  r.messages.push_back(message(Role::kUser, {text("Hello")}));
  r.messages.push_back(message(Role::kUser, {text("Are you there?")}));
  Part thinking = part(Part::Kind::kThinking, "The user greets me.");
  thinking.signature = "EqQBCkgIARABGAIiQL";
  const Part redacted = part(Part::Kind::kRedactedThinking, "EmwKAhgBEgy3va3pzix");
  r.messages.push_back(message(Role::kAssistant, {thinking, redacted}));
  r.messages.push_back(
      message(Role::kAssistant, {text("Great to meet you. What would you like to know?")}));
  r.messages.push_back(
      message(Role::kUser, {text("I have two dogs in my house. How many paws are in my house?")}));
  EXPECT_TRUE(json_equal(encode(r), fixture("gemini/request_multi_turn.json")));
}

TEST(GeminiEncode, ToolsCallsAndResultsNamedById) {
  const std::string signed_id = "call_0_0123456789abcdef_ts_" + std::string(kSignatureUrl);
  const std::string foreign_id = "toolu_01A09q90qw90lq917835lq9";
  Request r = user_says("Dim the lights so the room feels cozy and warm.");
  r.messages.push_back(message(
      Role::kAssistant,
      {text("Setting the lights."),
       tool_call(signed_id, "set_light_values", R"({"brightness":25,"color_temp":"warm"})")}));
  r.messages.push_back(message(
      Role::kUser, {tool_result(signed_id, R"({"brightness": 25, "colorTemperature": "warm"})")}));
  r.messages.push_back(message(Role::kAssistant, {tool_call(foreign_id, "get_power_usage", "")}));
  r.messages.push_back(message(Role::kUser, {tool_result(foreign_id, "12 W")}));
  r.messages.push_back(message(Role::kUser, {text("Thanks!")}));
  r.tools = {light_tool(), Tool{"get_power_usage", "", json::value()}};
  r.tool_choice = ToolChoice{};
  EXPECT_TRUE(json_equal(encode(r), fixture("gemini/request_tools.json")));
}

TEST(GeminiEncode, ToolChoiceModes) {
  Request r = user_says("Dim the lights.");
  r.tools = {light_tool()};
  const auto config = [&](ToolChoice::Mode mode, std::string name = {}) {
    ToolChoice c;
    c.mode = mode;
    c.name = std::move(name);
    r.tool_choice = c;
    const json::value body = json::parse(encode(r));
    return json::serialize(body.at("toolConfig"));
  };
  EXPECT_TRUE(
      json_equal(config(ToolChoice::Mode::kAuto), R"({"functionCallingConfig":{"mode":"AUTO"}})"));
  EXPECT_TRUE(
      json_equal(config(ToolChoice::Mode::kNone), R"({"functionCallingConfig":{"mode":"NONE"}})"));
  EXPECT_TRUE(json_equal(config(ToolChoice::Mode::kRequired),
                         R"({"functionCallingConfig":{"mode":"ANY"}})"));
  EXPECT_TRUE(json_equal(
      config(ToolChoice::Mode::kTool, "set_light_values"),
      R"({"functionCallingConfig":{"mode":"ANY","allowedFunctionNames":["set_light_values"]}})"));

  r.tool_choice.reset();
  EXPECT_FALSE(json::parse(encode(r)).as_object().contains("toolConfig"));
}

TEST(GeminiEncode, ToolResultErrorsAndPlainText) {
  Request r = user_says("Turn on the lights.");
  r.messages.push_back(message(Role::kAssistant, {tool_call("call_1", "set_light_values", "{}"),
                                                  tool_call("call_2", "get_power_usage", "{}")}));
  r.messages.push_back(message(Role::kUser, {tool_result("call_1", "bulb unreachable", true),
                                             tool_result("call_2", "[1, 2]")}));
  const json::value body = json::parse(encode(r));
  const auto& parts = body.at("contents").at(2).at("parts");
  EXPECT_TRUE(json_equal(json::serialize(parts),
                         R"([{"functionResponse":{"id":"call_1","name":"set_light_values",
                               "response":{"error":"bulb unreachable"}}},
                             {"functionResponse":{"id":"call_2","name":"get_power_usage",
                               "response":{"result":"[1, 2]"}}}])"));
}

TEST(GeminiEncode, ToolResultWithoutItsCallIsRejected) {
  Request r = user_says("Turn on the lights.");
  r.messages.push_back(message(Role::kUser, {tool_result("call_9", "done")}));
  const base::Error e = encode_error(r);
  EXPECT_EQ(e.code, base::ErrorCode::kBadRequest);
  EXPECT_EQ(e.param, "messages[1].content[0]");
  EXPECT_NE(e.message.find("call_9"), std::string::npos);
}

TEST(GeminiEncode, ToolCallArgumentsMustBeAnObject) {
  Request r = user_says("Turn on the lights.");
  r.messages.push_back(message(Role::kAssistant, {tool_call("call_1", "f", "[1]")}));
  const base::Error e = encode_error(r);
  EXPECT_EQ(e.code, base::ErrorCode::kBadRequest);
  EXPECT_EQ(e.param, "messages[1].content[0].arguments");
}

TEST(GeminiEncode, JsonSchemaAndJsonObject) {
  Request r =
      user_says("List a few popular cookie recipes, and include the amounts of ingredients.");
  r.response_format.kind = ResponseFormat::Kind::kJsonSchema;
  r.response_format.name = "recipes";
  r.response_format.strict = true;
  r.response_format.schema = json::parse(R"({
    "type": "array",
    "items": {
      "type": "object",
      "properties": {
        "recipeName": {"type": "string"},
        "ingredients": {"type": "array", "items": {"type": "string"}}
      },
      "required": ["recipeName", "ingredients"],
      "additionalProperties": false
    }
  })");
  EXPECT_TRUE(json_equal(encode(r), fixture("gemini/request_json_schema.json")));

  r.response_format = ResponseFormat{};
  r.response_format.kind = ResponseFormat::Kind::kJsonObject;
  const json::value body = json::parse(encode(r));
  EXPECT_TRUE(json_equal(json::serialize(body.at("generationConfig")),
                         R"({"responseMimeType":"application/json"})"));
}

TEST(GeminiEncode, ThinkingBudget) {
  Request r = user_says("Provide a list of 3 famous physicists and their key contributions");
  r.messages.push_back(message(
      Role::kAssistant,
      {part(Part::Kind::kThinking, "Pick the best known."), text("Einstein, Newton, Curie.")}));
  r.messages.push_back(message(Role::kUser, {text("Why those three?")}));
  r.max_tokens = 4096;
  r.thinking_budget = 1024;
  EXPECT_TRUE(json_equal(encode(r), fixture("gemini/request_thinking.json")));
}

TEST(GeminiEncode, ReasoningEffortBecomesABudget) {
  for (const auto& [effort, budget] : std::vector<std::pair<std::string, std::int64_t>>{
           {"low", 1024}, {"medium", 8192}, {"high", 24576}}) {
    Request r = user_says("Think.");
    r.reasoning_effort = effort;
    const json::value body = json::parse(encode(r));
    EXPECT_EQ(body.at("generationConfig").at("thinkingConfig").at("thinkingBudget").as_int64(),
              budget)
        << effort;
    EXPECT_TRUE(body.at("generationConfig").at("thinkingConfig").at("includeThoughts").as_bool());
  }
}

TEST(GeminiEncode, InlineImages) {
  Request r = user_says("Tell me about this instrument");
  r.messages[0].parts.push_back(image("image/jpeg", "/9j/4AAQSkZJRgABAQ=="));
  r.messages[0].parts.push_back(image("", "data:image/png;base64,iVBORw0KGgo="));
  EXPECT_TRUE(json_equal(encode(r), fixture("gemini/request_image.json")));
}

TEST(GeminiEncode, ImageUrlIsRejected) {
  Request r = user_says("Tell me about this instrument");
  r.messages[0].parts.push_back(image("", "https://example.com/instrument.jpg"));
  const base::Error e = encode_error(r);
  EXPECT_EQ(e.code, base::ErrorCode::kBadRequest);
  EXPECT_EQ(e.param, "messages[0].content[1]");
  EXPECT_NE(e.message.find("send the image as a data URL"), std::string::npos);
}

}  // namespace
}  // namespace shepherd::translate
