// The OpenAI chat dialect and what both OpenAI dialects share; see openai_dialect.hpp, and
// mock_upstream.hpp for the answers it renders.
#include "mock/openai_dialect.hpp"

#include <algorithm>
#include <boost/json/value.hpp>
#include <charconv>
#include <utility>

#include "mock/common.hpp"
#include "mock/embedding.hpp"
#include "mock/text.hpp"

namespace shepherd::mock::detail {

namespace json = boost::json;

namespace openai {
namespace {

constexpr std::int64_t kMaxTokensCap = 1000000000;  // what a max_tokens above int64 counts as

// The error `type` for a status.
std::string_view error_type(int status) {
  if (status == 429) return "requests";
  if (status >= 500) return "server_error";
  return "invalid_request_error";
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

bool stream_usage(const ChatAnswer& answer) {
  return answer.request.include_usage && !answer.no_usage;
}

}  // namespace

base::Result<std::string_view> read_model(const json::value& body) {
  const json::object* obj = body.if_object();
  if (obj == nullptr) return bad_request("the request body must be a JSON object");
  const json::value* model = obj->if_contains("model");
  if (model == nullptr) return bad_request("you must provide a model parameter");
  if (!model->is_string()) return bad_request("'model' must be a string");
  return std::string_view(model->get_string());
}

base::Status read_max_tokens(const json::value& body, ChatRequest& chat,
                             std::initializer_list<std::string_view> names) {
  const json::object& obj = body.get_object();
  for (const std::string_view name : names) {
    const json::value* v = obj.if_contains(name);
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
  return base::Ok{};
}

base::Status read_stream(const json::value& body, ChatRequest& chat) {
  const json::object& obj = body.get_object();
  if (const json::value* stream = obj.if_contains("stream"); stream && !stream->is_null()) {
    if (!stream->is_bool()) return bad_request("'stream' must be a boolean");
    chat.stream = stream->get_bool();
  }
  if (const json::value* so = obj.if_contains("stream_options"); so && so->is_object()) {
    const json::value* include = so->get_object().if_contains("include_usage");
    chat.include_usage = include != nullptr && include->is_bool() && include->get_bool();
  }
  return base::Ok{};
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

void append_ratelimit_headers(std::string& out, std::int64_t remaining, std::string_view reset,
                              std::int64_t /*reset_ms*/) {
  append_ratelimit_lines(out,
                         {.limit = "x-ratelimit-limit-requests",
                          .remaining = "x-ratelimit-remaining-requests",
                          .reset = "x-ratelimit-reset-requests"},
                         remaining, reset);
}

void append_answer_head(std::string& out, std::string_view id_prefix, std::string_view object,
                        const ChatAnswer& answer) {
  out.append("{\"id\":\"");
  out.append(id_prefix);
  append_int(out, static_cast<std::int64_t>(answer.id));
  out.append("\",\"object\":\"");
  out.append(object);
  out.append("\",\"created\":");
  append_int(out, answer.created);
  out.append(",\"model\":");
  append_json_string(out, answer.request.model);
  out.append(",\"choices\":[");
}

std::string_view finish_reason(const ChatAnswer& answer) {
  if (answer.tool_call) return "tool_calls";
  return answer.truncated ? "length" : "stop";
}

void append_answer_end(std::string& out, const ChatAnswer& answer) {
  out.append(finish_reason(answer));
  out.append("\"}]");
  if (!answer.no_usage) {
    out.append(",\"usage\":");
    append_usage(out, answer.request.prompt_tokens, answer.tokens);
  }
  out.push_back('}');
}

std::string_view chunk_end(const ChatAnswer& answer) {
  return stream_usage(answer) ? ",\"usage\":null}\n\n" : "}\n\n";
}

int stream_tail_events(const ChatAnswer& answer) { return stream_usage(answer) ? 3 : 2; }

void append_stream_tail(std::string& out, const std::string& scratch, const ChatAnswer& answer,
                        int k, std::string_view finish_choice) {
  if (k == stream_tail_events(answer) - 1) {
    out.append("data: [DONE]\n\n");
  } else if (k == 0) {
    out.append(scratch);
    out.append(finish_choice);
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

}  // namespace openai

namespace {

constexpr std::int64_t kModelsCreated = 1700000000;

Endpoint match(std::string_view path, std::string_view /*query*/, bool /*marked*/) {
  if (path == "/v1/chat/completions" || path == "/chat/completions") return {Operation::kChat};
  if (path == "/v1/embeddings" || path == "/embeddings") return {Operation::kEmbed};
  if (path == "/v1/models" || path == "/models") return {Operation::kModelList};
  for (const std::string_view prefix : {"/v1/models/", "/models/"}) {
    if (path.starts_with(prefix)) return {Operation::kModel, path.substr(prefix.size())};
  }
  return {};
}

// The text of a message's content: the string, or the last text part of an array.
std::string_view last_text(const json::value* content) {
  if (content == nullptr) return {};
  if (const json::string* text = content->if_string()) return *text;
  std::string_view last;
  if (const json::array* parts = content->if_array()) {
    for (const json::value& part : *parts) {
      if (const json::string* text = string_member(&part, "text")) last = *text;
    }
  }
  return last;
}

// The tool to call: the one tool_choice names, else the first declared; none when tool_choice is
// "none" or nothing is declared.
std::string_view chosen_tool(const json::object& obj) {
  const json::value* choice = obj.if_contains("tool_choice");
  if (choice != nullptr) {
    if (const json::string* mode = choice->if_string(); mode && *mode == "none") return {};
    if (const json::string* name = string_member(member(choice, "function"), "name")) return *name;
  }
  const json::array* tools = array_member(&obj, "tools");
  if (tools == nullptr) return {};
  for (const json::value& tool : *tools) {
    if (const json::string* name = string_member(member(&tool, "function"), "name")) return *name;
  }
  return {};
}

base::Result<ChatRequest> interpret(const json::value& body, const Endpoint& /*endpoint*/) {
  auto model = openai::read_model(body);
  if (!model) return std::move(model).error();
  const json::object* obj = &body.get_object();
  ChatRequest chat;
  chat.model = *model;

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
      chat.prompt_tokens += count_text_words(*parts);
    }
  }

  if (auto s = openai::read_stream(body, chat); !s) return std::move(s).error();
  if (auto s = openai::read_max_tokens(body, chat, {"max_tokens", "max_completion_tokens"}); !s) {
    return std::move(s).error();
  }

  // A tool call answers a user turn; after a tool result (role "tool") the answer is text.
  const json::object& last = list->back().get_object();
  const json::value* role = last.if_contains("role");
  if (role != nullptr && role->is_string() && role->get_string() == "user") {
    offer_tool_call(chat, chosen_tool(*obj), last_text(last.if_contains("content")));
  }
  return chat;
}

// Embeddings: `input` is a string, an array of strings, an array of token ids or an array of
// arrays of token ids. A token array embeds as its ids' decimal text joined by single spaces and
// counts one token per id.
base::Status append_answer_now(std::string& out, const json::value& body,
                               const Endpoint& endpoint) {
  if (endpoint.op != Operation::kEmbed) return bad_request("unsupported operation");
  auto model = openai::read_model(body);
  if (!model) return std::move(model).error();
  const json::object* obj = &body.get_object();
  const json::value* input = obj->if_contains("input");
  if (input == nullptr) return bad_request("missing required parameter: 'input'");
  bool base64 = false;
  if (const json::value* format = obj->if_contains("encoding_format");
      format && !format->is_null()) {
    const json::string* f = format->if_string();
    if (f == nullptr || (*f != "float" && *f != "base64")) {
      return bad_request("'encoding_format' must be \"float\" or \"base64\"");
    }
    base64 = *f == "base64";
  }

  // The inputs: one string, or an array whose items are all strings, all ids or all id arrays.
  const json::array* items = input->if_array();
  const bool ids = items != nullptr && !items->empty() && items->front().is_number();
  if (items != nullptr && items->empty()) return bad_request("'input' must not be empty");
  if (items == nullptr && !input->is_string()) {
    return bad_request("'input' must be a string or an array");
  }
  const auto token_ids = [](const json::value& v) -> const json::array* {
    const json::array* a = v.if_array();
    if (a == nullptr) return nullptr;
    for (const json::value& id : *a) {
      if (!id.is_int64() && !id.is_uint64()) return nullptr;
    }
    return a;
  };

  out.append("{\"object\":\"list\",\"data\":[");
  std::int64_t prompt_tokens = 0;
  const std::size_t count = ids || items == nullptr ? 1 : items->size();
  for (std::size_t i = 0; i < count; ++i) {
    const json::value& item = ids || items == nullptr ? *input : (*items)[i];
    TextHash hash;
    if (const json::string* text = item.if_string()) {
      hash.add(*text);
      prompt_tokens += count_words(*text);
    } else if (const json::array* id_list = token_ids(item)) {
      for (std::size_t j = 0; j < id_list->size(); ++j) {
        if (j != 0) hash.add(" ");
        const json::value& id = (*id_list)[j];
        char digits[24];
        const auto r = id.is_int64()
                           ? std::to_chars(digits, digits + sizeof digits, id.get_int64())
                           : std::to_chars(digits, digits + sizeof digits, id.get_uint64());
        hash.add(std::string_view(digits, static_cast<std::size_t>(r.ptr - digits)));
      }
      prompt_tokens += static_cast<std::int64_t>(id_list->size());
    } else {
      return bad_request("'input' must be strings, token ids or arrays of token ids");
    }
    if (i != 0) out.push_back(',');
    out.append("{\"object\":\"embedding\",\"index\":");
    append_int(out, static_cast<std::int64_t>(i));
    out.append(",\"embedding\":");
    if (base64) {
      append_embedding_base64(out, hash.value);
    } else {
      append_embedding_array(out, hash.value);
    }
    out.push_back('}');
  }
  out.append("],\"model\":");
  append_json_string(out, *model);
  out.append(",\"usage\":{\"prompt_tokens\":");
  append_int(out, prompt_tokens);
  out.append(",\"total_tokens\":");
  append_int(out, prompt_tokens);
  out.append("}}");
  return base::Ok{};
}

constexpr std::string_view kIdPrefix = "chatcmpl-mock-";

// A tool call's `"id":...,"type":"function","function":{"name":...`.
void append_tool_call_head(std::string& out, const ChatAnswer& answer) {
  out.append("\"id\":\"call_mock_");
  append_int(out, static_cast<std::int64_t>(answer.id));
  out.append("\",\"type\":\"function\",\"function\":{\"name\":");
  append_json_string(out, answer.request.tool_name);
}

void append_completion(std::string& out, const ChatAnswer& answer) {
  openai::append_answer_head(out, kIdPrefix, "chat.completion", answer);
  out.append("{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":");
  if (answer.tool_call) {
    // A non-streaming tool call carries no "index" in OpenAI's answers.
    out.append("null,\"tool_calls\":[{");
    append_tool_call_head(out, answer);
    out.append(",\"arguments\":\"");
    append_arguments(out, answer.request.tool_query, true);
    out.append("\"}}]");
  } else {
    out.push_back('"');
    append_all_content(out, answer);
    out.push_back('"');
  }
  out.append("},\"finish_reason\":\"");
  openai::append_answer_end(out, answer);
}

// Streams: see openai_dialect.hpp. A role chunk opens the stream.

void append_stream_open(std::string& out, std::string& scratch, const ChatAnswer& answer) {
  scratch.assign("data: ");
  openai::append_answer_head(scratch, kIdPrefix, "chat.completion.chunk", answer);

  out.append(scratch);
  if (answer.tool_call) {
    // The first tool-call delta (id, name, no arguments yet) rides on the role chunk, as OpenAI
    // sends it.
    out.append(
        "{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{"
        "\"index\":0,");
    append_tool_call_head(out, answer);
    out.append(",\"arguments\":\"\"}}]},\"finish_reason\":null}]");
  } else {
    out.append(
        "{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},"
        "\"finish_reason\":null}]");
  }
  out.append(openai::chunk_end(answer));
}

void append_stream_token(std::string& out, const std::string& scratch, const ChatAnswer& answer,
                         std::int64_t i) {
  out.append(scratch);
  if (answer.tool_call) {
    out.append(
        "{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"");
    append_arguments_piece(out, answer.request.tool_query, i, true);
    out.append("\"}}]},\"finish_reason\":null}]");
  } else {
    out.append("{\"index\":0,\"delta\":{\"content\":\"");
    append_content(out, answer, i);
    out.append("\"},\"finish_reason\":null}]");
  }
  out.append(openai::chunk_end(answer));
}

void append_stream_tail(std::string& out, const std::string& scratch, const ChatAnswer& answer,
                        int k) {
  openai::append_stream_tail(out, scratch, answer, k,
                             "{\"index\":0,\"delta\":{},\"finish_reason\":\"");
}

void append_model(std::string& out, std::string_view id) {
  out.append("{\"id\":");
  append_json_string(out, id);
  out.append(",\"object\":\"model\",\"created\":");
  append_int(out, kModelsCreated);
  out.append(",\"owned_by\":\"mock\"}");
}

std::string render_model_list(const std::vector<std::string>& models) {
  return render_list("{\"object\":\"list\",\"data\":[", models, append_model, "]}");
}

}  // namespace

constinit const Dialect kOpenAiDialect{
    .marker_header = {},
    .match = match,
    .required_header = {},
    .missing_header_message = {},
    .interpret = interpret,
    .append_answer_now = append_answer_now,
    .invalid_json_message = openai::kInvalidJsonMessage,
    .append_error = openai::append_error,
    .append_context_length_error = openai::append_context_length_error,
    .append_completion = append_completion,
    .append_stream_open = append_stream_open,
    .stream_content_events = one_event_per_token,
    .append_stream_token = append_stream_token,
    .stream_tail_events = openai::stream_tail_events,
    .append_stream_tail = append_stream_tail,
    .malformed_event = openai::kMalformedEvent,
    .error_event = openai::kErrorEvent,
    .append_ratelimit_headers = openai::append_ratelimit_headers,
    .render_model_list = render_model_list,
    .append_model = append_model,
};

}  // namespace shepherd::mock::detail
