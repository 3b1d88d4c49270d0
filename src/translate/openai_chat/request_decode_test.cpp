// OpenAI chat codec tests. decode_request: a client's body read into the common form, and the
// errors that name the field.
#include <gtest/gtest.h>

#include <string>

#include "translate/openai_chat/test_support.hpp"

namespace shepherd::translate {
namespace {

using namespace openai_chat_test;

TEST(OpenAiChatDecodeRequest, ReadsPlainText) {
  const auto r = decode(fixture("openai/request_text.json"));
  EXPECT_EQ(r.model, "gpt-4o");
  ASSERT_EQ(r.messages.size(), 1u);
  EXPECT_EQ(r.messages[0].role, Role::kUser);
  ASSERT_EQ(r.messages[0].parts.size(), 1u);
  EXPECT_EQ(r.messages[0].parts[0].kind, Part::Kind::kText);
  EXPECT_EQ(r.messages[0].parts[0].text, "Hello!");
  EXPECT_FALSE(r.stream);
  EXPECT_FALSE(r.max_tokens);
  EXPECT_FALSE(r.tool_choice);
}

TEST(OpenAiChatDecodeRequest, JoinsSystemAndDeveloperMessages) {
  const auto r = decode(fixture("openai/request_system_developer.json"));
  EXPECT_EQ(r.system, "You are a helpful assistant.\n\nAnswer in French.\n\nKeep it short.");
  ASSERT_EQ(r.messages.size(), 1u);
  EXPECT_EQ(r.messages[0].parts[0].text, "Hello!");
}

TEST(OpenAiChatDecodeRequest, KeepsTurnsInOrder) {
  const auto r = decode(fixture("openai/request_multi_turn.json"));
  EXPECT_EQ(r.system, "You are a helpful assistant.");
  ASSERT_EQ(r.messages.size(), 3u);
  EXPECT_EQ(r.messages[0].role, Role::kUser);
  EXPECT_EQ(r.messages[1].role, Role::kAssistant);
  EXPECT_EQ(r.messages[1].parts[0].text, "The Los Angeles Dodgers won the World Series in 2020.");
  EXPECT_EQ(r.messages[2].role, Role::kUser);
  EXPECT_EQ(r.messages[2].parts[0].text, "Where was it played?");
}

TEST(OpenAiChatDecodeRequest, ReadsToolsCallsAndResults) {
  const auto r = decode(fixture("openai/request_tools.json"));
  ASSERT_EQ(r.tools.size(), 1u);
  EXPECT_EQ(r.tools[0].name, "get_weather");
  EXPECT_EQ(r.tools[0].description, "Get current temperature for a given location.");
  ASSERT_TRUE(r.tools[0].parameters.is_object());
  EXPECT_TRUE(r.tools[0].parameters.as_object().contains("required"));
  ASSERT_TRUE(r.tool_choice);
  EXPECT_EQ(r.tool_choice->mode, ToolChoice::Mode::kTool);
  EXPECT_EQ(r.tool_choice->name, "get_weather");
  EXPECT_FALSE(r.tool_choice->parallel_calls);

  ASSERT_EQ(r.messages.size(), 4u);
  const auto& calls = r.messages[1].parts;
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[0].kind, Part::Kind::kToolCall);
  EXPECT_EQ(calls[0].id, "call_12345xyz");
  EXPECT_EQ(calls[0].name, "get_weather");
  EXPECT_EQ(calls[0].arguments, R"({"location":"Paris, France"})");
  EXPECT_EQ(calls[1].id, "call_67890abc");

  for (const auto& [i, id, text] : {std::tuple{2, "call_12345xyz", "15°C, partly cloudy"},
                                    std::tuple{3, "call_67890abc", "18°C, rain"}}) {
    const auto& m = r.messages[static_cast<std::size_t>(i)];
    EXPECT_EQ(m.role, Role::kUser);
    ASSERT_EQ(m.parts.size(), 1u);
    EXPECT_EQ(m.parts[0].kind, Part::Kind::kToolResult);
    EXPECT_EQ(m.parts[0].id, id);
    ASSERT_EQ(m.parts[0].content.size(), 1u);
    EXPECT_EQ(m.parts[0].content[0].text, text);
  }
}

TEST(OpenAiChatDecodeRequest, ReadsImageUrlsAndBase64DataUrls) {
  const auto r = decode(fixture("openai/request_images.json"));
  ASSERT_EQ(r.messages.size(), 1u);
  const auto& parts = r.messages[0].parts;
  ASSERT_EQ(parts.size(), 3u);
  EXPECT_EQ(parts[1].kind, Part::Kind::kImage);
  EXPECT_EQ(parts[1].url.substr(0, 30), "https://upload.wikimedia.org/w");
  EXPECT_TRUE(parts[1].data.empty());
  EXPECT_EQ(parts[2].kind, Part::Kind::kImage);
  EXPECT_TRUE(parts[2].url.empty());
  EXPECT_EQ(parts[2].media_type, "image/jpeg");
  EXPECT_EQ(parts[2].data, "/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAMCAgICAgMCAgI=");
  EXPECT_EQ(r.max_tokens, 300);
}

TEST(OpenAiChatDecodeRequest, ReadsParametersAndJsonSchema) {
  const auto r = decode(fixture("openai/request_parameters.json"));
  EXPECT_EQ(r.max_tokens, 1024);  // the larger of max_tokens and max_completion_tokens
  EXPECT_EQ(r.temperature, 0.2);
  EXPECT_EQ(r.top_p, 0.9);
  EXPECT_EQ(r.top_k, 40);
  EXPECT_EQ(r.repetition_penalty, 1.1);  // vLLM's extension
  EXPECT_EQ(r.presence_penalty, 0.5);
  EXPECT_EQ(r.frequency_penalty, -0.5);
  EXPECT_EQ(r.seed, 42);
  EXPECT_EQ(r.stop, std::vector<std::string>{"END"});
  EXPECT_EQ(r.response_format.kind, ResponseFormat::Kind::kJsonSchema);
  EXPECT_EQ(r.response_format.name, "calendar_event");
  EXPECT_TRUE(r.response_format.strict);
  ASSERT_TRUE(r.response_format.schema.is_object());
  EXPECT_TRUE(r.response_format.schema.as_object().contains("properties"));
  EXPECT_EQ(r.reasoning_effort, "medium");
  EXPECT_TRUE(r.stream);
  EXPECT_TRUE(r.include_usage);
  EXPECT_EQ(r.user, "user-1234");
}

TEST(OpenAiChatDecodeRequest, ReadsThinkingBlocksAndReasoningContent) {
  const auto r = decode(fixture("openai/request_thinking.json"));
  ASSERT_EQ(r.messages.size(), 4u);
  // thinking_blocks replace reasoning_content (the same text, unsigned), and come before text.
  const auto& signed_turn = r.messages[1].parts;
  ASSERT_EQ(signed_turn.size(), 3u);
  EXPECT_EQ(signed_turn[0].kind, Part::Kind::kThinking);
  EXPECT_EQ(signed_turn[0].text, "27 * 453 = 27 * 400 + 27 * 53 = 10800 + 1431 = 12231");
  EXPECT_EQ(signed_turn[0].signature, "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds");
  EXPECT_EQ(signed_turn[1].kind, Part::Kind::kRedactedThinking);
  EXPECT_EQ(signed_turn[1].text,
            "EmwKAhgBEgy3va3pzix/LafPsn4aDFIT2Xlxh0L5L8rLVyIwxtE3rAFBa8cr3qpP");
  EXPECT_EQ(signed_turn[2].kind, Part::Kind::kText);

  const auto& unsigned_turn = r.messages[2].parts;
  ASSERT_EQ(unsigned_turn.size(), 2u);
  EXPECT_EQ(unsigned_turn[0].kind, Part::Kind::kThinking);
  EXPECT_EQ(unsigned_turn[0].text, "The user wants a check.");
  EXPECT_TRUE(unsigned_turn[0].signature.empty());
  EXPECT_EQ(unsigned_turn[1].text, "Let me check with the calculator.");
}

TEST(OpenAiChatDecodeRequest, ReadsLegacyFunctionMessages) {
  const auto r = decode(R"({"model":"m","messages":[
    {"role":"assistant","content":null,"function_call":{"name":"lookup","arguments":"{\"q\":1}"}},
    {"role":"function","name":"lookup","content":"found"}],
    "functions":[{"name":"lookup","parameters":{"type":"object"}}],
    "function_call":{"name":"lookup"}})");
  ASSERT_EQ(r.messages.size(), 2u);
  EXPECT_EQ(r.messages[0].parts[0].kind, Part::Kind::kToolCall);
  EXPECT_EQ(r.messages[0].parts[0].id, "lookup");
  EXPECT_EQ(r.messages[1].parts[0].kind, Part::Kind::kToolResult);
  EXPECT_EQ(r.messages[1].parts[0].id, "lookup");
  ASSERT_EQ(r.tools.size(), 1u);
  ASSERT_TRUE(r.tool_choice);
  EXPECT_EQ(r.tool_choice->mode, ToolChoice::Mode::kTool);
}

TEST(OpenAiChatDecodeRequest, RejectsInvalidRequestsNamingTheField) {
  struct Case {
    std::string_view body;
    std::string_view param;
  };
  const Case cases[] = {
      {R"({"messages":[{"role":"user","content":"hi"}]})", "model"},
      {R"({"model":"","messages":[{"role":"user","content":"hi"}]})", "model"},
      {R"({"model":7,"messages":[{"role":"user","content":"hi"}]})", "model"},
      {R"({"model":"m"})", "messages"},
      {R"({"model":"m","messages":[]})", "messages"},
      {R"({"model":"m","messages":{"role":"user"}})", "messages"},
      {R"({"model":"m","messages":["hi"]})", "messages[0]"},
      {R"({"model":"m","messages":[{"role":"user","content":"a"},{"role":1}]})",
       "messages[1].role"},
      {R"({"model":"m","messages":[{"role":"robot","content":"a"}]})", "messages[0].role"},
      {R"({"model":"m","messages":[{"role":"user"}]})", "messages[0].content"},
      {R"({"model":"m","messages":[{"role":"user","content":[{"type":"input_audio"}]}]})",
       "messages[0].content[0].type"},
      {R"({"model":"m","messages":[{"role":"system","content":[{"type":"image_url"}]}]})",
       "messages[0].content[0]"},
      {R"({"model":"m","messages":[{"role":"tool","content":"x"}]})", "messages[0].tool_call_id"},
      {R"({"model":"m","messages":[{"role":"assistant","tool_calls":[{"id":"c","function":{}}]}]})",
       "messages[0].tool_calls[0].function.name"},
      {R"({"model":"m","messages":[{"role":"user","content":"a"}],"stream":"yes"})", "stream"},
      {R"({"model":"m","messages":[{"role":"user","content":"a"}],"stream_options":3})",
       "stream_options"},
      {R"({"model":"m","messages":[{"role":"user","content":"a"}],
          "stream_options":{"include_usage":"yes"}})",
       "stream_options.include_usage"},
      {R"({"model":"m","messages":[{"role":"user","content":"a"}],"n":2})", "n"},
      {R"({"model":"m","messages":[{"role":"user","content":"a"}],
          "tools":[{"type":"web_search_preview"}]})",
       "tools[0].type"},
      {R"({"model":"m","messages":[{"role":"user","content":"a"}],"tool_choice":"any"})",
       "tool_choice"},
      {R"({"model":"m","messages":[{"role":"user","content":"a"}],"max_tokens":"10"})",
       "max_tokens"},
      {R"({"model":"m","messages":[{"role":"user","content":"a"}],"temperature":"hot"})",
       "temperature"},
      {R"({"model":"m","messages":[{"role":"user","content":"a"}],"stop":["a",1]})", "stop[1]"},
      {R"({"model":"m","messages":[{"role":"user","content":"a"}],
          "response_format":{"type":"json_schema"}})",
       "response_format.json_schema.name"},
  };
  for (const auto& c : cases) {
    const auto e = decode_error(c.body);
    EXPECT_EQ(e.code, ErrorCode::kBadRequest) << c.body;
    EXPECT_EQ(e.param, c.param) << c.body << "\n  message: " << e.message;
    EXPECT_FALSE(e.message.empty());
  }
}

TEST(OpenAiChatDecodeRequest, RejectsNGreaterThanOneWithItsReason) {
  const auto e = decode_error(R"({"model":"m","messages":[{"role":"user","content":"a"}],"n":2})");
  EXPECT_EQ(e.param, "n");
  EXPECT_EQ(e.message, "n > 1 is served only by OpenAI-compatible deployments");
}

TEST(OpenAiChatDecodeRequest, RejectsImageUrlsItCannotCarry) {
  for (const std::string_view url : {"ftp://example.com/a.png", "data:image/png,abc",
                                     "data:;base64,abc", "data:image/png;base64,"}) {
    const auto e =
        decode_error(R"({"model":"m","messages":[{"role":"user","content":[{"type":"image_url",)"
                     R"("image_url":{"url":")" +
                     std::string(url) + "\"}}]}]}");
    EXPECT_EQ(e.param, "messages[0].content[0].image_url.url") << url;
  }
}

TEST(OpenAiChatDecodeRequest, RejectsMalformedAndTooDeepBodies) {
  EXPECT_EQ(decode_error("{\"model\":").param, "");
  EXPECT_NE(decode_error("{\"model\":").message.find("not valid JSON"), std::string::npos);
  EXPECT_NE(decode_error("[1]").message.find("JSON object"), std::string::npos);
  std::string deep = R"({"model":"m","messages":[{"role":"user","content":"a"}],"x":)";
  deep += std::string(100, '[') + std::string(100, ']') + "}";
  EXPECT_NE(decode_error(deep).message.find("nests deeper"), std::string::npos);
}

}  // namespace
}  // namespace shepherd::translate
