// encode_request: the common form as Anthropic's body.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "translate/anthropic/test_support.hpp"

namespace shepherd::translate::anthropic_test {
namespace {

TEST(AnthropicEncodeRequest, RoundTripsAFullRequest) {
  const auto body = fixture("anthropic/request_full.json");
  const auto r = decode(body);
  EXPECT_TRUE(json_equal(encode(r, "claude-sonnet-4-5"), body));
}

TEST(AnthropicEncodeRequest, MergesConsecutiveRolesAndPutsToolResultsFirst) {
  Request r;
  r.model = "client-alias";
  r.system = "Be brief.";
  r.messages.push_back(message(Role::kUser, {text("What's the weather in Paris and in Rome?")}));
  r.messages.push_back(message(Role::kUser, {text(""), text("Use Celsius.")}));
  r.messages.push_back(message(
      Role::kAssistant,
      {text("Checking both."), tool_call("call_paris", "get_weather", R"({"city": "Paris"})")}));
  r.messages.push_back(
      message(Role::kAssistant, {tool_call("call_rome", "get_weather", R"({"city":"Rome"})")}));
  r.messages.push_back(message(Role::kUser, {text("(the service is slow today)")}));
  r.messages.push_back(message(Role::kUser, {tool_result("call_paris", "18°C")}));
  r.messages.push_back(
      message(Role::kUser, {tool_result("call_rome", "the weather service timed out", true)}));
  r.messages.push_back(message(Role::kAssistant, {text("")}));  // empty: skipped
  r.messages.push_back(message(Role::kUser, {text("Thanks!")}));
  Part unsigned_thinking;
  unsigned_thinking.kind = Part::Kind::kThinking;
  unsigned_thinking.text = "reasoning from another provider";
  r.messages.push_back(message(Role::kAssistant, {unsigned_thinking, text("You're welcome.")}));
  r.messages.push_back(message(Role::kUser, {text("Bye.")}));
  Tool tool;
  tool.name = "get_weather";
  tool.description = "Current weather for a city";
  r.tools.push_back(tool);  // null parameters
  ToolChoice choice;
  choice.mode = ToolChoice::Mode::kRequired;
  choice.parallel_calls = false;
  r.tool_choice = choice;
  r.stop = {"STOP"};
  r.temperature = 0.2;
  r.presence_penalty = 1.0;  // no counterpart: dropped
  r.frequency_penalty = 0.5;
  r.seed = 7;
  r.user = "user-42";
  EXPECT_TRUE(json_equal(encode(r, "claude-haiku-4-5"), fixture("anthropic/encode_merged.json")));
}

TEST(AnthropicEncodeRequest, MapsEffortToBudgetAndRaisesMaxTokens) {
  const struct {
    const char* effort;
    std::int64_t budget;
  } cases[] = {{"low", 2048}, {"medium", 8192}, {"high", 24576}};
  for (const auto& c : cases) {
    auto r = simple_request();
    r.reasoning_effort = c.effort;
    r.temperature = 0.3;  // refused by Anthropic with thinking on: dropped
    r.top_k = 5;
    const auto body = parsed(encode(r, "claude"));
    EXPECT_EQ(body.at("thinking").at("type"), "enabled");
    EXPECT_EQ(body.at("thinking").at("budget_tokens").as_int64(), c.budget) << c.effort;
    EXPECT_EQ(body.at("max_tokens").as_int64(),
              c.budget > kAnthropicDefaultMaxTokens ? c.budget + 1024 : kAnthropicDefaultMaxTokens);
    EXPECT_FALSE(body.contains("temperature"));
    EXPECT_FALSE(body.contains("top_k"));
  }
  auto r = simple_request();
  r.thinking_budget = 500;  // below Anthropic's minimum
  r.max_tokens = 800;
  auto body = parsed(encode(r, "claude"));
  EXPECT_EQ(body.at("thinking").at("budget_tokens").as_int64(), 1024);
  EXPECT_EQ(body.at("max_tokens").as_int64(), 2048);

  r.thinking_budget.reset();
  r.max_tokens = 100;
  r.temperature = 0.3;
  r.top_k = 5;
  body = parsed(encode(r, "claude"));
  EXPECT_FALSE(body.contains("thinking"));
  EXPECT_EQ(body.at("max_tokens").as_int64(), 100);
  EXPECT_DOUBLE_EQ(body.at("temperature").as_double(), 0.3);
  EXPECT_EQ(body.at("top_k").as_int64(), 5);
}

TEST(AnthropicEncodeRequest, LeavesThinkingOffWhenAToolIsForced) {
  auto r = simple_request();
  r.thinking_budget = 4000;
  Tool tool;
  tool.name = "f";
  r.tools.push_back(tool);
  ToolChoice choice;
  choice.mode = ToolChoice::Mode::kTool;
  choice.name = "f";
  r.tool_choice = choice;
  const auto body = parsed(encode(r, "claude"));
  EXPECT_FALSE(body.contains("thinking"));
  EXPECT_TRUE(
      json_equal(boost::json::serialize(body.at("tool_choice")), R"({"type":"tool","name":"f"})"));
}

TEST(AnthropicEncodeRequest, MapsToolChoiceModes) {
  const struct {
    ToolChoice::Mode mode;
    const char* expected;
  } cases[] = {{ToolChoice::Mode::kAuto, R"({"type":"auto"})"},
               {ToolChoice::Mode::kNone, R"({"type":"none"})"},
               {ToolChoice::Mode::kRequired, R"({"type":"any"})"}};
  for (const auto& c : cases) {
    auto r = simple_request();
    Tool tool;
    tool.name = "f";
    tool.parameters = boost::json::parse(R"({"type":"object","properties":{"a":{}}})");
    r.tools.push_back(tool);
    ToolChoice choice;
    choice.mode = c.mode;
    r.tool_choice = choice;
    const auto body = parsed(encode(r, "claude"));
    EXPECT_TRUE(json_equal(boost::json::serialize(body.at("tool_choice")), c.expected));
    EXPECT_TRUE(
        json_equal(boost::json::serialize(body.at("tools")),
                   R"([{"name":"f","input_schema":{"type":"object","properties":{"a":{}}}}])"));
  }
  // Without tools there is nothing to choose: Anthropic refuses a lone tool_choice.
  auto r = simple_request();
  r.tool_choice = ToolChoice{};
  EXPECT_FALSE(parsed(encode(r, "claude")).contains("tool_choice"));
}

TEST(AnthropicEncodeRequest, AsksForJsonInTheSystemPrompt) {
  auto r = simple_request();
  r.system = "You extract data.";
  r.response_format.kind = ResponseFormat::Kind::kJsonSchema;
  r.response_format.name = "person";
  r.response_format.schema = boost::json::parse(R"({"type":"object","properties":{"name":{}}})");
  auto body = parsed(encode(r, "claude"));
  const std::string system(body.at("system").as_string());
  EXPECT_EQ(system.rfind("You extract data.\n\nRespond only with a JSON object", 0), 0u) << system;
  EXPECT_NE(system.find(R"({"type":"object","properties":{"name":{}}})"), std::string::npos);

  r.system.clear();
  r.response_format.kind = ResponseFormat::Kind::kJsonObject;
  body = parsed(encode(r, "claude"));
  EXPECT_EQ(body.at("system"), "Respond only with a JSON object.");
}

TEST(AnthropicEncodeRequest, WritesImagesAndStream) {
  auto r = simple_request();
  Part data_url;
  data_url.kind = Part::Kind::kImage;
  data_url.url = "data:image/png;base64,iVBORw0KGgo=";
  Part web;
  web.kind = Part::Kind::kImage;
  web.url = "https://example.com/cat.jpg";
  r.messages[0].parts = {data_url, web};
  r.stream = true;
  const auto body = parsed(encode(r, "claude"));
  EXPECT_TRUE(json_equal(boost::json::serialize(body.at("messages")),
                         R"([{"role":"user","content":[
          {"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBORw0KGgo="}},
          {"type":"image","source":{"type":"url","url":"https://example.com/cat.jpg"}}]}])"));
  EXPECT_EQ(body.at("stream"), true);
  EXPECT_EQ(body.at("model"), "claude");
}

TEST(AnthropicEncodeRequest, RejectsToolCallArgumentsThatAreNotAnObject) {
  for (const char* arguments : {"[1,2]", "{\"a\":", "42"}) {
    auto r = simple_request();
    r.messages.push_back(message(Role::kAssistant, {tool_call("call_9", "f", arguments)}));
    std::string out;
    auto s = codec().encode_request(r, "claude", out);
    ASSERT_FALSE(s.ok()) << arguments;
    EXPECT_EQ(s.error().code, base::ErrorCode::kBadRequest);
    EXPECT_NE(s.error().message.find("tool call call_9"), std::string::npos);
  }
  // No arguments at all is a call without parameters.
  auto r = simple_request();
  r.messages.push_back(message(Role::kAssistant, {tool_call("call_9", "f", "")}));
  const auto body = parsed(encode(r, "claude"));
  EXPECT_TRUE(json_equal(boost::json::serialize(body.at("messages").at(1).at("content").at(0)),
                         R"({"type":"tool_use","id":"call_9","name":"f","input":{}})"));
}

TEST(AnthropicEncodeRequest, RejectsARequestWithNothingToSend) {
  auto r = simple_request();
  r.messages[0].parts = {text("")};
  std::string out;
  auto s = codec().encode_request(r, "claude", out);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, base::ErrorCode::kBadRequest);
  EXPECT_EQ(s.error().param, "messages");
}

}  // namespace
}  // namespace shepherd::translate::anthropic_test
