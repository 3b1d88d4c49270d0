// The decoding of Responses requests: input items, tools, options and the fields refused.
#include <gtest/gtest.h>

#include <string>

#include "translate/openai_responses.hpp"
#include "translate/openai_responses/test_support.hpp"
#include "translate/testing.hpp"

namespace shepherd::translate::responses_test {
namespace {

using testing::fixture;

TEST(ResponsesDecode, ReadsStringInputAsOneUserMessage) {
  const auto r = decode_ok(fixture("responses/request_string_input.json"));
  EXPECT_EQ(r.model, "gpt-4.1");
  ASSERT_EQ(r.messages.size(), 1u);
  EXPECT_EQ(r.messages[0].role, Role::kUser);
  ASSERT_EQ(r.messages[0].parts.size(), 1u);
  EXPECT_EQ(r.messages[0].parts[0].kind, Part::Kind::kText);
  EXPECT_EQ(r.messages[0].parts[0].text, "Tell me a three sentence bedtime story about a unicorn.");
  EXPECT_TRUE(r.system.empty());
  EXPECT_FALSE(r.stream);
}

TEST(ResponsesDecode, PutsInstructionsBeforeDeveloperMessagesAndKeepsTurns) {
  const auto r = decode_ok(fixture("responses/request_multi_turn.json"));
  EXPECT_EQ(r.system, "You are a helpful assistant.\n\nAnswer in French.");
  ASSERT_EQ(r.messages.size(), 3u);
  EXPECT_EQ(r.messages[0].role, Role::kUser);
  EXPECT_EQ(r.messages[0].parts.at(0).text, "knock knock.");
  EXPECT_EQ(r.messages[1].role, Role::kAssistant);
  EXPECT_EQ(r.messages[1].parts.at(0).text, "Who's there?");
  EXPECT_EQ(r.messages[2].role, Role::kUser);
  EXPECT_EQ(r.messages[2].parts.at(0).text, "Orange.");
  EXPECT_TRUE(r.stream);
  EXPECT_EQ(r.user, "user-1234");
}

TEST(ResponsesDecode, ReadsReasoningFunctionCallsAndOutputsAsOneTurnEach) {
  const auto r = decode_ok(fixture("responses/request_function_calls.json"));
  ASSERT_EQ(r.messages.size(), 3u);

  const auto& assistant = r.messages[1];
  EXPECT_EQ(assistant.role, Role::kAssistant);
  ASSERT_EQ(assistant.parts.size(), 3u);
  EXPECT_EQ(assistant.parts[0].kind, Part::Kind::kThinking);
  EXPECT_EQ(assistant.parts[0].text,
            "The user wants the weather in two cities.\n\nCall get_weather twice.");
  EXPECT_EQ(assistant.parts[0].signature, "gAAAAABo-opaque");
  EXPECT_EQ(assistant.parts[1].kind, Part::Kind::kToolCall);
  EXPECT_EQ(assistant.parts[1].id, "call_paris");
  EXPECT_EQ(assistant.parts[1].name, "get_weather");
  EXPECT_EQ(assistant.parts[1].arguments, R"({"location":"Paris, France"})");
  EXPECT_EQ(assistant.parts[2].id, "call_bogota");

  const auto& results = r.messages[2];
  EXPECT_EQ(results.role, Role::kUser);
  ASSERT_EQ(results.parts.size(), 2u);
  EXPECT_EQ(results.parts[0].kind, Part::Kind::kToolResult);
  EXPECT_EQ(results.parts[0].id, "call_paris");
  ASSERT_EQ(results.parts[0].content.size(), 1u);
  EXPECT_EQ(results.parts[0].content[0].text, "15°C, cloudy");
  EXPECT_EQ(results.parts[1].id, "call_bogota");
  EXPECT_EQ(results.parts[1].content.at(0).text, "18°C, rain");

  ASSERT_EQ(r.tools.size(), 1u);
  EXPECT_EQ(r.tools[0].name, "get_weather");
  EXPECT_EQ(r.tools[0].description, "Get current temperature for a given location.");
  EXPECT_EQ(r.tools[0].parameters.at("required").at(0), "location");
  ASSERT_TRUE(r.tool_choice);
  EXPECT_EQ(r.tool_choice->mode, ToolChoice::Mode::kTool);
  EXPECT_EQ(r.tool_choice->name, "get_weather");
  EXPECT_FALSE(r.tool_choice->parallel_calls);
}

TEST(ResponsesDecode, ReadsImagesFromUrlsAndDataUrls) {
  const auto r = decode_ok(fixture("responses/request_image.json"));
  ASSERT_EQ(r.messages.size(), 1u);
  const auto& parts = r.messages[0].parts;
  ASSERT_EQ(parts.size(), 3u);
  EXPECT_EQ(parts[0].kind, Part::Kind::kText);
  EXPECT_EQ(parts[1].kind, Part::Kind::kImage);
  EXPECT_TRUE(parts[1].url.starts_with("https://upload.wikimedia.org/"));
  EXPECT_EQ(parts[2].kind, Part::Kind::kImage);
  EXPECT_TRUE(parts[2].url.empty());
  EXPECT_EQ(parts[2].media_type, "image/png");
  EXPECT_EQ(parts[2].data, "iVBORw0KGgo=");
}

TEST(ResponsesDecode, ReadsJsonSchemaFormatReasoningEffortAndSampling) {
  const auto r = decode_ok(fixture("responses/request_json_schema.json"));
  EXPECT_EQ(r.response_format.kind, ResponseFormat::Kind::kJsonSchema);
  EXPECT_EQ(r.response_format.name, "person");
  EXPECT_TRUE(r.response_format.strict);
  EXPECT_EQ(r.response_format.schema.at("required").at(1), "age");
  EXPECT_EQ(r.reasoning_effort, "high");
  EXPECT_EQ(r.max_tokens, 1024);
  EXPECT_EQ(r.temperature, 0.2);
  EXPECT_EQ(r.top_p, 0.9);
}

TEST(ResponsesDecode, RefusesPreviousResponseIdAsStateless) {
  const auto e = decode_error(fixture("responses/request_previous_response_id.json"));
  EXPECT_EQ(e.code, base::ErrorCode::kBadRequest);
  EXPECT_EQ(e.param, "previous_response_id");
  EXPECT_NE(e.message.find("previous_response_id"), std::string::npos) << e.message;
  EXPECT_NE(e.message.find("input items"), std::string::npos) << e.message;

  const auto c = decode_error(R"({"model":"m","conversation":"conv_1","input":"hi"})");
  EXPECT_EQ(c.param, "conversation");
  // null is what SDKs send for "not set".
  decode_ok(R"({"model":"m","previous_response_id":null,"store":true,"input":"hi"})");
}

TEST(ResponsesDecode, RefusesBuiltInToolsNamingTheirType) {
  const auto e = decode_error(fixture("responses/request_web_search_tool.json"));
  EXPECT_EQ(e.code, base::ErrorCode::kBadRequest);
  EXPECT_EQ(e.param, "tools[0].type");
  EXPECT_NE(e.message.find("web_search_preview"), std::string::npos) << e.message;
}

TEST(ResponsesDecode, NamesTheOffendingFieldOfBadInput) {
  const std::pair<const char*, const char*> cases[] = {
      {R"({"input":"hi"})", "model"},
      {R"({"model":"m"})", "input"},
      {R"({"model":"m","input":""})", "input"},
      {R"({"model":"m","input":[{"type":"item_reference","id":"msg_1"}]})", "input[0].type"},
      {R"({"model":"m","input":[{"role":"user","content":"a"},{"type":"web_search_call"}]})",
       "input[1].type"},
      {R"({"model":"m","input":[{"role":"tool","content":"a"}]})", "input[0].role"},
      {R"({"model":"m","input":[{"role":"user","content":[{"type":"input_file","file_id":"f"}]}]})",
       "input[0].content[0].type"},
      {R"({"model":"m","input":[{"role":"user","content":[{"type":"input_image","image_url":"ftp://x"}]}]})",
       "input[0].content[0].image_url"},
      {R"({"model":"m","input":[{"role":"user","content":[{"type":"input_image","image_url":"data:image/png,AAA"}]}]})",
       "input[0].content[0].image_url"},
      {R"({"model":"m","input":[{"type":"function_call","name":"f","arguments":"{}"}]})",
       "input[0].call_id"},
      {R"({"model":"m","input":[{"type":"function_call_output","call_id":"c","output":3}]})",
       "input[0].output"},
      {R"({"model":"m","input":"hi","tool_choice":{"type":"file_search"}})", "tool_choice.type"},
      {R"({"model":"m","input":"hi","max_output_tokens":0})", "max_output_tokens"},
      {R"({"model":"m","input":"hi","temperature":"hot"})", "temperature"},
      {R"({"model":"m","input":"hi","text":{"format":{"type":"json_schema","name":"x"}}})",
       "text.format.schema"},
      {R"({"model":"m","input":"hi","reasoning":{"effort":"max"}})", "reasoning.effort"},
  };
  for (const auto& [body, param] : cases) {
    SCOPED_TRACE(body);
    const auto e = decode_error(body);
    EXPECT_EQ(e.code, base::ErrorCode::kBadRequest);
    EXPECT_EQ(e.param, param) << e.message;
    EXPECT_FALSE(e.message.empty());
  }
}

TEST(ResponsesDecode, RefusesMalformedAndTooDeepBodies) {
  EXPECT_EQ(decode_error("{").code, base::ErrorCode::kBadRequest);
  EXPECT_EQ(decode_error("[]").code, base::ErrorCode::kBadRequest);
  auto r = openai_responses_codec().decode_request(R"({"model":"m","input":[[[[1]]]]})", 3);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("deeper"), std::string::npos) << r.error().message;
}

}  // namespace
}  // namespace shepherd::translate::responses_test
