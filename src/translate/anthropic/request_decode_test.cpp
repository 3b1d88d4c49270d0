// decode_request: a client's Anthropic body in the common form.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "translate/anthropic/test_support.hpp"

namespace shepherd::translate::anthropic_test {
namespace {

TEST(AnthropicDecodeRequest, ReadsPlainTextRequest) {
  const auto r = decode(fixture("anthropic/request_text.json"));
  EXPECT_EQ(r.model, "claude-sonnet-4-5");
  EXPECT_EQ(r.max_tokens, 1024);
  ASSERT_EQ(r.messages.size(), 1u);
  EXPECT_EQ(r.messages[0].role, Role::kUser);
  ASSERT_EQ(r.messages[0].parts.size(), 1u);
  EXPECT_EQ(r.messages[0].parts[0].kind, Part::Kind::kText);
  EXPECT_EQ(r.messages[0].parts[0].text, "Hello, world");
  EXPECT_FALSE(r.stream);
  EXPECT_FALSE(r.thinking_budget);
}

TEST(AnthropicDecodeRequest, JoinsSystemBlocksAndIgnoresCacheControl) {
  const auto r = decode(fixture("anthropic/request_system_blocks.json"));
  EXPECT_EQ(r.system,
            "You are an AI assistant tasked with analyzing literary works. Your goal is to provide "
            "insightful commentary on themes, characters, and writing style.\n\n<the entire "
            "contents of 'Pride and Prejudice'>");
}

TEST(AnthropicDecodeRequest, ReadsTurnsSamplingStopSequencesAndMetadata) {
  const auto r = decode(fixture("anthropic/request_multi_turn.json"));
  EXPECT_EQ(r.system, "You are a helpful assistant.");
  ASSERT_EQ(r.messages.size(), 3u);
  EXPECT_EQ(r.messages[1].role, Role::kAssistant);
  EXPECT_EQ(r.messages[1].parts[0].text, "Hi, I'm Claude. How can I help you?");
  EXPECT_EQ(r.messages[2].parts[0].text, "Can you explain LLMs in plain English?");
  EXPECT_EQ(r.stop, (std::vector<std::string>{"\n\nHuman:", "END"}));
  EXPECT_DOUBLE_EQ(r.temperature.value_or(-1), 0.7);
  EXPECT_DOUBLE_EQ(r.top_p.value_or(-1), 0.9);
  EXPECT_EQ(r.top_k, 40);
  EXPECT_EQ(r.user, "13803d75-b4b5-4c3e-b2a2-6f21399b021b");
  EXPECT_TRUE(r.stream);
}

TEST(AnthropicDecodeRequest, ReadsBase64AndUrlImages) {
  const auto r = decode(fixture("anthropic/request_images.json"));
  const auto& parts = r.messages.at(0).parts;
  ASSERT_EQ(parts.size(), 3u);
  EXPECT_EQ(parts[0].kind, Part::Kind::kImage);
  EXPECT_EQ(parts[0].media_type, "image/jpeg");
  EXPECT_EQ(parts[0].data.substr(0, 8), "/9j/4AAQ");
  EXPECT_TRUE(parts[0].url.empty());
  EXPECT_EQ(parts[1].kind, Part::Kind::kImage);
  EXPECT_EQ(
      parts[1].url,
      "https://upload.wikimedia.org/wikipedia/commons/a/a7/Camponotus_flavomarginatus_ant.jpg");
  EXPECT_TRUE(parts[1].data.empty());
  EXPECT_EQ(parts[2].text, "Compare these images.");
}

TEST(AnthropicDecodeRequest, ReadsToolsToolChoiceAndToolTurn) {
  const auto r = decode(fixture("anthropic/request_tools.json"));
  ASSERT_EQ(r.tools.size(), 2u);
  EXPECT_EQ(r.tools[0].name, "get_weather");
  EXPECT_EQ(r.tools[0].description, "Get the current weather in a given location");
  ASSERT_TRUE(r.tools[0].parameters.is_object());
  EXPECT_EQ(r.tools[0].parameters.at("required").at(0), "location");
  EXPECT_EQ(r.tools[1].name, "get_time");  // "type": "custom" is an ordinary tool
  ASSERT_TRUE(r.tool_choice);
  EXPECT_EQ(r.tool_choice->mode, ToolChoice::Mode::kTool);
  EXPECT_EQ(r.tool_choice->name, "get_weather");
  EXPECT_FALSE(r.tool_choice->parallel_calls);

  ASSERT_EQ(r.messages.size(), 3u);
  const auto& calls = r.messages[1].parts;
  ASSERT_EQ(calls.size(), 3u);
  EXPECT_EQ(calls[1].kind, Part::Kind::kToolCall);
  EXPECT_EQ(calls[1].id, "toolu_01A09q90qw90lq917835lq9");
  EXPECT_EQ(calls[1].name, "get_weather");
  EXPECT_TRUE(
      json_equal(calls[1].arguments, R"({"location":"San Francisco, CA","unit":"celsius"})"));
  EXPECT_EQ(calls[1].arguments, R"({"location":"San Francisco, CA","unit":"celsius"})");  // compact
  EXPECT_EQ(calls[2].name, "get_time");

  const auto& results = r.messages[2].parts;
  ASSERT_EQ(results.size(), 3u);
  EXPECT_EQ(results[0].kind, Part::Kind::kToolResult);
  EXPECT_EQ(results[0].id, "toolu_01A09q90qw90lq917835lq9");
  ASSERT_EQ(results[0].content.size(), 1u);
  EXPECT_EQ(results[0].content[0].text, "15 degrees");
  EXPECT_FALSE(results[0].is_error);
  EXPECT_TRUE(results[1].is_error);
  EXPECT_EQ(results[1].content.at(0).text, "Error: time service unavailable");
  EXPECT_EQ(results[2].kind, Part::Kind::kText);
}

TEST(AnthropicDecodeRequest, ReadsThinkingBlocksWithSignatures) {
  const auto r = decode(fixture("anthropic/request_thinking.json"));
  EXPECT_EQ(r.thinking_budget, 10000);
  EXPECT_EQ(r.max_tokens, 16000);
  const auto& parts = r.messages.at(1).parts;
  ASSERT_EQ(parts.size(), 3u);
  EXPECT_EQ(parts[0].kind, Part::Kind::kThinking);
  EXPECT_EQ(parts[0].text.substr(0, 28), "The user wants to know the c");
  EXPECT_EQ(parts[0].signature.substr(0, 12), "BDaL4VrbR2Oj");
  EXPECT_EQ(parts[1].kind, Part::Kind::kRedactedThinking);
  EXPECT_EQ(parts[1].text.substr(0, 12), "EmwKAhgBEgy3");
  EXPECT_EQ(parts[2].kind, Part::Kind::kToolCall);
  EXPECT_EQ(r.messages.at(2).parts.at(0).content.at(0).text, "Current temperature: 88°F");
}

TEST(AnthropicDecodeRequest, AcceptsCountTokensBodyWithoutMaxTokens) {
  const auto r =
      decode(R"({"model":"claude-sonnet-4-5","messages":[{"role":"user","content":"Hi"}]})");
  EXPECT_FALSE(r.max_tokens);
}

TEST(AnthropicDecodeRequest, ReadsThinkingDisabledAndAdaptive) {
  const auto off = decode(R"({"model":"m","max_tokens":10,"thinking":{"type":"disabled"},
                              "messages":[{"role":"user","content":"Hi"}]})");
  EXPECT_FALSE(off.thinking_budget);
  EXPECT_TRUE(off.reasoning_effort.empty());
  const auto adaptive = decode(R"({"model":"m","max_tokens":10,"thinking":{"type":"adaptive"},
                 "output_config":{"effort":"low"},"messages":[{"role":"user","content":"Hi"}]})");
  EXPECT_EQ(adaptive.reasoning_effort, "low");
}

TEST(AnthropicDecodeRequest, RejectsMalformedRequestsNamingTheField) {
  struct Case {
    const char* body;
    const char* param;
  };
  const Case cases[] = {
      {R"([1,2])", ""},
      {R"({"model":"m","messages":[)", ""},
      {R"({"messages":[{"role":"user","content":"Hi"}]})", "model"},
      {R"({"model":"","messages":[{"role":"user","content":"Hi"}]})", "model"},
      {R"({"model":"m","messages":[]})", "messages"},
      {R"({"model":"m","messages":[{"role":"system","content":"Hi"}]})", "messages[0].role"},
      {R"({"model":"m","messages":[{"role":"user","content":5}]})", "messages[0].content"},
      {R"({"model":"m","messages":[{"role":"user","content":"a"},{"role":"user","content":[{"type":"text"}]}]})",
       "messages[1].content[0].text"},
      {R"({"model":"m","messages":[{"role":"user","content":[{"type":"image","source":{"type":"base64","media_type":"image/png"}}]}]})",
       "messages[0].content[0].source.data"},
      {R"({"model":"m","messages":[{"role":"assistant","content":[{"type":"tool_use","id":"t","name":"f","input":[1]}]}]})",
       "messages[0].content[0].input"},
      {R"({"model":"m","messages":[{"role":"user","content":[{"type":"tool_result"}]}]})",
       "messages[0].content[0].tool_use_id"},
      {R"({"model":"m","max_tokens":"many","messages":[{"role":"user","content":"Hi"}]})",
       "max_tokens"},
      {R"({"model":"m","max_tokens":0,"messages":[{"role":"user","content":"Hi"}]})", "max_tokens"},
      {R"({"model":"m","system":[{"type":"image"}],"messages":[{"role":"user","content":"Hi"}]})",
       "system[0].type"},
      {R"({"model":"m","tools":[{"description":"x"}],"messages":[{"role":"user","content":"Hi"}]})",
       "tools[0].name"},
      {R"({"model":"m","tool_choice":{"type":"tool"},"messages":[{"role":"user","content":"Hi"}]})",
       "tool_choice.name"},
      {R"({"model":"m","tool_choice":{"type":"some"},"messages":[{"role":"user","content":"Hi"}]})",
       "tool_choice.type"},
      {R"({"model":"m","stop_sequences":["a",1],"messages":[{"role":"user","content":"Hi"}]})",
       "stop_sequences[1]"},
      {R"({"model":"m","temperature":"hot","messages":[{"role":"user","content":"Hi"}]})",
       "temperature"},
      {R"({"model":"m","top_k":0.5,"messages":[{"role":"user","content":"Hi"}]})", "top_k"},
      {R"({"model":"m","stream":"yes","messages":[{"role":"user","content":"Hi"}]})", "stream"},
      {R"({"model":"m","thinking":{"type":"enabled"},"messages":[{"role":"user","content":"Hi"}]})",
       "thinking.budget_tokens"},
      {R"({"model":"m","metadata":{"user_id":7},"messages":[{"role":"user","content":"Hi"}]})",
       "metadata.user_id"},
  };
  for (const auto& c : cases) {
    auto r = codec().decode_request(c.body, 64);
    ASSERT_FALSE(r.ok()) << c.body;
    EXPECT_EQ(r.error().code, base::ErrorCode::kBadRequest) << c.body;
    EXPECT_EQ(r.error().param, c.param) << c.body << ": " << r.error().message;
    EXPECT_FALSE(r.error().message.empty());
  }
}

TEST(AnthropicDecodeRequest, RejectsBlocksAndToolsNoOtherProviderCanTake) {
  struct Case {
    const char* body;
    const char* param;
    const char* type;
  };
  const Case cases[] = {
      {R"({"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"x"},
          {"type":"document","source":{"type":"text","media_type":"text/plain","data":"x"}}]}]})",
       "messages[0].content[1].type", "document"},
      {R"({"model":"m","messages":[{"role":"user","content":[{"type":"search_result",
          "source":"https://example.com","title":"t","content":[]}]}]})",
       "messages[0].content[0].type", "search_result"},
      {R"({"model":"m","messages":[{"role":"assistant","content":[{"type":"server_tool_use",
          "id":"srvtoolu_1","name":"web_search","input":{"query":"q"}}]}]})",
       "messages[0].content[0].type", "server_tool_use"},
      {R"({"model":"m","messages":[{"role":"user","content":[{"type":"tool_result",
          "tool_use_id":"t","content":[{"type":"document","source":{}}]}]}]})",
       "messages[0].content[0].content[0].type", "document"},
      {R"({"model":"m","messages":[{"role":"user","content":[{"type":"image",
          "source":{"type":"file","file_id":"file_011"}}]}]})",
       "messages[0].content[0].source.type", "file"},
      {R"({"model":"m","tools":[{"type":"web_search_20250305","name":"web_search","max_uses":5}],
          "messages":[{"role":"user","content":"Hi"}]})",
       "tools[0].type", "web_search_20250305"},
  };
  for (const auto& c : cases) {
    auto r = codec().decode_request(c.body, 64);
    ASSERT_FALSE(r.ok()) << c.body;
    EXPECT_EQ(r.error().code, base::ErrorCode::kBadRequest);
    EXPECT_EQ(r.error().param, c.param) << r.error().message;
    EXPECT_NE(r.error().message.find(c.type), std::string::npos) << r.error().message;
    EXPECT_NE(r.error().message.find("cannot be translated"), std::string::npos)
        << r.error().message;
  }
}

TEST(AnthropicDecodeRequest, RejectsNestingDeeperThanTheLimit) {
  auto r = codec().decode_request(
      R"({"model":"m","messages":[{"role":"user","content":"Hi"}],"x":[[[[[[1]]]]]]})", 4);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("deeper than 4"), std::string::npos);
}

}  // namespace
}  // namespace shepherd::translate::anthropic_test
