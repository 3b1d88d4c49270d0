// The OpenAI dialect; see openai_dialect.hpp, and mock_upstream.hpp for the answers it renders.
#include "mock/openai_dialect.hpp"

#include <algorithm>
#include <boost/json/value.hpp>
#include <utility>

#include "mock/text.hpp"

namespace shepherd::mock::detail {
namespace {

namespace json = boost::json;

constexpr std::int64_t kModelsCreated = 1700000000;
constexpr std::int64_t kMaxTokensCap = 1000000000;  // what a max_tokens above int64 counts as
constexpr std::array<std::string_view, 2> kChatPaths = {"/v1/chat/completions",
                                                        "/chat/completions"};

base::Error bad_request(std::string message) {
  return base::make_error(base::ErrorCode::kBadRequest, std::move(message));
}

base::Result<ChatRequest> interpret(const json::value& body) {
  const json::object* obj = body.if_object();
  if (obj == nullptr) return bad_request("the request body must be a JSON object");
  ChatRequest chat;

  const json::value* model = obj->if_contains("model");
  if (model == nullptr) return bad_request("you must provide a model parameter");
  if (!model->is_string()) return bad_request("'model' must be a string");
  chat.model = model->get_string();

  const json::value* messages = obj->if_contains("messages");
  if (messages == nullptr) return bad_request("missing required parameter: 'messages'");
  const json::array* list = messages->if_array();
  if (list == nullptr || list->empty()) return bad_request("'messages' must be a non-empty array");
  for (const json::value& m : *list) {
    const json::object* message = m.if_object();
    if (message == nullptr) return bad_request("each of 'messages' must be an object");
    const json::value* content = message->if_contains("content");
    if (content == nullptr) continue;
    if (const json::string* text = content->if_string()) {
      chat.prompt_tokens += count_words(*text);
    } else if (const json::array* parts = content->if_array()) {
      for (const json::value& part : *parts) {
        const json::object* p = part.if_object();
        const json::value* text_value = p == nullptr ? nullptr : p->if_contains("text");
        if (text_value != nullptr && text_value->is_string()) {
          chat.prompt_tokens += count_words(text_value->get_string());
        }
      }
    }
  }

  if (const json::value* stream = obj->if_contains("stream"); stream && !stream->is_null()) {
    if (!stream->is_bool()) return bad_request("'stream' must be a boolean");
    chat.stream = stream->get_bool();
  }
  if (const json::value* so = obj->if_contains("stream_options"); so && so->is_object()) {
    const json::value* include = so->get_object().if_contains("include_usage");
    chat.include_usage = include != nullptr && include->is_bool() && include->get_bool();
  }
  for (const std::string_view name : {"max_tokens", "max_completion_tokens"}) {
    const json::value* v = obj->if_contains(name);
    if (v == nullptr || v->is_null()) continue;
    std::int64_t n = -1;
    if (v->is_int64()) {
      n = v->get_int64();
    } else if (v->is_uint64()) {
      n = kMaxTokensCap;
    }
    if (n < 0) {
      std::string message("'");
      message.append(name);
      message.append("' must be a non-negative integer");
      return bad_request(std::move(message));
    }
    chat.max_tokens = chat.max_tokens ? std::min(*chat.max_tokens, n) : n;
  }
  return chat;
}

// The error `type` for a status.
std::string_view error_type(int status) {
  if (status == 429) return "requests";
  if (status >= 500) return "server_error";
  return "invalid_request_error";
}

void append_error(std::string& out, int status, std::string_view message, std::string_view code) {
  out.append("{\"error\":{\"message\":");
  append_json_string(out, message);
  out.append(",\"type\":");
  append_json_string(out, error_type(status));
  out.append(",\"param\":null,\"code\":");
  if (code.empty()) {
    out.append("null");
  } else {
    append_json_string(out, code);
  }
  out.append("}}");
}

void append_context_length_error(std::string& out, std::int64_t max_context,
                                 std::int64_t prompt_tokens) {
  std::string message = "This model's maximum context length is ";
  append_int(message, max_context);
  message.append(" tokens; the messages have ");
  append_int(message, prompt_tokens);
  append_error(out, 400, message, "context_length_exceeded");
}

std::string_view finish_reason(const ChatAnswer& answer) {
  return answer.truncated ? "length" : "stop";
}

void append_usage(std::string& out, std::int64_t prompt, std::int64_t completion) {
  out.append("{\"prompt_tokens\":");
  append_int(out, prompt);
  out.append(",\"completion_tokens\":");
  append_int(out, completion);
  out.append(",\"total_tokens\":");
  append_int(out, prompt + completion);
  out.push_back('}');
}

void append_completion(std::string& out, const ChatAnswer& answer) {
  out.append("{\"id\":\"chatcmpl-mock-");
  append_int(out, static_cast<std::int64_t>(answer.id));
  out.append("\",\"object\":\"chat.completion\",\"created\":");
  append_int(out, answer.created);
  out.append(",\"model\":");
  append_json_string(out, answer.request.model);
  out.append(",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"");
  for (std::int64_t i = 0; i < answer.tokens; ++i) append_content(out, answer, i);
  out.append("\"},\"finish_reason\":\"");
  out.append(finish_reason(answer));
  out.append("\"}]");
  if (!answer.no_usage) {
    out.append(",\"usage\":");
    append_usage(out, answer.request.prompt_tokens, answer.tokens);
  }
  out.push_back('}');
}

// Streams: every event is `data: <chunk>\n\n`; the chunks share a prefix up to "choices":[,
// kept in `scratch` with the `data: ` before it.

bool stream_usage(const ChatAnswer& answer) {
  return answer.request.include_usage && !answer.no_usage;
}

// What closes a chunk's object: with usage on, OpenAI sends "usage":null in every chunk before
// the usage chunk.
std::string_view chunk_end(const ChatAnswer& answer) {
  return stream_usage(answer) ? ",\"usage\":null}\n\n" : "}\n\n";
}

void append_stream_open(std::string& out, std::string& scratch, const ChatAnswer& answer) {
  scratch.clear();
  scratch.append("data: {\"id\":\"chatcmpl-mock-");
  append_int(scratch, static_cast<std::int64_t>(answer.id));
  scratch.append("\",\"object\":\"chat.completion.chunk\",\"created\":");
  append_int(scratch, answer.created);
  scratch.append(",\"model\":");
  append_json_string(scratch, answer.request.model);
  scratch.append(",\"choices\":[");

  out.append(scratch);
  out.append(
      "{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},"
      "\"finish_reason\":null}]");
  out.append(chunk_end(answer));
}

void append_stream_token(std::string& out, const std::string& scratch, const ChatAnswer& answer,
                         std::int64_t i) {
  out.append(scratch);
  out.append("{\"index\":0,\"delta\":{\"content\":\"");
  append_content(out, answer, i);
  out.append("\"},\"finish_reason\":null}]");
  out.append(chunk_end(answer));
}

// The finish chunk, the usage chunk when asked for, then [DONE].
int stream_tail_events(const ChatAnswer& answer) { return stream_usage(answer) ? 3 : 2; }

void append_stream_tail(std::string& out, const std::string& scratch, const ChatAnswer& answer,
                        int k) {
  if (k == stream_tail_events(answer) - 1) {
    out.append("data: [DONE]\n\n");
  } else if (k == 0) {
    out.append(scratch);
    out.append("{\"index\":0,\"delta\":{},\"finish_reason\":\"");
    out.append(finish_reason(answer));
    out.append("\"}]");
    out.append(chunk_end(answer));
  } else {
    out.append(scratch);
    out.append("],\"usage\":");
    append_usage(out, answer.request.prompt_tokens, answer.tokens);
    out.append("}\n\n");
  }
}

std::string render_model_list(const std::vector<std::string>& models) {
  std::string out = "{\"object\":\"list\",\"data\":[";
  for (std::size_t i = 0; i < models.size(); ++i) {
    if (i != 0) out.push_back(',');
    out.append("{\"id\":");
    append_json_string(out, models[i]);
    out.append(",\"object\":\"model\",\"created\":");
    append_int(out, kModelsCreated);
    out.append(",\"owned_by\":\"mock\"}");
  }
  out.append("]}");
  return out;
}

void append_model(std::string& out, std::string_view id) {
  out.append("{\"id\":");
  append_json_string(out, id);
  out.append(",\"object\":\"model\",\"created\":");
  append_int(out, kModelsCreated);
  out.append(",\"owned_by\":\"mock\"}");
}

}  // namespace

constinit const Dialect kOpenAiDialect{
    .chat_paths = kChatPaths,
    .interpret = interpret,
    .invalid_json_message =
        "We could not parse the JSON body of your request. (HINT: This likely means you aren't "
        "using your HTTP library correctly.)",
    .append_error = append_error,
    .append_context_length_error = append_context_length_error,
    .append_completion = append_completion,
    .append_stream_open = append_stream_open,
    .append_stream_token = append_stream_token,
    .stream_tail_events = stream_tail_events,
    .append_stream_tail = append_stream_tail,
    .malformed_event = "data: {\"id\": broken\n\n",
    .error_event =
        "data: {\"error\":{\"message\":\"mock fault: error event\",\"type\":\"server_error\","
        "\"param\":null,\"code\":null}}\n\n",
    .render_model_list = render_model_list,
    .append_model = append_model,
};

}  // namespace shepherd::mock::detail
