#include "translate/gemini.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <charconv>
#include <cstring>
#include <regex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "translate/testing.hpp"

namespace shepherd::translate {
namespace {

namespace json = boost::json;
using testing::fixture;
using testing::json_equal;

constexpr int kDepth = 64;
// The thoughtSignature of the fixtures' signed call, and the same bytes as the id carries them.
constexpr std::string_view kSignature =
    "+/+/KCkqKywtLi8wMTIzNDU2Nzg5Ojs8PT4/QEFCQ0RFRkdISUpLTE1OTw==";
constexpr std::string_view kSignatureUrl =
    "-_-_KCkqKywtLi8wMTIzNDU2Nzg5Ojs8PT4_QEFCQ0RFRkdISUpLTE1OTw";

Part text(std::string t) {
  Part p;
  p.kind = Part::Kind::kText;
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

Part tool_result(std::string id, std::string result, bool is_error = false) {
  Part p;
  p.kind = Part::Kind::kToolResult;
  p.id = std::move(id);
  p.content.push_back(text(std::move(result)));
  p.is_error = is_error;
  return p;
}

Message message(Role role, std::vector<Part> parts) {
  Message m;
  m.role = role;
  m.parts = std::move(parts);
  return m;
}

Request user_says(std::string t) {
  Request r;
  r.model = "gpt-4o";
  r.messages.push_back(message(Role::kUser, {text(std::move(t))}));
  return r;
}

Tool light_tool() {
  Tool t;
  t.name = "set_light_values";
  t.description = "Sets the brightness and color temperature of a light.";
  t.parameters = json::parse(R"({
    "type": "object",
    "properties": {
      "brightness": {"type": "integer", "description": "Light level from 0 to 100. Zero is off and 100 is full brightness"},
      "color_temp": {"type": "string", "enum": ["daylight", "cool", "warm"], "description": "Color temperature of the light fixture, which can be `daylight`, `cool` or `warm`."}
    },
    "required": ["brightness", "color_temp"]
  })");
  return t;
}

std::string encode(const Request& request) {
  std::string out;
  const auto status = gemini_codec().encode_request(request, "gemini-2.5-flash", out);
  EXPECT_TRUE(status.ok()) << (status.ok() ? "" : status.error().message);
  return out;
}

base::Error encode_error(const Request& request) {
  std::string out;
  auto status = gemini_codec().encode_request(request, "gemini-2.5-flash", out);
  EXPECT_FALSE(status.ok());
  return status.ok() ? base::Error{} : std::move(status).error();
}

Response decode(std::string_view body) {
  auto r = gemini_codec().decode_response(body);
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
  return r.ok() ? std::move(r).value() : Response{};
}

bool valid_tool_id(const std::string& id) {
  static const std::regex kRule("^[a-zA-Z0-9_-]+$");
  return std::regex_match(id, kRule);
}

// The `data:` payloads of an SSE transcript, one per event.
std::vector<std::string> sse_events(std::string_view transcript) {
  std::vector<std::string> events;
  std::string data;
  bool has_data = false;
  std::size_t pos = 0;
  while (pos <= transcript.size()) {
    std::size_t end = transcript.find('\n', pos);
    if (end == std::string_view::npos) end = transcript.size();
    std::string_view line = transcript.substr(pos, end - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) {
      if (has_data) events.push_back(data);
      data.clear();
      has_data = false;
    } else if (line.substr(0, 5) == "data:") {
      line.remove_prefix(5);
      if (!line.empty() && line.front() == ' ') line.remove_prefix(1);
      if (has_data) data.push_back('\n');
      data.append(line);
      has_data = true;
    }
    pos = end + 1;
  }
  if (has_data) events.push_back(data);
  return events;
}

std::vector<Delta> run_stream(const std::vector<std::string>& events, bool body_ended = true) {
  auto decoder = gemini_codec().stream_decoder();
  EXPECT_NE(decoder, nullptr);
  std::vector<Delta> out;
  for (const auto& e : events) {
    const auto status = decoder->feed("", e, out);
    EXPECT_TRUE(status.ok()) << (status.ok() ? "" : status.error().message);
  }
  if (body_ended) decoder->end(out);
  return out;
}

std::vector<Delta::Kind> kinds(const std::vector<Delta>& deltas) {
  std::vector<Delta::Kind> k;
  for (const auto& d : deltas) k.push_back(d.kind);
  return k;
}

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
  Part thinking;
  thinking.kind = Part::Kind::kThinking;
  thinking.text = "The user greets me.";
  thinking.signature = "EqQBCkgIARABGAIiQL";
  Part redacted;
  redacted.kind = Part::Kind::kRedactedThinking;
  redacted.text = "EmwKAhgBEgy3va3pzix";
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
  Part thought;
  thought.kind = Part::Kind::kThinking;
  thought.text = "Pick the best known.";
  r.messages.push_back(message(Role::kAssistant, {thought, text("Einstein, Newton, Curie.")}));
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
  Part jpeg;
  jpeg.kind = Part::Kind::kImage;
  jpeg.media_type = "image/jpeg";
  jpeg.data = "/9j/4AAQSkZJRgABAQ==";
  Part png;
  png.kind = Part::Kind::kImage;
  png.url = "data:image/png;base64,iVBORw0KGgo=";
  r.messages[0].parts.push_back(jpeg);
  r.messages[0].parts.push_back(png);
  EXPECT_TRUE(json_equal(encode(r), fixture("gemini/request_image.json")));
}

TEST(GeminiEncode, ImageUrlIsRejected) {
  Request r = user_says("Tell me about this instrument");
  Part image;
  image.kind = Part::Kind::kImage;
  image.url = "https://example.com/instrument.jpg";
  r.messages[0].parts.push_back(image);
  const base::Error e = encode_error(r);
  EXPECT_EQ(e.code, base::ErrorCode::kBadRequest);
  EXPECT_EQ(e.param, "messages[0].content[1]");
  EXPECT_NE(e.message.find("send the image as a data URL"), std::string::npos);
}

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
  EXPECT_EQ(r.usage->prompt_tokens, 8);
  EXPECT_EQ(r.usage->completion_tokens, 398);
  EXPECT_EQ(r.usage->cache_read_tokens, 0);
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
  EXPECT_EQ(r.usage->completion_tokens, 109);
  EXPECT_EQ(r.usage->reasoning_tokens, 100);
  EXPECT_EQ(r.usage->prompt_tokens, 20);
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
  EXPECT_EQ(r.usage->prompt_tokens, 323383 + 50);
  EXPECT_EQ(r.usage->cache_read_tokens, 323379);
  EXPECT_EQ(r.usage->completion_tokens, 40 + 100);
  EXPECT_EQ(r.usage->reasoning_tokens, 100);
  EXPECT_EQ(r.usage->cache_creation_tokens, 0);
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

// ---------------------------------------------------------------------------------------------
// Streams

TEST(GeminiStream, TextThoughtsCallFinishAndUsage) {
  const auto deltas = run_stream(sse_events(fixture("gemini/stream_function_call.sse")));
  using K = Delta::Kind;
  ASSERT_EQ(kinds(deltas),
            (std::vector<K>{K::kStart, K::kThinking, K::kText, K::kText, K::kToolCall,
                            K::kToolArguments, K::kFinish, K::kUsage, K::kDone}));
  EXPECT_EQ(deltas[0].id, "Wt2taLz7Gp_Fz7IP3q-YmAk");
  EXPECT_EQ(deltas[0].model, "gemini-2.5-flash");
  EXPECT_EQ(deltas[1].text, "**Checking the lights**");
  EXPECT_EQ(deltas[2].text, "Sure, dimming");
  EXPECT_EQ(deltas[3].text, " the lights now.");
  EXPECT_EQ(deltas[4].index, 0);
  EXPECT_EQ(deltas[4].name, "set_light_values");
  EXPECT_TRUE(valid_tool_id(deltas[4].id));
  EXPECT_NE(deltas[4].id.find("_ts_" + std::string(kSignatureUrl)), std::string::npos);
  EXPECT_EQ(deltas[5].index, 0);
  EXPECT_TRUE(json_equal(deltas[5].text, R"({"brightness":25,"color_temp":"warm"})"));
  EXPECT_EQ(deltas[6].stop_reason, StopReason::kToolUse);
  EXPECT_EQ(deltas[7].usage.prompt_tokens, 110);
  EXPECT_EQ(deltas[7].usage.completion_tokens, 44);
  EXPECT_EQ(deltas[7].usage.reasoning_tokens, 20);
  EXPECT_EQ(deltas[7].usage.cache_read_tokens, 64);
}

TEST(GeminiStream, CutBeforeFinishReasonIsNotDone) {
  auto events = sse_events(fixture("gemini/stream_function_call.sse"));
  ASSERT_EQ(events.size(), 5u);
  events.pop_back();  // the event with finishReason
  const auto deltas = run_stream(events);
  for (const auto& d : deltas) {
    EXPECT_NE(d.kind, Delta::Kind::kFinish);
    EXPECT_NE(d.kind, Delta::Kind::kUsage);
    EXPECT_NE(d.kind, Delta::Kind::kDone);
  }
  EXPECT_EQ(deltas.back().kind, Delta::Kind::kToolArguments);
}

TEST(GeminiStream, ErrorEvent) {
  const auto deltas = run_stream(sse_events(fixture("gemini/stream_error.sse")));
  using K = Delta::Kind;
  ASSERT_EQ(kinds(deltas), (std::vector<K>{K::kStart, K::kText, K::kError}));
  const base::Error& e = deltas[2].error;
  EXPECT_EQ(e.code, base::ErrorCode::kUpstreamStatus);
  EXPECT_EQ(e.status, 503);
  EXPECT_EQ(e.message, "The model is overloaded. Please try again later.");
}

TEST(GeminiStream, BlockedPromptFinishesWithContentFilter) {
  const auto deltas = run_stream({R"({"promptFeedback":{"blockReason":"SAFETY"},
                                      "usageMetadata":{"promptTokenCount":9,"totalTokenCount":9}})"});
  using K = Delta::Kind;
  ASSERT_EQ(kinds(deltas), (std::vector<K>{K::kStart, K::kFinish, K::kUsage, K::kDone}));
  EXPECT_EQ(deltas[1].stop_reason, StopReason::kContentFilter);
}

TEST(GeminiStream, MalformedEventIsAnError) {
  auto decoder = gemini_codec().stream_decoder();
  std::vector<Delta> out;
  const auto status = decoder->feed("", R"({"candidates":[{"content":)", out);
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().code, base::ErrorCode::kUpstreamUnreachable);
  EXPECT_TRUE(status.error().retryable);
}

// ---------------------------------------------------------------------------------------------
// Error bodies

TEST(GeminiErrorMessage, ReadsTheMessageOrAnExcerpt) {
  const auto& codec = gemini_codec();
  EXPECT_EQ(codec.error_message(fixture("gemini/error.json")),
            "API key not valid. Please pass a valid API key.");
  EXPECT_EQ(codec.error_message(R"([{"error":{"code":429,"message":"Resource exhausted.",)"
                                R"("status":"RESOURCE_EXHAUSTED"}}])"),
            "Resource exhausted.");
  const std::string html = "<html>\n<body>" + std::string(1000, 'x') + "</body></html>";
  const std::string excerpt = codec.error_message(html);
  EXPECT_LE(excerpt.size(), 500u);
  EXPECT_EQ(excerpt.find('\n'), std::string::npos);
  EXPECT_EQ(excerpt.rfind("<html> <body>", 0), 0u);
}

// ---------------------------------------------------------------------------------------------
// Embeddings

TEST(GeminiEmbeddings, EncodesABatch) {
  std::string out;
  ASSERT_TRUE(encode_embeddings(fixture("gemini/embeddings_request_openai.json"), kDepth,
                                "gemini-embedding-001", out)
                  .ok());
  EXPECT_TRUE(json_equal(out, fixture("gemini/embeddings_request_gemini.json")));

  out.clear();
  ASSERT_TRUE(
      encode_embeddings(R"({"model":"m","input":"Hello"})", kDepth, "gemini-embedding-001", out)
          .ok());
  EXPECT_TRUE(json_equal(out, R"({"requests":[{"model":"models/gemini-embedding-001",
                                  "content":{"parts":[{"text":"Hello"}]}}]})"));
}

TEST(GeminiEmbeddings, RejectsWhatGeminiCannotTake) {
  const auto param_of = [](std::string_view body) {
    std::string out;
    auto s = encode_embeddings(body, kDepth, "gemini-embedding-001", out);
    EXPECT_FALSE(s.ok()) << body;
    if (s.ok()) return std::string("<ok>");
    EXPECT_EQ(s.error().code, base::ErrorCode::kBadRequest);
    return s.error().param;
  };
  EXPECT_EQ(param_of(R"({"model":"m","input":[1212, 318, 257]})"), "input");
  EXPECT_EQ(param_of(R"({"model":"m","input":["a", [1212, 318]]})"), "input[1]");
  EXPECT_EQ(param_of(R"({"model":"m","input":"a","encoding_format":"base64"})"), "encoding_format");
  EXPECT_EQ(param_of(R"({"model":"m","input":[]})"), "input");
  EXPECT_EQ(param_of(R"({"model":"m","input":""})"), "input");
  EXPECT_EQ(param_of(R"({"model":"m","input":["a",""]})"), "input[1]");
  EXPECT_EQ(param_of(R"({"model":"m"})"), "input");
  EXPECT_EQ(param_of(R"({"model":"m","input":"a","dimensions":0})"), "dimensions");
  EXPECT_EQ(param_of("[1]"), "");
}

// The numbers of every list named `key` in `body`, read exactly (Boost.JSON 1.81 parses some
// doubles 1 ulp off, so json_equal alone cannot tell).
std::vector<double> numbers_of(std::string_view body, std::string_view key) {
  std::vector<double> numbers;
  for (std::size_t at = body.find(key); at != std::string_view::npos; at = body.find(key, at)) {
    at = body.find('[', at) + 1;
    const std::size_t end = body.find(']', at);
    std::string_view list = body.substr(at, end - at);
    while (!list.empty()) {
      while (!list.empty() && (list.front() == ' ' || list.front() == ',')) list.remove_prefix(1);
      double d = 0;
      const auto [p, ec] = std::from_chars(list.data(), list.data() + list.size(), d);
      EXPECT_EQ(ec, std::errc()) << list;
      if (ec != std::errc()) break;
      numbers.push_back(d);
      list.remove_prefix(static_cast<std::size_t>(p - list.data()));
    }
  }
  return numbers;
}

TEST(GeminiEmbeddings, DecodesAListWithExactNumbers) {
  const std::string gemini = fixture("gemini/embeddings_response_gemini.json");
  const auto r = decode_embeddings(gemini, "text-embedding-3-small", 17);
  ASSERT_TRUE(r.ok()) << r.error().message;
  const std::string expected = fixture("gemini/embeddings_response_openai.json");
  EXPECT_TRUE(json_equal(*r, expected));
  const auto got = numbers_of(*r, R"("embedding")");
  const auto want = numbers_of(gemini, R"("values")");
  ASSERT_EQ(got.size(), 8u);
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(std::memcmp(&got[i], &want[i], sizeof(double)), 0) << i << ": " << got[i];
  }
}

TEST(GeminiEmbeddings, MalformedAnswerIsUnreadable) {
  for (const std::string_view body :
       {std::string_view(R"({"error":{"code":400,"message":"bad"}})"),
        std::string_view(R"({"embeddings":[{"values":["x"]}]})"),
        std::string_view(R"({"embeddings":[{}]})"), std::string_view(R"({"embeddings":{}})"),
        std::string_view("not json"), std::string_view("{}")}) {
    const auto r = decode_embeddings(body, "m", 1);
    ASSERT_FALSE(r.ok()) << body;
    EXPECT_EQ(r.error().code, base::ErrorCode::kUpstreamUnreachable) << body;
  }
}

}  // namespace
}  // namespace shepherd::translate
