// OpenAI chat codec tests. encode_request: the body for an OpenAI-compatible provider.
#include <gtest/gtest.h>

#include <string>

#include "translate/openai_chat/test_support.hpp"

namespace shepherd::translate {
namespace {

using namespace openai_chat_test;

TEST(OpenAiChatEncodeRequest, RoundTripsAFullFeaturedRequest) {
  const auto original = fixture("openai/request_full.json");
  const auto once = encode(decode(original), "gpt-4.1");
  EXPECT_TRUE(json_equal(once, original));
  // A second pass changes nothing: decode and encode are inverses on this form.
  EXPECT_EQ(encode(decode(once), "gpt-4.1"), once);
}

TEST(OpenAiChatEncodeRequest, WritesParametersForTheUpstreamModel) {
  const auto body = encode(decode(fixture("openai/request_parameters.json")));
  EXPECT_TRUE(json_equal(body, fixture("openai/upstream_parameters.json")));
}

TEST(OpenAiChatEncodeRequest, WritesToolResultsAsToolMessagesBeforeTheUserText) {
  Request r;
  r.model = "m";
  Part call;
  call.kind = Part::Kind::kToolCall;
  call.id = "toolu_1";
  call.name = "get_weather";
  call.arguments = R"({"city":"Paris"})";
  Part thinking;
  thinking.kind = Part::Kind::kThinking;
  thinking.text = "I should call the tool.";
  thinking.signature = "sig";
  r.messages.push_back(Message{Role::kAssistant, {thinking, call}});
  Part result;
  result.kind = Part::Kind::kToolResult;
  result.id = "toolu_1";
  Part text;
  text.text = "15 degrees";
  Part image;
  image.kind = Part::Kind::kImage;
  image.media_type = "image/png";
  image.data = "iVBORw0KGgo=";
  result.content = {text, image};
  Part followup;
  followup.text = "And tomorrow?";
  r.messages.push_back(Message{Role::kUser, {result, followup}});

  EXPECT_TRUE(json_equal(encode(r), R"({"model":"upstream-model","messages":[
      {"role":"assistant","content":null,"tool_calls":[{"id":"toolu_1","type":"function",
        "function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]},
      {"role":"tool","tool_call_id":"toolu_1","content":"15 degrees"},
      {"role":"user","content":"And tomorrow?"}]})"));
}

TEST(OpenAiChatEncodeRequest, RebuildsDataUrlsAndDropsThinking) {
  const auto images = parse_object(encode(decode(fixture("openai/request_images.json"))));
  const auto& content = images.at("messages").at(0).at("content").as_array();
  ASSERT_EQ(content.size(), 3u);
  EXPECT_EQ(content[2].at("image_url").at("url"),
            "data:image/jpeg;base64,/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAMCAgICAgMCAgI=");

  const auto thinking = encode(decode(fixture("openai/request_thinking.json")));
  EXPECT_TRUE(json_equal(thinking, R"({"model":"upstream-model","messages":[
      {"role":"user","content":"What is 27 * 453?"},
      {"role":"assistant","content":"27 * 453 = 12231"},
      {"role":"assistant","content":"Let me check with the calculator."},
      {"role":"user","content":"Thanks!"}]})"));
}

TEST(OpenAiChatEncodeRequest, MapsThinkingBudgetToReasoningEffort) {
  Request r = decode(fixture("openai/request_text.json"));
  const auto effort = [&](std::optional<std::int64_t> budget) {
    r.thinking_budget = budget;
    const auto body = parse_object(encode(r));
    const auto* e = body.if_contains("reasoning_effort");
    return e ? std::string(e->as_string()) : std::string("(none)");
  };
  EXPECT_EQ(effort(1024), "low");
  EXPECT_EQ(effort(2048), "medium");
  EXPECT_EQ(effort(8191), "medium");
  EXPECT_EQ(effort(8192), "high");
  EXPECT_EQ(effort(std::nullopt), "(none)");
  r.reasoning_effort = "minimal";
  EXPECT_EQ(effort(32000), "minimal");  // an effort the client named wins
}

TEST(OpenAiChatEncodeRequest, StreamsAlwaysAskForUsage) {
  Request r = decode(fixture("openai/request_text.json"));
  r.stream = true;
  r.include_usage = false;
  const auto body = parse_object(encode(r));
  EXPECT_EQ(body.at("stream"), true);
  EXPECT_EQ(body.at("stream_options").at("include_usage"), true);
}

TEST(OpenAiChatEncodeRequest, SendsToolChoiceOnlyWithTools) {
  Request r = decode(fixture("openai/request_text.json"));
  r.tool_choice = ToolChoice{ToolChoice::Mode::kRequired, "", false};
  auto body = parse_object(encode(r));
  EXPECT_FALSE(body.contains("tool_choice"));
  EXPECT_FALSE(body.contains("parallel_tool_calls"));
  r.tools.push_back(Tool{"f", "", nullptr});
  body = parse_object(encode(r));
  EXPECT_EQ(body.at("tool_choice"), "required");
  EXPECT_EQ(body.at("parallel_tool_calls"), false);
  EXPECT_FALSE(body.at("tools").at(0).at("function").as_object().contains("parameters"));
}

TEST(OpenAiChatEncodeRequest, EscapesControlCharactersAndQuotes) {
  Request r;
  Part text;
  text.text = std::string("a \"quoted\" \\ line\nwith\ta\x01 control", 33);
  r.messages.push_back(Message{Role::kUser, {text}});
  const auto body = parse_object(encode(r));
  EXPECT_EQ(body.at("messages").at(0).at("content"), json::value(text.text));
}

}  // namespace
}  // namespace shepherd::translate
