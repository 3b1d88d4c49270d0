#include "translate/anthropic.hpp"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "translate/testing.hpp"

namespace shepherd::translate {
namespace {

using testing::fixture;
using testing::json_equal;

const Codec& codec() { return anthropic_codec(); }

Request decode(std::string_view body) {
  auto r = codec().decode_request(body, 64);
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
  return r.ok() ? std::move(r).value() : Request{};
}

std::string encode(const Request& r, std::string_view model) {
  std::string out;
  auto s = codec().encode_request(r, model, out);
  EXPECT_TRUE(s.ok()) << (s.ok() ? "" : s.error().message);
  return out;
}

Part text(std::string t) {
  Part p;
  p.text = std::move(t);
  return p;
}

Part tool_call(std::string id, std::string name, std::string arguments) {
  Part p;
  p.kind = Part::Kind::kToolCall;
  p.id = std::move(id);
  p.name = std::move(name);
  p.arguments = std::move(arguments);
  return p;
}

Part tool_result(std::string id, std::string content, bool is_error = false) {
  Part p;
  p.kind = Part::Kind::kToolResult;
  p.id = std::move(id);
  p.content.push_back(text(std::move(content)));
  p.is_error = is_error;
  return p;
}

Message message(Role role, std::vector<Part> parts) {
  Message m;
  m.role = role;
  m.parts = std::move(parts);
  return m;
}

Request simple_request() {
  Request r;
  r.model = "m";
  r.messages.push_back(message(Role::kUser, {text("Hi")}));
  return r;
}

boost::json::object parsed(std::string_view text) {
  return boost::json::parse(boost::json::string_view(text.data(), text.size())).as_object();
}

struct Event {
  std::string name;
  std::string data;
};

// The events of an SSE text ("event: x\ndata: y\n\n" ...).
std::vector<Event> sse_events(std::string_view text) {
  std::vector<Event> events;
  Event current;
  bool any = false;
  while (!text.empty()) {
    const auto eol = text.find('\n');
    std::string_view line = text.substr(0, eol);
    text.remove_prefix(eol == std::string_view::npos ? text.size() : eol + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) {
      if (any) events.push_back(std::move(current));
      current = {};
      any = false;
    } else if (line.substr(0, 7) == "event: ") {
      current.name = std::string(line.substr(7));
      any = true;
    } else if (line.substr(0, 6) == "data: ") {
      if (!current.data.empty()) current.data.push_back('\n');
      current.data.append(line.substr(6));
      any = true;
    }
  }
  if (any) events.push_back(std::move(current));
  return events;
}

// The payload of HTTP/1.1 chunks, checking each chunk's size.
std::string unchunk(std::string_view chunked) {
  std::string out;
  while (!chunked.empty()) {
    const auto eol = chunked.find("\r\n");
    EXPECT_NE(eol, std::string_view::npos) << "chunk size line without CRLF";
    if (eol == std::string_view::npos) break;
    const auto size = std::stoul(std::string(chunked.substr(0, eol)), nullptr, 16);
    chunked.remove_prefix(eol + 2);
    EXPECT_GE(chunked.size(), size + 2);
    if (chunked.size() < size + 2) break;
    out.append(chunked.substr(0, size));
    EXPECT_EQ(chunked.substr(size, 2), "\r\n");
    chunked.remove_prefix(size + 2);
  }
  return out;
}

std::vector<Delta> decode_stream(std::string_view transcript) {
  auto decoder = codec().stream_decoder();
  std::vector<Delta> out;
  for (const auto& e : sse_events(transcript)) {
    auto s = decoder->feed(e.name, e.data, out);
    EXPECT_TRUE(s.ok()) << (s.ok() ? "" : s.error().message);
  }
  decoder->end(out);
  return out;
}

// ---------------------------------------------------------------------------------------------
// decode_request

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

// ---------------------------------------------------------------------------------------------
// encode_request

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

// ---------------------------------------------------------------------------------------------
// decode_response / encode_response

TEST(AnthropicDecodeResponse, ReadsToolUse) {
  auto r = codec().decode_response(fixture("anthropic/response_tool_use.json"));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->id, "msg_01Aq9w938a90dw8q");
  EXPECT_EQ(r->model, "claude-sonnet-4-5");
  EXPECT_EQ(r->stop_reason, StopReason::kToolUse);
  ASSERT_EQ(r->content.size(), 2u);
  EXPECT_EQ(r->content[0].text, "I'll check the current weather in San Francisco for you.");
  EXPECT_EQ(r->content[1].kind, Part::Kind::kToolCall);
  EXPECT_EQ(r->content[1].id, "toolu_01A09q90qw90lq917835lq9");
  EXPECT_EQ(r->content[1].name, "get_weather");
  EXPECT_TRUE(
      json_equal(r->content[1].arguments, R"({"location":"San Francisco, CA","unit":"celsius"})"));
  ASSERT_TRUE(r->usage);
  EXPECT_EQ(r->usage->prompt_tokens, 472);
  EXPECT_EQ(r->usage->completion_tokens, 89);
}

TEST(AnthropicDecodeResponse, ReadsThinkingAndCacheUsage) {
  auto r = codec().decode_response(fixture("anthropic/response_thinking.json"));
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_EQ(r->content.size(), 3u);
  EXPECT_EQ(r->content[0].kind, Part::Kind::kThinking);
  EXPECT_EQ(r->content[0].signature.substr(0, 10), "zbbJhbGciO");
  EXPECT_EQ(r->content[1].kind, Part::Kind::kRedactedThinking);
  EXPECT_EQ(r->content[2].kind, Part::Kind::kText);
  EXPECT_EQ(r->stop_reason, StopReason::kEndTurn);
  ASSERT_TRUE(r->usage);
  EXPECT_EQ(r->usage->prompt_tokens, 21 + 188086 + 1500);
  EXPECT_EQ(r->usage->cache_creation_tokens, 188086);
  EXPECT_EQ(r->usage->cache_read_tokens, 1500);
  EXPECT_EQ(r->usage->completion_tokens, 393);
}

TEST(AnthropicDecodeResponse, MapsStopReasons) {
  const struct {
    const char* reason;
    StopReason expected;
  } cases[] = {
      {"end_turn", StopReason::kEndTurn},           {"max_tokens", StopReason::kMaxTokens},
      {"stop_sequence", StopReason::kStopSequence}, {"tool_use", StopReason::kToolUse},
      {"refusal", StopReason::kContentFilter},      {"pause_turn", StopReason::kPauseTurn}};
  for (const auto& c : cases) {
    const std::string body = std::string(R"({"id":"msg_1","type":"message","content":[],)") +
                             R"("stop_reason":")" + c.reason + R"(","stop_sequence":"###"})";
    auto r = codec().decode_response(body);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->stop_reason, c.expected) << c.reason;
    EXPECT_EQ(r->stop_sequence, "###");
  }
}

TEST(AnthropicDecodeResponse, ErrorBodiesAndMalformedAnswersAreRetryable) {
  for (const std::string& body :
       {fixture("anthropic/error_overloaded.json"), std::string("not json"), std::string("[]"),
        std::string(R"({"id":"msg_1","content":"text"})"),
        std::string(R"({"id":"msg_1","content":[{"type":"text"}]})")}) {
    auto r = codec().decode_response(body);
    ASSERT_FALSE(r.ok()) << body;
    EXPECT_EQ(r.error().code, base::ErrorCode::kUpstreamUnreachable);
    EXPECT_TRUE(r.error().retryable);
    EXPECT_EQ(r.error().message.rfind("the upstream answer could not be read: ", 0), 0u);
  }
}

TEST(AnthropicEncodeResponse, RoundTripsThinkingAndCacheUsage) {
  const auto body = fixture("anthropic/response_thinking.json");
  auto r = codec().decode_response(body);
  ASSERT_TRUE(r.ok());
  std::string out;
  codec().encode_response(*r, "claude-sonnet-4-5", out);
  EXPECT_TRUE(json_equal(out, body));
}

TEST(AnthropicEncodeResponse, WritesIdModelToolUseAndStopSequence) {
  Response r;
  r.id = "chatcmpl-123";
  r.model = "gpt-4o";
  r.content.push_back(text("Done"));
  r.content.push_back(tool_call("call_1", "f", R"({"a":1})"));
  r.content.push_back(tool_call("call_2", "g", "not json"));
  r.stop_reason = StopReason::kStopSequence;
  r.stop_sequence = "###";
  Usage u;
  u.prompt_tokens = 100;
  u.cache_read_tokens = 60;
  u.completion_tokens = 7;
  r.usage = u;
  std::string out;
  codec().encode_response(r, "my-alias", out);
  EXPECT_TRUE(json_equal(out, R"({"id":"msg_chatcmpl-123","type":"message","role":"assistant",
      "model":"my-alias","content":[{"type":"text","text":"Done"},
      {"type":"tool_use","id":"call_1","name":"f","input":{"a":1}},
      {"type":"tool_use","id":"call_2","name":"g","input":{}}],
      "stop_reason":"stop_sequence","stop_sequence":"###",
      "usage":{"input_tokens":40,"output_tokens":7,"cache_creation_input_tokens":0,
               "cache_read_input_tokens":60}})"));

  r.id = "msg_abc";
  r.stop_reason = StopReason::kContentFilter;
  out.clear();
  codec().encode_response(r, "my-alias", out);
  const auto body = parsed(out);
  EXPECT_EQ(body.at("id"), "msg_abc");
  EXPECT_EQ(body.at("stop_reason"), "refusal");
  EXPECT_TRUE(body.at("stop_sequence").is_null());
}

// ---------------------------------------------------------------------------------------------
// Streams

TEST(AnthropicStreamDecoder, DecodesTheReferenceToolUseTranscript) {
  const auto deltas = decode_stream(fixture("anthropic/stream_tool_use.sse"));
  ASSERT_GE(deltas.size(), 4u);
  EXPECT_EQ(deltas.front().kind, Delta::Kind::kStart);
  EXPECT_EQ(deltas.front().id, "msg_014p7gG3wDgGV9EUtLvnow3U");
  EXPECT_EQ(deltas.front().model, "claude-sonnet-4-5");

  std::string text, arguments;
  std::vector<Delta::Kind> kinds;
  for (const auto& d : deltas) {
    if (kinds.empty() || kinds.back() != d.kind) kinds.push_back(d.kind);
    if (d.kind == Delta::Kind::kText) text += d.text;
    if (d.kind == Delta::Kind::kToolArguments) {
      EXPECT_EQ(d.index, 0);
      EXPECT_FALSE(d.text.empty());  // the empty first piece is not passed on
      arguments += d.text;
    }
    if (d.kind == Delta::Kind::kToolCall) {
      EXPECT_EQ(d.index, 0);
      EXPECT_EQ(d.id, "toolu_01T1x1fJ34qAmk2tNTrN7Up6");
      EXPECT_EQ(d.name, "get_weather");
    }
    if (d.kind == Delta::Kind::kFinish) {
      EXPECT_EQ(d.stop_reason, StopReason::kToolUse);
    }
    if (d.kind == Delta::Kind::kUsage) {
      EXPECT_EQ(d.usage.prompt_tokens, 472);
      EXPECT_EQ(d.usage.completion_tokens, 89);  // message_delta's cumulative count wins
    }
  }
  EXPECT_EQ(kinds, (std::vector<Delta::Kind>{Delta::Kind::kStart, Delta::Kind::kText,
                                             Delta::Kind::kToolCall, Delta::Kind::kToolArguments,
                                             Delta::Kind::kFinish, Delta::Kind::kUsage,
                                             Delta::Kind::kDone}));
  EXPECT_EQ(text, "Okay, let's check the weather for San Francisco, CA:");
  EXPECT_TRUE(json_equal(arguments, R"({"location":"San Francisco, CA","unit":"fahrenheit"})"));
}

TEST(AnthropicStreamDecoder, DecodesThinkingWithSignatureAndNoUsage) {
  const auto deltas = decode_stream(fixture("anthropic/stream_thinking.sse"));
  std::vector<Delta::Kind> kinds;
  for (const auto& d : deltas) kinds.push_back(d.kind);
  EXPECT_EQ(kinds, (std::vector<Delta::Kind>{Delta::Kind::kStart, Delta::Kind::kThinking,
                                             Delta::Kind::kThinking, Delta::Kind::kSignature,
                                             Delta::Kind::kText, Delta::Kind::kFinish,
                                             Delta::Kind::kDone}));
  ASSERT_EQ(deltas.size(), 7u);
  EXPECT_EQ(deltas[3].text, "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds");
  EXPECT_EQ(deltas[4].text, "The greatest common divisor (GCD) of 1071 and 462 is **21**.");
}

TEST(AnthropicStreamDecoder, AccumulatesUsageFromMessageDelta) {
  auto decoder = codec().stream_decoder();
  std::vector<Delta> out;
  ASSERT_TRUE(decoder
                  ->feed("message_start",
                         R"({"type":"message_start","message":{"id":"msg_1","model":"c",
                               "usage":{"input_tokens":10,"cache_read_input_tokens":5,
                               "output_tokens":1}}})",
                         out)
                  .ok());
  ASSERT_TRUE(decoder
                  ->feed("content_block_start",
                         R"({"type":"content_block_start","index":0,
                               "content_block":{"type":"redacted_thinking","data":"EmwK"}})",
                         out)
                  .ok());
  ASSERT_TRUE(decoder
                  ->feed("message_delta",
                         R"({"type":"message_delta","delta":{"stop_reason":"stop_sequence",
                               "stop_sequence":"END"},"usage":{"input_tokens":12,
                               "cache_creation_input_tokens":3,"cache_read_input_tokens":5,
                               "output_tokens":30}})",
                         out)
                  .ok());
  ASSERT_TRUE(decoder->feed("message_stop", R"({"type":"message_stop"})", out).ok());
  ASSERT_EQ(out.size(), 5u);
  EXPECT_EQ(out[1].kind, Delta::Kind::kRedactedThinking);
  EXPECT_EQ(out[1].text, "EmwK");
  EXPECT_EQ(out[2].kind, Delta::Kind::kFinish);
  EXPECT_EQ(out[2].stop_reason, StopReason::kStopSequence);
  EXPECT_EQ(out[2].text, "END");
  EXPECT_EQ(out[3].kind, Delta::Kind::kUsage);
  EXPECT_EQ(out[3].usage.prompt_tokens, 12 + 3 + 5);
  EXPECT_EQ(out[3].usage.cache_creation_tokens, 3);
  EXPECT_EQ(out[3].usage.cache_read_tokens, 5);
  EXPECT_EQ(out[3].usage.completion_tokens, 30);
  EXPECT_EQ(out[4].kind, Delta::Kind::kDone);
}

TEST(AnthropicStreamDecoder, TurnsErrorEventsIntoUpstreamStatus) {
  const auto deltas = decode_stream(fixture("anthropic/stream_error.sse"));
  ASSERT_EQ(deltas.size(), 2u);
  EXPECT_EQ(deltas[1].kind, Delta::Kind::kError);
  EXPECT_EQ(deltas[1].error.code, base::ErrorCode::kUpstreamStatus);
  EXPECT_EQ(deltas[1].error.status, 529);
  EXPECT_EQ(deltas[1].error.message, "Overloaded");
  EXPECT_TRUE(deltas[1].error.retryable);

  const struct {
    const char* type;
    int status;
  } cases[] = {{"api_error", 500},
               {"rate_limit_error", 429},
               {"invalid_request_error", 400},
               {"request_too_large", 413},
               {"something_new", 500}};
  for (const auto& c : cases) {
    auto decoder = codec().stream_decoder();
    std::vector<Delta> out;
    const std::string data =
        std::string(R"({"type":"error","error":{"type":")") + c.type + R"(","message":"x"}})";
    ASSERT_TRUE(decoder->feed("error", data, out).ok());
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].error.status, c.status) << c.type;
  }
}

TEST(AnthropicStreamDecoder, RejectsMalformedEventsAndIgnoresUnknownOnes) {
  for (const char* data :
       {"{not json", "[1]", R"({"type":"content_block_start"})",
        R"({"type":"content_block_delta","index":0,"delta":{}})", R"({"type":"message_start"})"}) {
    auto decoder = codec().stream_decoder();
    std::vector<Delta> out;
    auto s = decoder->feed("", data, out);
    ASSERT_FALSE(s.ok()) << data;
    EXPECT_EQ(s.error().code, base::ErrorCode::kUpstreamUnreachable);
    EXPECT_TRUE(s.error().retryable);
  }
  auto decoder = codec().stream_decoder();
  std::vector<Delta> out;
  EXPECT_TRUE(decoder->feed("future_event", R"({"type":"future_event","x":1})", out).ok());
  EXPECT_TRUE(decoder->feed("ping", R"({"type":"ping"})", out).ok());
  EXPECT_TRUE(out.empty());
}

TEST(AnthropicStreamEncoder, WritesTheFullEventSequence) {
  auto encoder = codec().stream_encoder(simple_request(), "claude-alias");
  std::string out;
  const auto emit = [&](Delta d) { encoder->encode(d, out); };
  Delta d;
  d.kind = Delta::Kind::kStart;
  d.id = "01XyZ";
  d.model = "upstream-model";
  emit(d);
  d = {};
  d.kind = Delta::Kind::kThinking;
  d.text = "Let me check.";
  emit(d);
  d.kind = Delta::Kind::kSignature;
  d.text = "EqQBCgIYAhIM";
  emit(d);
  d.kind = Delta::Kind::kText;
  d.text = "Checking";
  emit(d);
  d.text = " now.";
  emit(d);
  d = {};
  d.kind = Delta::Kind::kToolCall;
  d.index = 0;
  d.id = "toolu_01";
  d.name = "get_weather";
  emit(d);
  d = {};
  d.kind = Delta::Kind::kToolArguments;
  d.text = R"({"location":)";
  emit(d);
  d.text = R"( "Paris"})";
  emit(d);
  d = {};
  d.kind = Delta::Kind::kFinish;
  d.stop_reason = StopReason::kToolUse;
  emit(d);
  // The finish waits for the usage: message_delta carries both.
  const auto before_usage = sse_events(unchunk(out)).size();
  d = {};
  d.kind = Delta::Kind::kUsage;
  d.usage.prompt_tokens = 150;
  d.usage.cache_read_tokens = 100;
  d.usage.cache_creation_tokens = 20;
  d.usage.completion_tokens = 40;
  emit(d);
  d = {};
  d.kind = Delta::Kind::kDone;
  emit(d);

  const auto actual = sse_events(unchunk(out));
  const auto expected = sse_events(fixture("anthropic/stream_encoded.sse"));
  EXPECT_EQ(before_usage, expected.size() - 3);
  ASSERT_EQ(actual.size(), expected.size());
  for (std::size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(actual[i].name, expected[i].name) << "event " << i;
    EXPECT_TRUE(json_equal(actual[i].data, expected[i].data)) << "event " << i;
  }
}

TEST(AnthropicStreamEncoder, EndsWithoutUsageAndKeepsTheStopSequence) {
  auto encoder = codec().stream_encoder(simple_request(), "claude-alias");
  std::string out;
  Delta d;
  d.kind = Delta::Kind::kStart;
  d.id = "msg_9";
  encoder->encode(d, out);
  d = {};
  d.kind = Delta::Kind::kRedactedThinking;
  d.text = "EmwK";
  encoder->encode(d, out);
  d.kind = Delta::Kind::kText;
  d.text = "Hi";
  encoder->encode(d, out);
  d = {};
  d.kind = Delta::Kind::kFinish;
  d.stop_reason = StopReason::kStopSequence;
  d.text = "END";
  encoder->encode(d, out);
  d = {};
  d.kind = Delta::Kind::kDone;
  encoder->encode(d, out);
  encoder->encode(d, out);  // nothing after the end

  const auto events = sse_events(unchunk(out));
  std::vector<std::string> names;
  for (const auto& e : events) names.push_back(e.name);
  EXPECT_EQ(names, (std::vector<std::string>{"message_start", "ping", "content_block_start",
                                             "content_block_stop", "content_block_start",
                                             "content_block_delta", "content_block_stop",
                                             "message_delta", "message_stop"}));
  EXPECT_TRUE(json_equal(events[0].data,
                         R"({"type":"message_start","message":{"id":"msg_9","type":"message",
                             "role":"assistant","model":"claude-alias","content":[],
                             "stop_reason":null,"stop_sequence":null,
                             "usage":{"input_tokens":0,"output_tokens":0}}})"));
  EXPECT_TRUE(json_equal(events[2].data, R"({"type":"content_block_start","index":0,
      "content_block":{"type":"redacted_thinking","data":"EmwK"}})"));
  EXPECT_TRUE(json_equal(events[7].data, R"({"type":"message_delta",
      "delta":{"stop_reason":"stop_sequence","stop_sequence":"END"},
      "usage":{"output_tokens":0,"input_tokens":0,"cache_creation_input_tokens":0,
               "cache_read_input_tokens":0}})"));
}

TEST(AnthropicStreamEncoder, WritesErrorEvents) {
  auto encoder = codec().stream_encoder(simple_request(), "claude-alias");
  std::string out;
  Delta d;
  d.kind = Delta::Kind::kStart;
  encoder->encode(d, out);
  d.kind = Delta::Kind::kError;
  d.error = base::make_error(base::ErrorCode::kUpstreamStatus, "Overloaded");
  d.error.status = 529;
  encoder->encode(d, out);
  d = {};
  d.kind = Delta::Kind::kText;
  d.text = "late";
  encoder->encode(d, out);  // nothing after the error
  auto events = sse_events(unchunk(out));
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[2].name, "error");
  EXPECT_TRUE(json_equal(events[2].data,
                         R"({"type":"error","error":{"type":"overloaded_error",
                             "message":"Overloaded"}})"));

  auto other = codec().stream_encoder(simple_request(), "claude-alias");
  out.clear();
  other->error(base::make_error(base::ErrorCode::kUpstreamTimeout, "the upstream timed out"), out);
  events = sse_events(unchunk(out));
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].name, "error");
  EXPECT_TRUE(json_equal(events[0].data, R"({"type":"error","error":{"type":"api_error",
                                             "message":"the upstream timed out"}})"));
}

// ---------------------------------------------------------------------------------------------
// Errors

TEST(AnthropicErrors, MapsEveryCodeToAnErrorType) {
  using base::ErrorCode;
  const struct {
    ErrorCode code;
    int status;
    const char* type;
  } cases[] = {
      {ErrorCode::kBadRequest, 0, "invalid_request_error"},
      {ErrorCode::kMethodNotAllowed, 0, "invalid_request_error"},
      {ErrorCode::kConflict, 0, "invalid_request_error"},
      {ErrorCode::kUnauthorized, 0, "authentication_error"},
      {ErrorCode::kForbidden, 0, "permission_error"},
      {ErrorCode::kNotFound, 0, "not_found_error"},
      {ErrorCode::kModelNotFound, 0, "not_found_error"},
      {ErrorCode::kPayloadTooLarge, 0, "request_too_large"},
      {ErrorCode::kRateLimited, 0, "rate_limit_error"},
      {ErrorCode::kUnavailable, 0, "overloaded_error"},
      {ErrorCode::kUpstreamTimeout, 0, "api_error"},
      {ErrorCode::kUpstreamUnreachable, 0, "api_error"},
      {ErrorCode::kInternal, 0, "api_error"},
      {ErrorCode::kUpstreamStatus, 400, "invalid_request_error"},
      {ErrorCode::kUpstreamStatus, 422, "invalid_request_error"},
      {ErrorCode::kUpstreamStatus, 401, "authentication_error"},
      {ErrorCode::kUpstreamStatus, 403, "permission_error"},
      {ErrorCode::kUpstreamStatus, 404, "not_found_error"},
      {ErrorCode::kUpstreamStatus, 413, "request_too_large"},
      {ErrorCode::kUpstreamStatus, 429, "rate_limit_error"},
      {ErrorCode::kUpstreamStatus, 529, "overloaded_error"},
      {ErrorCode::kUpstreamStatus, 500, "api_error"},
      {ErrorCode::kUpstreamStatus, 503, "api_error"},
  };
  for (const auto& c : cases) {
    auto e = base::make_error(c.code, "what \"went\" wrong");
    e.status = c.status;
    EXPECT_EQ(anthropic_error_type(e), c.type) << base::code_name(c.code) << " " << c.status;
    EXPECT_TRUE(
        json_equal(codec().error_body(e), std::string(R"({"type":"error","error":{"type":")") +
                                              c.type + R"(","message":"what \"went\" wrong"}})"));
  }
}

TEST(AnthropicErrors, ReadsTheMessageOfAnUpstreamErrorBody) {
  EXPECT_EQ(codec().error_message(fixture("anthropic/error_overloaded.json")), "Overloaded");
  EXPECT_EQ(codec().error_message("<html>\r\n<body>Bad Gateway</body>\n</html>\n"),
            "<html>  <body>Bad Gateway</body> </html>");
  const std::string long_body(2000, 'x');
  EXPECT_EQ(codec().error_message(long_body).size(), 500u);
  const std::string long_message =
      R"({"type":"error","error":{"type":"api_error","message":")" + std::string(900, 'y') + "\"}}";
  EXPECT_EQ(codec().error_message(long_message), std::string(500, 'y'));
}

TEST(AnthropicCodec, IsTheAnthropicWire) {
  EXPECT_EQ(codec().wire(), Wire::kAnthropic);
  EXPECT_EQ(&anthropic_codec(), &anthropic_codec());
}

}  // namespace
}  // namespace shepherd::translate
