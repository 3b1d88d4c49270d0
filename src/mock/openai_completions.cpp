// The OpenAI legacy completions dialect (POST /v1/completions, /completions); see
// openai_dialect.hpp, and mock_upstream.hpp for the answers it renders. Its errors, usage and
// stream conventions are the chat dialect's.
#include <boost/json/value.hpp>
#include <utility>

#include "mock/common.hpp"
#include "mock/openai_dialect.hpp"
#include "mock/text.hpp"

namespace shepherd::mock::detail {
namespace {

namespace json = boost::json;

constexpr std::string_view kIdPrefix = "cmpl-mock-";
constexpr std::string_view kObject = "text_completion";

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
  auto model = openai::read_model(body);
  if (!model) return std::move(model).error();
  const json::object* obj = &body.get_object();
  ChatRequest chat;
  chat.model = *model;

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

void append_completion(std::string& out, const ChatAnswer& answer) {
  openai::append_answer_head(out, kIdPrefix, kObject, answer);
  out.append("{\"text\":\"");
  append_all_content(out, answer);
  out.append("\",\"index\":0,\"logprobs\":null,\"finish_reason\":\"");
  openai::append_answer_end(out, answer);
}

// Streams: see openai_dialect.hpp. Unlike chat, there is no opening (role) chunk, and the chunks'
// object is the answer's.
void append_stream_open(std::string& /*out*/, std::string& scratch, const ChatAnswer& answer) {
  scratch.assign("data: ");
  openai::append_answer_head(scratch, kIdPrefix, kObject, answer);
}

void append_stream_token(std::string& out, const std::string& scratch, const ChatAnswer& answer,
                         std::int64_t i) {
  out.append(scratch);
  out.append("{\"text\":\"");
  append_content(out, answer, i);
  out.append("\",\"index\":0,\"logprobs\":null,\"finish_reason\":null}]");
  out.append(openai::chunk_end(answer));
}

void append_stream_tail(std::string& out, const std::string& scratch, const ChatAnswer& answer,
                        int k) {
  openai::append_stream_tail(out, scratch, answer, k,
                             "{\"text\":\"\",\"index\":0,\"logprobs\":null,\"finish_reason\":\"");
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
    .stream_content_events = one_event_per_token,
    .append_stream_token = append_stream_token,
    .stream_tail_events = openai::stream_tail_events,
    .append_stream_tail = append_stream_tail,
    .malformed_event = openai::kMalformedEvent,
    .error_event = openai::kErrorEvent,
    .append_ratelimit_headers = openai::append_ratelimit_headers,
    .render_model_list = nullptr,
    .append_model = nullptr,
};

}  // namespace shepherd::mock::detail
