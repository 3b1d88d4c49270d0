#include "translate/openai_responses.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "api/openai.hpp"
#include "translate/testing.hpp"

namespace shepherd::translate {
namespace {

namespace json = boost::json;
using testing::fixture;
using testing::json_equal;

constexpr int kDepth = 64;

Request decode_ok(std::string_view body) {
  auto r = openai_responses_codec().decode_request(body, kDepth);
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
  return r.ok() ? std::move(r).value() : Request{};
}

base::Error decode_error(std::string_view body) {
  auto r = openai_responses_codec().decode_request(body, kDepth);
  EXPECT_FALSE(r.ok());
  return r.ok() ? base::Error{} : std::move(r).error();
}

struct Event {
  std::string type;  // the `event:` field
  std::string data;
};

// Splits SSE text ("event: ...\ndata: ...\n\n" blocks) into events.
std::vector<Event> parse_sse(std::string_view text) {
  std::vector<Event> events;
  Event current;
  while (!text.empty()) {
    const auto eol = text.find('\n');
    const auto line = text.substr(0, eol);
    text.remove_prefix(eol == std::string_view::npos ? text.size() : eol + 1);
    if (line.starts_with("event: ")) {
      current.type = line.substr(7);
    } else if (line.starts_with("data: ")) {
      current.data = line.substr(6);
    } else if (line.empty() && !current.data.empty()) {
      events.push_back(std::move(current));
      current = {};
    }
  }
  return events;
}

// The SSE text inside the HTTP/1.1 chunks the encoder writes ("<hex size>\r\n<payload>\r\n").
std::string dechunk(std::string_view wire) {
  std::string payload;
  while (!wire.empty()) {
    const auto crlf = wire.find("\r\n");
    if (crlf == std::string_view::npos) {
      ADD_FAILURE() << "unterminated chunk size line";
      break;
    }
    const std::size_t size = std::stoul(std::string(wire.substr(0, crlf)), nullptr, 16);
    wire.remove_prefix(crlf + 2);
    if (wire.size() < size + 2 || wire.substr(size, 2) != "\r\n") {
      ADD_FAILURE() << "chunk shorter than its size";
      break;
    }
    payload.append(wire.substr(0, size));
    wire.remove_prefix(size + 2);
  }
  return payload;
}

std::vector<Event> encode_stream(const std::vector<Delta>& deltas, const Request& request = {}) {
  auto encoder = openai_responses_codec().stream_encoder(request, "my-model");
  std::string out;
  for (const auto& d : deltas) encoder->encode(d, out);
  return parse_sse(dechunk(out));
}

// Compares a stream with a golden transcript: same events, in order, with equal JSON data; and
// each event's data names the event's type and counts sequence numbers from 0.
void expect_stream(const std::vector<Event>& actual, std::string_view golden) {
  const auto expected = parse_sse(golden);
  ASSERT_EQ(actual.size(), expected.size());
  for (std::size_t i = 0; i < actual.size(); ++i) {
    SCOPED_TRACE("event " + std::to_string(i) + " " + actual[i].type);
    EXPECT_EQ(actual[i].type, expected[i].type);
    EXPECT_TRUE(json_equal(actual[i].data, expected[i].data));
    const auto data = json::parse(actual[i].data).as_object();
    EXPECT_EQ(data.at("type").as_string(), actual[i].type);
    EXPECT_EQ(data.at("sequence_number").as_int64(), static_cast<std::int64_t>(i));
  }
}

std::vector<std::string> types(const std::vector<Event>& events) {
  std::vector<std::string> t;
  for (const auto& e : events) t.push_back(e.type);
  return t;
}

Delta delta(Delta::Kind kind, std::string text = {}) {
  Delta d;
  d.kind = kind;
  d.text = std::move(text);
  return d;
}

Delta start_delta() {
  Delta d = delta(Delta::Kind::kStart);
  d.id = "resp_67ccd2bed1ec8190";
  d.created = 1741476542;
  return d;
}

Delta finish_delta(StopReason reason) {
  Delta d = delta(Delta::Kind::kFinish);
  d.stop_reason = reason;
  return d;
}

Delta usage_delta(std::int64_t prompt, std::int64_t completion, std::int64_t cached,
                  std::int64_t reasoning) {
  Delta d = delta(Delta::Kind::kUsage);
  d.usage.prompt_tokens = prompt;
  d.usage.completion_tokens = completion;
  d.usage.cache_read_tokens = cached;
  d.usage.reasoning_tokens = reasoning;
  return d;
}

Delta tool_call_delta(int index, std::string id, std::string name) {
  Delta d = delta(Delta::Kind::kToolCall);
  d.index = index;
  d.id = std::move(id);
  d.name = std::move(name);
  return d;
}

Delta arguments_delta(int index, std::string text) {
  Delta d = delta(Delta::Kind::kToolArguments, std::move(text));
  d.index = index;
  return d;
}

Part text_part(std::string text) {
  Part p;
  p.text = std::move(text);
  return p;
}

Part tool_call_part(std::string id, std::string name, std::string arguments) {
  Part p;
  p.kind = Part::Kind::kToolCall;
  p.id = std::move(id);
  p.name = std::move(name);
  p.arguments = std::move(arguments);
  return p;
}

Usage usage(std::int64_t prompt, std::int64_t completion, std::int64_t cached,
            std::int64_t reasoning) {
  Usage u;
  u.prompt_tokens = prompt;
  u.completion_tokens = completion;
  u.cache_read_tokens = cached;
  u.reasoning_tokens = reasoning;
  return u;
}

std::string encode(const Response& response) {
  std::string out;
  openai_responses_codec().encode_response(response, "gpt-4.1", out);
  return out;
}

// --- requests -----------------------------------------------------------------------------------

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

// --- answers
// --------------------------------------------------------------------------------------

TEST(ResponsesEncode, WritesTextAnswerAsOneMessageItem) {
  Response r;
  r.id = "67ccd2bed1ec8190b14f964abc0542670bb6a6b452d3795b";
  r.created = 1741476542;
  r.content = {text_part("In a peaceful grove beneath a silver moon, "),
               text_part("a unicorn named Lumina discovered a hidden pool.")};
  r.usage = usage(36, 87, 0, 0);
  EXPECT_TRUE(json_equal(encode(r), fixture("responses/response_text.json")));
}

TEST(ResponsesEncode, WritesOneFunctionCallItemPerToolCall) {
  Response r;
  r.id = "resp_tools1";
  r.created = 1741294021;
  r.content = {
      text_part("Let me check both cities."),
      tool_call_part("call_12345xyz", "get_weather", R"({"location":"Paris, France"})"),
      tool_call_part("call_67890abc", "get_weather", R"({"location":"Bogotá, Colombia"})")};
  r.stop_reason = StopReason::kToolUse;
  r.usage = usage(291, 23, 128, 0);
  EXPECT_TRUE(json_equal(encode(r), fixture("responses/response_function_calls.json")));
}

TEST(ResponsesEncode, WritesThinkingAsReasoningItemsWithEncryptedContent) {
  Response r;
  r.id = "resp_reason1";
  r.created = 1741294021;
  Part thinking;
  thinking.kind = Part::Kind::kThinking;
  thinking.text = "The user asks for 2+2; that is 4.";
  thinking.signature = "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds";
  Part redacted;
  redacted.kind = Part::Kind::kRedactedThinking;
  redacted.text = "EmwKAhgBEgy3va3pzix";
  r.content = {thinking, redacted, text_part("4")};
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
  Response r;
  r.id = "resp_cut1";
  r.created = 1741294021;
  r.content = {text_part("Once upon a time, in a")};
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

// --- streams
// --------------------------------------------------------------------------------------

TEST(ResponsesStream, StreamsTextAnswerWithItsLifecycleEvents) {
  const auto events = encode_stream(
      {start_delta(), delta(Delta::Kind::kText, "Hi"), delta(Delta::Kind::kText, " there!"),
       finish_delta(StopReason::kEndTurn), usage_delta(37, 11, 0, 0), delta(Delta::Kind::kDone)});
  EXPECT_EQ(types(events), (std::vector<std::string>{
                               "response.created",
                               "response.in_progress",
                               "response.output_item.added",
                               "response.content_part.added",
                               "response.output_text.delta",
                               "response.output_text.delta",
                               "response.output_text.done",
                               "response.content_part.done",
                               "response.output_item.done",
                               "response.completed",
                           }));
  expect_stream(events, fixture("responses/stream_text.sse"));

  const auto completed = json::parse(events.back().data).at("response");
  EXPECT_EQ(completed.at("status"), "completed");
  EXPECT_EQ(completed.at("output").at(0).at("content").at(0).at("text"), "Hi there!");
  EXPECT_EQ(completed.at("usage").at("total_tokens"), 48);
}

TEST(ResponsesStream, StreamsReasoningAndToolCallsWithTheirFullArguments) {
  Delta signature = delta(Delta::Kind::kSignature, "sig-1");
  Request request;
  request.temperature = 0.5;
  request.tool_choice.emplace();
  request.tool_choice->mode = ToolChoice::Mode::kRequired;
  const auto events = encode_stream(
      {start_delta(), delta(Delta::Kind::kThinking, "Need the weather."), signature,
       tool_call_delta(0, "call_1", "get_weather"), arguments_delta(0, R"({"location":)"),
       arguments_delta(0, R"("Paris"})"), tool_call_delta(1, "call_2", "get_time"),
       arguments_delta(1, "{}"), finish_delta(StopReason::kToolUse), usage_delta(80, 40, 64, 12),
       delta(Delta::Kind::kDone)},
      request);
  EXPECT_EQ(types(events), (std::vector<std::string>{
                               "response.created",
                               "response.in_progress",
                               "response.output_item.added",
                               "response.reasoning_summary_part.added",
                               "response.reasoning_summary_text.delta",
                               "response.reasoning_summary_text.done",
                               "response.reasoning_summary_part.done",
                               "response.output_item.done",
                               "response.output_item.added",
                               "response.function_call_arguments.delta",
                               "response.function_call_arguments.delta",
                               "response.function_call_arguments.done",
                               "response.output_item.done",
                               "response.output_item.added",
                               "response.function_call_arguments.delta",
                               "response.function_call_arguments.done",
                               "response.output_item.done",
                               "response.completed",
                           }));
  expect_stream(events, fixture("responses/stream_tool_call.sse"));

  const auto completed = json::parse(events.back().data).at("response");
  const auto& output = completed.at("output").as_array();
  ASSERT_EQ(output.size(), 3u);
  EXPECT_EQ(output[0].at("encrypted_content"), "sig-1");
  EXPECT_EQ(output[1].at("arguments"), R"({"location":"Paris"})");
  EXPECT_EQ(output[2].at("call_id"), "call_2");
  EXPECT_EQ(completed.at("usage").at("input_tokens_details").at("cached_tokens"), 64);
  EXPECT_EQ(completed.at("tool_choice"), "required");
  EXPECT_EQ(completed.at("temperature"), 0.5);
}

TEST(ResponsesStream, EndsCutShortStreamWithResponseIncomplete) {
  const auto events =
      encode_stream({start_delta(), delta(Delta::Kind::kText, "Once upon"),
                     finish_delta(StopReason::kMaxTokens), delta(Delta::Kind::kDone)});
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back().type, "response.incomplete");
  const auto response = json::parse(events.back().data).at("response");
  EXPECT_EQ(response.at("status"), "incomplete");
  EXPECT_EQ(response.at("incomplete_details").at("reason"), "max_output_tokens");
  EXPECT_EQ(response.at("output").at(0).at("status"), "incomplete");
  EXPECT_TRUE(response.at("usage").is_null());
}

TEST(ResponsesStream, EndsWithOneErrorEventAndNothingAfter) {
  Delta failure = delta(Delta::Kind::kError);
  failure.error = base::make_error(base::ErrorCode::kUpstreamUnreachable, "upstream went away");
  const auto events = encode_stream({start_delta(), delta(Delta::Kind::kText, "Hel"), failure,
                                     delta(Delta::Kind::kText, "lo"), delta(Delta::Kind::kDone)});
  ASSERT_EQ(events.size(), 6u);
  EXPECT_EQ(events.back().type, "error");
  EXPECT_TRUE(json_equal(events.back().data, R"({"type":"error","sequence_number":5,
      "code":"upstream_unreachable","message":"upstream went away","param":null})"));
}

}  // namespace
}  // namespace shepherd::translate
