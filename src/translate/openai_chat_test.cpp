#include "translate/openai_chat.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "api/openai.hpp"
#include "translate/testing.hpp"

namespace shepherd::translate {
namespace {

namespace json = boost::json;
using base::ErrorCode;
using testing::fixture;
using testing::json_equal;

constexpr int kDepth = 64;

const Codec& codec() { return openai_chat_codec(); }

Request decode(std::string_view body) {
  auto r = codec().decode_request(body, kDepth);
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
  return r.ok() ? std::move(r).value() : Request{};
}

std::string encode(const Request& r, std::string_view model = "upstream-model") {
  std::string out;
  const auto s = codec().encode_request(r, model, out);
  EXPECT_TRUE(s.ok());
  return out;
}

base::Error decode_error(std::string_view body) {
  auto r = codec().decode_request(body, kDepth);
  EXPECT_FALSE(r.ok()) << "accepted: " << body;
  return r.ok() ? base::Error{} : std::move(r).error();
}

json::object parse_object(std::string_view text) {
  boost::system::error_code ec;
  auto v = json::parse(json::string_view(text.data(), text.size()), ec);
  EXPECT_FALSE(ec) << "not JSON: " << text;
  return v.is_object() ? v.get_object() : json::object{};
}

// The data of each event of an SSE transcript as the wire carries it.
std::vector<std::string> sse_data(std::string_view text) {
  std::vector<std::string> events;
  std::string data;
  bool any = false;
  while (!text.empty()) {
    const auto eol = text.find('\n');
    const auto line = text.substr(0, eol);
    text.remove_prefix(eol == std::string_view::npos ? text.size() : eol + 1);
    if (line.empty()) {
      if (any) events.push_back(std::move(data));
      data.clear();
      any = false;
    } else if (line.substr(0, 6) == "data: ") {
      if (any) data += '\n';
      data += line.substr(6);
      any = true;
    }
  }
  return events;
}

// The SSE events inside HTTP/1.1 chunks, as a stream encoder writes them.
std::vector<std::string> unframe(std::string_view out) {
  std::string sse;
  while (!out.empty()) {
    const auto eol = out.find("\r\n");
    if (eol == std::string_view::npos) break;
    const auto size = std::stoul(std::string(out.substr(0, eol)), nullptr, 16);
    sse += out.substr(eol + 2, size);
    out.remove_prefix(eol + 2 + size + 2);
  }
  return sse_data(sse);
}

std::vector<Delta> decode_stream(std::string_view transcript) {
  auto decoder = codec().stream_decoder();
  std::vector<Delta> deltas;
  for (const auto& data : sse_data(transcript)) {
    const auto s = decoder->feed("", data, deltas);
    EXPECT_TRUE(s.ok()) << data;
  }
  return deltas;
}

// --- decode_request ---------------------------------------------------------------------------

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

// --- encode_request ---------------------------------------------------------------------------

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

// --- decode_response / encode_response --------------------------------------------------------

TEST(OpenAiChatDecodeResponse, ReadsToolCallsAndUsageDetails) {
  auto r = codec().decode_response(fixture("openai/response_tool_calls.json"));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->id, "chatcmpl-abc123");
  EXPECT_EQ(r->model, "gpt-4o-mini-2024-07-18");
  EXPECT_EQ(r->created, 1699896916);
  ASSERT_EQ(r->content.size(), 2u);
  EXPECT_EQ(r->content[0].kind, Part::Kind::kToolCall);
  EXPECT_EQ(r->content[0].id, "call_abc123");
  EXPECT_EQ(r->content[0].name, "get_current_weather");
  EXPECT_EQ(r->content[0].arguments, "{\n\"location\": \"Boston, MA\"\n}");
  EXPECT_EQ(r->content[1].name, "get_current_time");
  EXPECT_EQ(r->stop_reason, StopReason::kToolUse);
  ASSERT_TRUE(r->usage);
  EXPECT_EQ(r->usage->prompt_tokens, 82);
  EXPECT_EQ(r->usage->completion_tokens, 57);
  EXPECT_EQ(r->usage->cache_read_tokens, 64);
  EXPECT_EQ(r->usage->reasoning_tokens, 40);
}

TEST(OpenAiChatEncodeResponse, WritesAChatCompletionForTheClientsModel) {
  auto r = codec().decode_response(fixture("openai/response_tool_calls.json"));
  ASSERT_TRUE(r.ok());
  std::string out;
  codec().encode_response(*r, "my-alias", out);
  EXPECT_TRUE(json_equal(out, fixture("openai/response_tool_calls_client.json")));
}

TEST(OpenAiChatDecodeResponse, ReadsThinkingBlocksBeforeText) {
  auto r = codec().decode_response(fixture("openai/response_reasoning.json"));
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->content.size(), 3u);
  EXPECT_EQ(r->content[0].kind, Part::Kind::kThinking);
  EXPECT_EQ(r->content[0].signature, "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds");
  EXPECT_EQ(r->content[1].kind, Part::Kind::kRedactedThinking);
  EXPECT_EQ(r->content[2].kind, Part::Kind::kText);
  EXPECT_EQ(r->content[2].text, "27 * 453 = 12231");
  EXPECT_EQ(r->stop_reason, StopReason::kMaxTokens);
  EXPECT_EQ(r->usage->reasoning_tokens, 100);
  EXPECT_EQ(r->usage->cache_read_tokens, 0);

  std::string out;
  codec().encode_response(*r, "sonnet", out);
  EXPECT_TRUE(json_equal(out, R"({"id":"chatcmpl-msg_01AbCdEf","object":"chat.completion",
    "created":1737000000,"model":"sonnet","choices":[{"index":0,"message":{"role":"assistant",
    "content":"27 * 453 = 12231",
    "reasoning_content":"27 * 400 = 10800; 27 * 53 = 1431; the sum is 12231.",
    "thinking_blocks":[{"type":"thinking",
      "thinking":"27 * 400 = 10800; 27 * 53 = 1431; the sum is 12231.",
      "signature":"EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds"},
      {"type":"redacted_thinking",
       "data":"EmwKAhgBEgy3va3pzix/LafPsn4aDFIT2Xlxh0L5L8rLVyIwxtE3rAFBa8cr3qpP"}]},
    "logprobs":null,"finish_reason":"length"}],
    "usage":{"prompt_tokens":20,"completion_tokens":120,"total_tokens":140,
      "prompt_tokens_details":{"cached_tokens":0},
      "completion_tokens_details":{"reasoning_tokens":100}}})"));
}

TEST(OpenAiChatDecodeResponse, ReadsReasoningContentAndMissingUsage) {
  auto r = codec().decode_response(R"({"id":"x","model":"deepseek-reasoner","choices":[
    {"index":0,"message":{"role":"assistant","content":"9.11 < 9.8",
      "reasoning_content":"Compare the decimals."},"finish_reason":"stop"}]})");
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->content.size(), 2u);
  EXPECT_EQ(r->content[0].kind, Part::Kind::kThinking);
  EXPECT_EQ(r->content[0].text, "Compare the decimals.");
  EXPECT_EQ(r->stop_reason, StopReason::kEndTurn);
  EXPECT_FALSE(r->usage);
  std::string out;
  codec().encode_response(*r, "m", out);
  EXPECT_FALSE(parse_object(out).contains("usage"));
}

TEST(OpenAiChatDecodeResponse, ErrorsAndMalformedAnswersAreUnreadable) {
  const std::string error = fixture("openai/response_error.json");
  for (const std::string_view body :
       {std::string_view(error), std::string_view(R"({"id":"x","choices":[]})"),
        std::string_view(R"({"id":"x"})"), std::string_view("<html>502</html>"),
        std::string_view(R"({"choices":[{"index":0}]})")}) {
    auto r = codec().decode_response(body);
    ASSERT_FALSE(r.ok()) << body;
    EXPECT_EQ(r.error().code, ErrorCode::kUpstreamUnreachable) << body;
    EXPECT_TRUE(r.error().retryable);
    EXPECT_EQ(r.error().message.rfind("the upstream answer could not be read: ", 0), 0u);
  }
  EXPECT_NE(codec().decode_response(error).error().message.find("The server had an error"),
            std::string::npos);
}

TEST(OpenAiChatCodec, ErrorBodyAndMessageUseTheOpenAiShape) {
  auto e = base::make_error(ErrorCode::kBadRequest, "bad n");
  e.param = "n";
  EXPECT_EQ(codec().error_body(e), api::error_body(e));
  EXPECT_EQ(codec().error_message(fixture("openai/response_error.json")),
            "The server had an error while processing your request. Sorry about that!");
}

// --- streams ----------------------------------------------------------------------------------

TEST(OpenAiChatStreamDecoder, ReadsTheReferenceTranscript) {
  const auto d = decode_stream(fixture("openai/stream_tool_calls.sse"));
  ASSERT_EQ(d.size(), 15u);
  EXPECT_EQ(d[0].kind, Delta::Kind::kStart);
  EXPECT_EQ(d[0].id, "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG");
  EXPECT_EQ(d[0].model, "gpt-4o-2024-08-06");
  EXPECT_EQ(d[0].created, 1741570283);
  EXPECT_EQ(d[1].kind, Delta::Kind::kText);
  EXPECT_EQ(d[1].text, "Let me check");
  EXPECT_EQ(d[2].text, " both cities.");
  EXPECT_EQ(d[3].kind, Delta::Kind::kToolCall);
  EXPECT_EQ(d[3].index, 0);
  EXPECT_EQ(d[3].id, "call_DdmO9pD3xa9XTPNJ32zg2hcA");
  EXPECT_EQ(d[3].name, "get_weather");
  std::string args;
  for (std::size_t i = 4; i <= 9; ++i) {
    EXPECT_EQ(d[i].kind, Delta::Kind::kToolArguments);
    EXPECT_EQ(d[i].index, 0);
    args += d[i].text;
  }
  EXPECT_EQ(args, R"({"location":"Paris, France"})");
  EXPECT_EQ(d[10].kind, Delta::Kind::kToolCall);
  EXPECT_EQ(d[10].index, 1);
  EXPECT_EQ(d[10].id, "call_9QtrBK3UHpfRsDNULUNUjQGb");
  EXPECT_EQ(d[11].kind, Delta::Kind::kToolArguments);
  EXPECT_EQ(d[11].index, 1);
  EXPECT_EQ(d[11].text, R"({"location":"Bogotá, Colombia"})");
  EXPECT_EQ(d[12].kind, Delta::Kind::kFinish);
  EXPECT_EQ(d[12].stop_reason, StopReason::kToolUse);
  EXPECT_EQ(d[13].kind, Delta::Kind::kUsage);
  EXPECT_EQ(d[13].usage.prompt_tokens, 82);
  EXPECT_EQ(d[13].usage.completion_tokens, 40);
  EXPECT_EQ(d[13].usage.cache_read_tokens, 32);
  EXPECT_EQ(d[14].kind, Delta::Kind::kDone);
  // After [DONE], the end of the body adds nothing.
  auto decoder = codec().stream_decoder();
  std::vector<Delta> more;
  for (const auto& data : sse_data(fixture("openai/stream_tool_calls.sse"))) {
    ASSERT_TRUE(decoder->feed("", data, more).ok());
  }
  const auto before = more.size();
  decoder->end(more);
  EXPECT_EQ(more.size(), before);
}

TEST(OpenAiChatStreamDecoder, ReadsReasoningSignaturesAndRedactedThinking) {
  auto decoder = codec().stream_decoder();
  std::vector<Delta> d;
  for (
      const std::string_view data : {
          R"({"id":"1","model":"m","created":5,"choices":[{"index":0,"delta":{"role":"assistant","reasoning_content":"Let me"}}]})",
          R"({"id":"1","choices":[{"index":0,"delta":{"reasoning":" think."}}]})",
          R"({"id":"1","choices":[{"index":0,"delta":{"thinking_blocks":[{"type":"thinking","thinking":"","signature":"sig-1"}]}}]})",
          R"({"id":"1","choices":[{"index":0,"delta":{"thinking_blocks":[{"type":"redacted_thinking","data":"opaque"}]}}]})",
          R"({"id":"1","choices":[{"index":0,"delta":{"content":"Yes."},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":4,"completion_tokens_details":{"reasoning_tokens":2}}})",
          "[DONE]",
      }) {
    ASSERT_TRUE(decoder->feed("", data, d).ok()) << data;
  }
  ASSERT_EQ(d.size(), 9u);
  EXPECT_EQ(d[1].kind, Delta::Kind::kThinking);
  EXPECT_EQ(d[1].text, "Let me");
  EXPECT_EQ(d[2].kind, Delta::Kind::kThinking);
  EXPECT_EQ(d[2].text, " think.");
  EXPECT_EQ(d[3].kind, Delta::Kind::kSignature);
  EXPECT_EQ(d[3].text, "sig-1");
  EXPECT_EQ(d[4].kind, Delta::Kind::kRedactedThinking);
  EXPECT_EQ(d[4].text, "opaque");
  EXPECT_EQ(d[5].kind, Delta::Kind::kText);
  EXPECT_EQ(d[6].kind, Delta::Kind::kFinish);
  EXPECT_EQ(d[6].stop_reason, StopReason::kEndTurn);
  EXPECT_EQ(d[7].kind, Delta::Kind::kUsage);  // after the finish, though it came with it
  EXPECT_EQ(d[7].usage.reasoning_tokens, 2);
  EXPECT_EQ(d[8].kind, Delta::Kind::kDone);
}

TEST(OpenAiChatStreamDecoder, CallsEndInToolUseWhateverTheReason) {
  auto decoder = codec().stream_decoder();
  std::vector<Delta> d;
  ASSERT_TRUE(decoder
                  ->feed("",
                         R"({"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"c",
                            "function":{"name":"f","arguments":"{}"}}]}}]})",
                         d)
                  .ok());
  ASSERT_TRUE(
      decoder->feed("", R"({"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]})", d).ok());
  ASSERT_EQ(d.back().kind, Delta::Kind::kFinish);
  EXPECT_EQ(d.back().stop_reason, StopReason::kToolUse);
  // The body ended after the finish reason without [DONE]: the stream is complete.
  decoder->end(d);
  EXPECT_EQ(d.back().kind, Delta::Kind::kDone);
}

TEST(OpenAiChatStreamDecoder, ReportsErrorEvents) {
  auto decoder = codec().stream_decoder();
  std::vector<Delta> d;
  ASSERT_TRUE(decoder
                  ->feed("",
                         R"({"error":{"message":"Rate limit reached for gpt-4o",
                            "type":"requests","code":"rate_limit_exceeded"}})",
                         d)
                  .ok());
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].kind, Delta::Kind::kError);
  EXPECT_EQ(d[0].error.code, ErrorCode::kUpstreamStatus);
  EXPECT_EQ(d[0].error.message, "Rate limit reached for gpt-4o");
  EXPECT_EQ(d[0].error.status, 429);

  decoder = codec().stream_decoder();
  d.clear();
  ASSERT_TRUE(decoder->feed("", R"({"error":{"message":"boom","type":"server_error"}})", d).ok());
  EXPECT_EQ(d[0].error.status, 500);
  EXPECT_TRUE(d[0].error.retryable);
}

TEST(OpenAiChatStreamDecoder, RejectsMalformedChunks) {
  for (const std::string_view data :
       {"{\"choices\":[", "[1,2]", "not json", R"({"choices":[{"delta":{"tool_calls":{}}}]})"}) {
    auto decoder = codec().stream_decoder();
    std::vector<Delta> d;
    const auto s = decoder->feed("", data, d);
    ASSERT_FALSE(s.ok()) << data;
    EXPECT_EQ(s.error().code, ErrorCode::kUpstreamUnreachable);
    EXPECT_TRUE(s.error().retryable);
  }
}

TEST(OpenAiChatStreamDecoder, EndWithoutFinishAddsNothing) {
  auto decoder = codec().stream_decoder();
  std::vector<Delta> d;
  ASSERT_TRUE(decoder->feed("", R"({"choices":[{"index":0,"delta":{"content":"Hal"}}]})", d).ok());
  decoder->end(d);
  ASSERT_EQ(d.size(), 2u);
  EXPECT_EQ(d.back().kind, Delta::Kind::kText);
}

std::vector<Delta> sample_deltas() {
  std::vector<Delta> d(9);
  d[0].kind = Delta::Kind::kStart;
  d[0].id = "abc123";
  d[0].model = "upstream";
  d[0].created = 1741570283;
  d[1].kind = Delta::Kind::kThinking;
  d[1].text = "Let me think.";
  d[2].kind = Delta::Kind::kSignature;
  d[2].text = "sig-1";
  d[3].kind = Delta::Kind::kText;
  d[3].text = "Checking.";
  d[4].kind = Delta::Kind::kToolCall;
  d[4].id = "call_1";
  d[4].name = "get_weather";
  d[5].kind = Delta::Kind::kToolArguments;
  d[5].text = R"({"location":"Paris"})";
  d[6].kind = Delta::Kind::kFinish;
  d[6].stop_reason = StopReason::kToolUse;
  d[7].kind = Delta::Kind::kUsage;
  d[7].usage = Usage{10, 20, 4, 0, 5};
  d[8].kind = Delta::Kind::kDone;
  return d;
}

TEST(OpenAiChatStreamEncoder, WritesChunksForEachDelta) {
  Request request;
  request.include_usage = true;
  auto encoder = codec().stream_encoder(request, "my-alias");
  std::string out;
  for (const auto& d : sample_deltas()) encoder->encode(d, out);
  const auto events = unframe(out);
  const auto expected = sse_data(fixture("openai/stream_encoded.sse"));
  ASSERT_EQ(events.size(), expected.size());
  for (std::size_t i = 0; i < events.size(); ++i) {
    if (expected[i] == "[DONE]") {
      EXPECT_EQ(events[i], "[DONE]");
    } else {
      EXPECT_TRUE(json_equal(events[i], expected[i])) << "event " << i;
    }
  }
  EXPECT_EQ(events[0],
            R"({"id":"chatcmpl-abc123","object":"chat.completion.chunk","created":1741570283,)"
            R"("model":"my-alias","choices":[{"index":0,"delta":{"role":"assistant","content":""},)"
            R"("logprobs":null,"finish_reason":null}]})");
  EXPECT_EQ(events[5],
            R"({"id":"chatcmpl-abc123","object":"chat.completion.chunk","created":1741570283,)"
            R"("model":"my-alias","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,)"
            R"("function":{"arguments":"{\"location\":\"Paris\"}"}}]},"logprobs":null,)"
            R"("finish_reason":null}]})");
  EXPECT_EQ(events[6],
            R"({"id":"chatcmpl-abc123","object":"chat.completion.chunk","created":1741570283,)"
            R"("model":"my-alias","choices":[{"index":0,"delta":{},"logprobs":null,)"
            R"("finish_reason":"tool_calls"}]})");
}

TEST(OpenAiChatStreamEncoder, WritesUsageOnlyWhenTheClientAskedForIt) {
  Request request;
  request.include_usage = false;
  auto encoder = codec().stream_encoder(request, "my-alias");
  std::string out;
  for (const auto& d : sample_deltas()) encoder->encode(d, out);
  const auto events = unframe(out);
  ASSERT_EQ(events.size(), 8u);
  EXPECT_EQ(events.back(), "[DONE]");
  EXPECT_EQ(out.find("\"usage\""), std::string::npos);
}

TEST(OpenAiChatStreamEncoder, WritesRedactedThinkingAndErrors) {
  auto encoder = codec().stream_encoder(Request{}, "m");
  std::string out;
  Delta start;
  start.kind = Delta::Kind::kStart;
  start.id = "chatcmpl-9";
  encoder->encode(start, out);
  Delta redacted;
  redacted.kind = Delta::Kind::kRedactedThinking;
  redacted.text = "opaque";
  encoder->encode(redacted, out);
  auto e = base::make_error(ErrorCode::kUpstreamTimeout, "the upstream timed out");
  encoder->error(e, out);
  const auto events = unframe(out);
  ASSERT_EQ(events.size(), 3u);
  const auto chunk = parse_object(events[1]);
  EXPECT_EQ(chunk.at("id"), "chatcmpl-9");  // an id already prefixed is kept
  EXPECT_TRUE(json_equal(json::serialize(chunk.at("choices").at(0).at("delta")),
                         R"({"thinking_blocks":[{"type":"redacted_thinking","data":"opaque"}]})"));
  EXPECT_EQ(events[2], api::error_body(e));
}

TEST(OpenAiChatStream, DecodingWhatTheEncoderWroteGivesTheSameDeltas) {
  const auto first = decode_stream(fixture("openai/stream_tool_calls.sse"));
  Request request;
  request.include_usage = true;
  auto encoder = codec().stream_encoder(request, "alias");
  std::string out;
  for (const auto& d : first) encoder->encode(d, out);
  std::string transcript;
  for (const auto& data : unframe(out)) transcript += "data: " + data + "\n\n";
  const auto second = decode_stream(transcript);
  ASSERT_EQ(second.size(), first.size());
  for (std::size_t i = 0; i < first.size(); ++i) {
    EXPECT_EQ(second[i].kind, first[i].kind) << i;
    EXPECT_EQ(second[i].text, first[i].text) << i;
    EXPECT_EQ(second[i].index, first[i].index) << i;
    EXPECT_EQ(second[i].id, first[i].id) << i;
  }
  EXPECT_EQ(second[13].usage.cache_read_tokens, 32);
}

}  // namespace
}  // namespace shepherd::translate
