// The Anthropic Messages dialect; see anthropic_dialect.hpp. The wire format follows Anthropic's
// API reference (https://docs.anthropic.com/en/api/messages, .../messages-streaming,
// .../errors, .../rate-limits).
#include "mock/anthropic_dialect.hpp"

#include <boost/json/value.hpp>
#include <chrono>
#include <ctime>
#include <utility>

#include "mock/common.hpp"
#include "mock/text.hpp"

namespace shepherd::mock::detail {
namespace {

namespace json = boost::json;

constexpr std::string_view kModelsCreatedAt = "2025-01-01T00:00:00Z";

Endpoint match(std::string_view path, std::string_view /*query*/, bool marked) {
  if (path == "/v1/messages") return {Operation::kChat};
  if (path == "/v1/messages/count_tokens") return {Operation::kCountTokens};
  if (path.starts_with("/v1/messages/")) {
    return {.op = Operation::kReject, .status = 404, .message = "Not found"};
  }
  if (!marked) return {};
  if (path == "/v1/models") return {Operation::kModelList};
  if (path.starts_with("/v1/models/")) {
    return {Operation::kModel, path.substr(std::string_view("/v1/models/").size())};
  }
  return {};
}

// Words of a `system` or `content` value: a string, or blocks whose text is counted (`text` of
// text blocks, and the content of tool_result blocks, recursively).
std::int64_t count_content_words(const json::value& content) {
  if (const json::string* text = content.if_string()) return count_words(*text);
  std::int64_t words = 0;
  if (const json::array* blocks = content.if_array()) {
    for (const json::value& block : *blocks) {
      if (const json::string* text = string_member(&block, "text")) words += count_words(*text);
      if (const json::value* inner = member(&block, "content"))
        words += count_content_words(*inner);
    }
  }
  return words;
}

bool has_type(const json::value& block, std::string_view type) {
  const json::string* t = string_member(&block, "type");
  return t != nullptr && *t == type;
}

// model, messages and system, as count_tokens and messages both need them.
base::Status read_prompt(const json::object& obj, ChatRequest& chat) {
  const json::value* model = obj.if_contains("model");
  if (model == nullptr) return bad_request("model: Field required");
  if (!model->is_string()) return bad_request("model: Input should be a valid string");
  chat.model = model->get_string();

  const json::value* messages = obj.if_contains("messages");
  if (messages == nullptr) return bad_request("messages: Field required");
  const json::array* list = messages->if_array();
  if (list == nullptr) return bad_request("messages: Input should be a valid list");
  if (list->empty()) return bad_request("messages: at least one message is required");
  for (const json::value& m : *list) {
    const json::object* message = m.if_object();
    if (message == nullptr) return bad_request("messages: Input should be a valid dictionary");
    const json::value* role = message->if_contains("role");
    if (role == nullptr || !role->is_string()) return bad_request("messages.role: Field required");
    if (const json::value* content = message->if_contains("content")) {
      chat.prompt_tokens += count_content_words(*content);
    }
  }
  if (const json::value* system = obj.if_contains("system")) {
    chat.prompt_tokens += count_content_words(*system);
  }
  return base::Ok{};
}

// The tool to call: the one tool_choice names, else the first declared; none when tool_choice is
// {"type":"none"} or nothing is declared.
std::string_view chosen_tool(const json::object& obj) {
  if (const json::value* choice = obj.if_contains("tool_choice")) {
    if (has_type(*choice, "none")) return {};
    const json::string* name = string_member(choice, "name");
    if (has_type(*choice, "tool") && name != nullptr) return *name;
  }
  const json::array* tools = array_member(&obj, "tools");
  if (tools == nullptr) return {};
  for (const json::value& tool : *tools) {
    if (const json::string* name = string_member(&tool, "name")) return *name;
  }
  return {};
}

base::Result<ChatRequest> interpret(const json::value& body, const Endpoint& /*endpoint*/) {
  const json::object* obj = body.if_object();
  if (obj == nullptr) return bad_request("Input should be a valid dictionary");
  ChatRequest chat;
  if (auto s = read_prompt(*obj, chat); !s) return std::move(s).error();

  const json::value* max_tokens = obj->if_contains("max_tokens");
  if (max_tokens == nullptr) return bad_request("max_tokens: Field required");
  if (max_tokens->is_uint64()) {
    chat.max_tokens = 1000000000;
  } else if (max_tokens->is_int64() && max_tokens->get_int64() >= 1) {
    chat.max_tokens = max_tokens->get_int64();
  } else {
    return bad_request("max_tokens: Input should be an integer greater than or equal to 1");
  }
  if (const json::value* stream = obj->if_contains("stream"); stream && !stream->is_null()) {
    if (!stream->is_bool()) return bad_request("stream: Input should be a valid boolean");
    chat.stream = stream->get_bool();
  }
  if (const json::value* thinking = obj->if_contains("thinking")) {
    chat.thinking = has_type(*thinking, "enabled") || has_type(*thinking, "adaptive");
  }

  // A tool call answers a user turn; a user turn carrying a tool_result gets text.
  const json::object& last = obj->at("messages").get_array().back().get_object();
  if (last.at("role").get_string() != "user") return chat;
  std::string_view text;
  if (const json::value* content = last.if_contains("content")) {
    if (const json::string* s = content->if_string()) text = *s;
    if (const json::array* blocks = content->if_array()) {
      for (const json::value& block : *blocks) {
        if (has_type(block, "tool_result")) return chat;
        const json::string* t = has_type(block, "text") ? string_member(&block, "text") : nullptr;
        if (t != nullptr) text = *t;
      }
    }
  }
  offer_tool_call(chat, chosen_tool(*obj), text);
  return chat;
}

base::Status append_answer_now(std::string& out, const json::value& body,
                               const Endpoint& endpoint) {
  if (endpoint.op != Operation::kCountTokens) return bad_request("unsupported operation");
  const json::object* obj = body.if_object();
  if (obj == nullptr) return bad_request("Input should be a valid dictionary");
  ChatRequest chat;
  if (auto s = read_prompt(*obj, chat); !s) return s;
  out.append("{\"input_tokens\":");
  append_int(out, chat.prompt_tokens);
  out.push_back('}');
  return base::Ok{};
}

// https://docs.anthropic.com/en/api/errors
std::string_view error_type(int status) {
  switch (status) {
    case 401:
      return "authentication_error";
    case 402:
      return "billing_error";
    case 403:
      return "permission_error";
    case 404:
      return "not_found_error";
    case 413:
      return "request_too_large";
    case 429:
      return "rate_limit_error";
    case 504:
      return "timeout_error";
    case 529:
      return "overloaded_error";
    default:
      return status >= 500 ? "api_error" : "invalid_request_error";
  }
}

void append_error(std::string& out, int status, std::string_view message,
                  std::string_view /*code*/) {
  out.append("{\"type\":\"error\",\"error\":{\"type\":\"");
  out.append(error_type(status));
  out.append("\",\"message\":");
  append_json_string(out, message);
  out.append("}}");
}

void append_context_length_error(std::string& out, std::int64_t max_context,
                                 std::int64_t prompt_tokens) {
  std::string message = "prompt is too long: ";
  append_int(message, prompt_tokens);
  message.append(" tokens > ");
  append_int(message, max_context);
  message.append(" maximum");
  append_error(out, 400, message, {});
}

std::string_view stop_reason(const ChatAnswer& answer) {
  if (answer.tool_call) return "tool_use";
  return answer.truncated ? "max_tokens" : "end_turn";
}

// Anthropic bills thinking as output.
std::int64_t output_tokens(const ChatAnswer& answer) {
  return answer.thinking_tokens + answer.tokens;
}

void append_signature(std::string& out, const ChatAnswer& answer) {
  out.append("\"mock-signature-");
  append_int(out, static_cast<std::int64_t>(answer.id));
  out.push_back('"');
}

void append_tool_use_head(std::string& out, const ChatAnswer& answer) {
  out.append("{\"type\":\"tool_use\",\"id\":\"toolu_mock_");
  append_int(out, static_cast<std::int64_t>(answer.id));
  out.append("\",\"name\":");
  append_json_string(out, answer.request.tool_name);
  out.append(",\"input\":");
}

void append_completion(std::string& out, const ChatAnswer& answer) {
  out.append("{\"id\":\"msg_mock_");
  append_int(out, static_cast<std::int64_t>(answer.id));
  out.append("\",\"type\":\"message\",\"role\":\"assistant\",\"model\":");
  append_json_string(out, answer.request.model);
  out.append(",\"content\":[");
  if (answer.thinking_tokens > 0) {
    out.append("{\"type\":\"thinking\",\"thinking\":\"");
    out.append(kThinkingText);
    out.append("\",\"signature\":");
    append_signature(out, answer);
    out.append("},");
  }
  if (answer.tool_call) {
    append_tool_use_head(out, answer);
    append_arguments(out, answer.request.tool_query, false);
    out.push_back('}');
  } else {
    out.append("{\"type\":\"text\",\"text\":\"");
    append_all_content(out, answer);
    out.append("\"}");
  }
  out.append("],\"stop_reason\":\"");
  out.append(stop_reason(answer));
  out.append("\",\"stop_sequence\":null,\"usage\":{\"input_tokens\":");
  append_int(out, answer.request.prompt_tokens);
  out.append(",\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":0,\"output_tokens\":");
  append_int(out, output_tokens(answer));
  out.append("}}");
}

// Streams: every event is `event: <type>\ndata: <json>\n\n`. The content block (text or tool_use)
// is block 1 after a thinking block, else block 0; `scratch` keeps the start of its deltas.

void append_event(std::string& out, std::string_view type) {
  out.append("event: ");
  out.append(type);
  out.append("\ndata: {\"type\":\"");
  out.append(type);
  out.push_back('"');
}

std::int64_t content_index(const ChatAnswer& answer) { return answer.thinking_tokens > 0 ? 1 : 0; }

void append_block_event(std::string& out, std::string_view type, std::int64_t index) {
  append_event(out, type);
  out.append(",\"index\":");
  append_int(out, index);
}

void append_stream_open(std::string& out, std::string& scratch, const ChatAnswer& answer) {
  append_event(out, "message_start");
  out.append(",\"message\":{\"id\":\"msg_mock_");
  append_int(out, static_cast<std::int64_t>(answer.id));
  out.append("\",\"type\":\"message\",\"role\":\"assistant\",\"model\":");
  append_json_string(out, answer.request.model);
  out.append(",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,\"usage\":");
  out.append("{\"input_tokens\":");
  append_int(out, answer.request.prompt_tokens);
  out.append(",\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":0,");
  out.append("\"output_tokens\":0}}}\n\n");

  if (answer.thinking_tokens > 0) {
    append_block_event(out, "content_block_start", 0);
    out.append(
        ",\"content_block\":{\"type\":\"thinking\",\"thinking\":\"\",\"signature\":\"\"}}\n\n");
    append_block_event(out, "content_block_delta", 0);
    out.append(",\"delta\":{\"type\":\"thinking_delta\",\"thinking\":\"");
    out.append(kThinkingText);
    out.append("\"}}\n\n");
    append_block_event(out, "content_block_delta", 0);
    out.append(",\"delta\":{\"type\":\"signature_delta\",\"signature\":");
    append_signature(out, answer);
    out.append("}}\n\n");
    append_block_event(out, "content_block_stop", 0);
    out.append("}\n\n");
  }

  const std::int64_t index = content_index(answer);
  append_block_event(out, "content_block_start", index);
  out.append(",\"content_block\":");
  if (answer.tool_call) {
    append_tool_use_head(out, answer);
    out.append("{}}}\n\n");
  } else {
    out.append("{\"type\":\"text\",\"text\":\"\"}}\n\n");
  }
  append_event(out, "ping");
  out.append("}\n\n");

  scratch.clear();
  append_block_event(scratch, "content_block_delta", index);
  scratch.append(answer.tool_call ? ",\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\""
                                  : ",\"delta\":{\"type\":\"text_delta\",\"text\":\"");
}

void append_stream_token(std::string& out, const std::string& scratch, const ChatAnswer& answer,
                         std::int64_t i) {
  out.append(scratch);
  if (answer.tool_call) {
    append_arguments_piece(out, answer.request.tool_query, i, true);
  } else {
    append_content(out, answer, i);
  }
  out.append("\"}}\n\n");
}

// content_block_stop, message_delta (stop reason, output tokens so far), message_stop.
int stream_tail_events(const ChatAnswer& /*answer*/) { return 3; }

void append_stream_tail(std::string& out, const std::string& /*scratch*/, const ChatAnswer& answer,
                        int k) {
  if (k == 0) {
    append_block_event(out, "content_block_stop", content_index(answer));
    out.append("}\n\n");
  } else if (k == 1) {
    append_event(out, "message_delta");
    out.append(",\"delta\":{\"stop_reason\":\"");
    out.append(stop_reason(answer));
    out.append("\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":");
    append_int(out, output_tokens(answer));
    out.append("}}\n\n");
  } else {
    append_event(out, "message_stop");
    out.append("}\n\n");
  }
}

// RESET is a duration from now; the header carries the moment as RFC 3339, whole seconds
// rounded up. A RESET that is no duration is sent as it is.
void append_ratelimit_headers(std::string& out, std::int64_t remaining, std::string_view reset,
                              std::int64_t reset_ms) {
  char buf[32];
  if (reset_ms >= 0) {
    const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
    const std::time_t at = static_cast<std::time_t>((now + reset_ms + 999) / 1000);
    std::tm tm{};
    gmtime_r(&at, &tm);
    reset = std::string_view(buf, std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm));
  }
  append_ratelimit_lines(out,
                         {.limit = "anthropic-ratelimit-requests-limit",
                          .remaining = "anthropic-ratelimit-requests-remaining",
                          .reset = "anthropic-ratelimit-requests-reset"},
                         remaining, reset);
}

void append_model(std::string& out, std::string_view id) {
  out.append("{\"type\":\"model\",\"id\":");
  append_json_string(out, id);
  out.append(",\"display_name\":");
  append_json_string(out, id);
  out.append(",\"created_at\":\"");
  out.append(kModelsCreatedAt);
  out.append("\"}");
}

std::string render_model_list(const std::vector<std::string>& models) {
  std::string out =
      render_list("{\"data\":[", models, append_model, "],\"has_more\":false,\"first_id\":");
  if (models.empty()) {
    out.append("null,\"last_id\":null}");
    return out;
  }
  append_json_string(out, models.front());
  out.append(",\"last_id\":");
  append_json_string(out, models.back());
  out.push_back('}');
  return out;
}

}  // namespace

constinit const Dialect kAnthropicDialect{
    .marker_header = "anthropic-version",
    .match = match,
    .required_header = "anthropic-version",
    .missing_header_message = "anthropic-version: header is required",
    .interpret = interpret,
    .append_answer_now = append_answer_now,
    .invalid_json_message = "There was an error parsing the body of your request",
    .append_error = append_error,
    .append_context_length_error = append_context_length_error,
    .append_completion = append_completion,
    .append_stream_open = append_stream_open,
    .stream_content_events = one_event_per_token,
    .append_stream_token = append_stream_token,
    .stream_tail_events = stream_tail_events,
    .append_stream_tail = append_stream_tail,
    .malformed_event = "event: content_block_delta\ndata: {\"type\": broken\n\n",
    .error_event =
        "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\","
        "\"message\":\"mock fault: error event\"}}\n\n",
    .append_ratelimit_headers = append_ratelimit_headers,
    .render_model_list = render_model_list,
    .append_model = append_model,
};

}  // namespace shepherd::mock::detail
