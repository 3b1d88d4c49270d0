// The OpenAI legacy completions dialect (POST /v1/completions, /completions); see
// openai_dialect.hpp, and mock_upstream.hpp for the answers it renders. Its errors, usage and
// stream conventions are the chat dialect's.
#include <boost/json/value.hpp>
#include <utility>

#include "mock/openai_dialect.hpp"
#include "mock/text.hpp"

namespace shepherd::mock::detail {
namespace {

namespace json = boost::json;
using openai::bad_request;

Endpoint match(std::string_view path, std::string_view /*query*/, bool /*marked*/) {
  if (path == "/v1/completions" || path == "/completions") return {Operation::kChat};
  return {};
}

bool is_token_id(const json::value& v) { return v.is_int64() || v.is_uint64(); }

// Words of a string, or one token per id of a token array; -1: neither.
std::int64_t prompt_item_tokens(const json::value& v) {
  if (const json::string* text = v.if_string()) return count_words(*text);
  if (const json::array* ids = v.if_array()) {
    for (const json::value& id : *ids) {
      if (!is_token_id(id)) return -1;
    }
    return static_cast<std::int64_t>(ids->size());
  }
  return -1;
}

// `prompt` is a string, an array of strings, an array of token ids or an array of token arrays.
base::Result<ChatRequest> interpret(const json::value& body, const Endpoint& /*endpoint*/) {
  const json::object* obj = body.if_object();
  if (obj == nullptr) return bad_request("the request body must be a JSON object");
  ChatRequest chat;

  const json::value* model = obj->if_contains("model");
  if (model == nullptr) return bad_request("you must provide a model parameter");
  if (!model->is_string()) return bad_request("'model' must be a string");
  chat.model = model->get_string();

  if (const json::value* prompt = obj->if_contains("prompt"); prompt && !prompt->is_null()) {
    std::int64_t tokens = prompt_item_tokens(*prompt);
    if (tokens < 0 && prompt->is_array()) {
      tokens = 0;
      for (const json::value& item : prompt->get_array()) {
        const std::int64_t n = prompt_item_tokens(item);
        if (n < 0) {
          tokens = -1;
          break;
        }
        tokens += n;
      }
    }
    if (tokens < 0) {
      return bad_request(
          "'prompt' must be a string, an array of strings, an array of token ids or an array of "
          "token arrays");
    }
    chat.prompt_tokens = tokens;
  }

  if (auto s = openai::read_stream(body, chat); !s) return std::move(s).error();
  if (auto s = openai::read_max_tokens(body, chat, {"max_tokens"}); !s) {
    return std::move(s).error();
  }
  return chat;
}

base::Status append_answer_now(std::string& /*out*/, const json::value& /*body*/,
                               const Endpoint& /*endpoint*/) {
  return bad_request("unsupported operation");
}

std::string_view finish_reason(const ChatAnswer& answer) {
  return answer.truncated ? "length" : "stop";
}

void append_completion(std::string& out, const ChatAnswer& answer) {
  out.append("{\"id\":\"cmpl-mock-");
  append_int(out, static_cast<std::int64_t>(answer.id));
  out.append("\",\"object\":\"text_completion\",\"created\":");
  append_int(out, answer.created);
  out.append(",\"model\":");
  append_json_string(out, answer.request.model);
  out.append(",\"choices\":[{\"text\":\"");
  for (std::int64_t i = 0; i < answer.tokens; ++i) append_content(out, answer, i);
  out.append("\",\"index\":0,\"logprobs\":null,\"finish_reason\":\"");
  out.append(finish_reason(answer));
  out.append("\"}]");
  if (!answer.no_usage) {
    out.append(",\"usage\":");
    openai::append_usage(out, answer.request.prompt_tokens, answer.tokens);
  }
  out.push_back('}');
}

// Streams: `data: <chunk>\n\n` events sharing a prefix up to "choices":[, kept in `scratch`.
// Unlike chat, there is no opening (role) chunk.
void append_stream_open(std::string& /*out*/, std::string& scratch, const ChatAnswer& answer) {
  scratch.clear();
  scratch.append("data: {\"id\":\"cmpl-mock-");
  append_int(scratch, static_cast<std::int64_t>(answer.id));
  scratch.append("\",\"object\":\"text_completion\",\"created\":");
  append_int(scratch, answer.created);
  scratch.append(",\"model\":");
  append_json_string(scratch, answer.request.model);
  scratch.append(",\"choices\":[");
}

std::int64_t stream_content_events(const ChatAnswer& answer) { return answer.tokens; }

void append_stream_token(std::string& out, const std::string& scratch, const ChatAnswer& answer,
                         std::int64_t i) {
  out.append(scratch);
  out.append("{\"text\":\"");
  append_content(out, answer, i);
  out.append("\",\"index\":0,\"logprobs\":null,\"finish_reason\":null}]");
  out.append(openai::chunk_end(answer));
}

// The finish chunk, the usage chunk when asked for, then [DONE].
int stream_tail_events(const ChatAnswer& answer) { return openai::stream_usage(answer) ? 3 : 2; }

void append_stream_tail(std::string& out, const std::string& scratch, const ChatAnswer& answer,
                        int k) {
  if (k == stream_tail_events(answer) - 1) {
    out.append("data: [DONE]\n\n");
  } else if (k == 0) {
    out.append(scratch);
    out.append("{\"text\":\"\",\"index\":0,\"logprobs\":null,\"finish_reason\":\"");
    out.append(finish_reason(answer));
    out.append("\"}]");
    out.append(openai::chunk_end(answer));
  } else {
    out.append(scratch);
    out.append("],\"usage\":");
    openai::append_usage(out, answer.request.prompt_tokens, answer.tokens);
    out.append("}\n\n");
  }
}

}  // namespace

constinit const Dialect kOpenAiCompletionsDialect{
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
    .stream_content_events = stream_content_events,
    .append_stream_token = append_stream_token,
    .stream_tail_events = stream_tail_events,
    .append_stream_tail = append_stream_tail,
    .malformed_event = openai::kMalformedEvent,
    .error_event = openai::kErrorEvent,
    .append_ratelimit_headers = openai::append_ratelimit_headers,
    .render_model_list = nullptr,
    .append_model = nullptr,
};

}  // namespace shepherd::mock::detail
