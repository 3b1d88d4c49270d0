// The OpenAI dialects. kOpenAiDialect: chat completions (POST /v1/chat/completions,
// /chat/completions) with their non-streaming and `data:`-only SSE answers and tool calls,
// embeddings (POST /v1/embeddings, /embeddings), the model routes (GET /v1/models, /models and
// /{id} under them) and the error shape {"error":{"message","type","param","code"}}; it is the
// default dialect, which answers every request no dialect claims. kOpenAiCompletionsDialect: the
// legacy completions API (POST /v1/completions, /completions), same error shape. Stateless; see
// dialect.hpp.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>

#include "mock/dialect.hpp"

namespace shepherd::mock::detail {

extern const Dialect kOpenAiDialect;
extern const Dialect kOpenAiCompletionsDialect;

// What the two OpenAI dialects share (openai_dialect.cpp).
namespace openai {

inline constexpr std::string_view kInvalidJsonMessage =
    "We could not parse the JSON body of your request. (HINT: This likely means you aren't using "
    "your HTTP library correctly.)";
inline constexpr std::string_view kMalformedEvent = "data: {\"id\": broken\n\n";
inline constexpr std::string_view kErrorEvent =
    "data: {\"error\":{\"message\":\"mock fault: error event\",\"type\":\"server_error\","
    "\"param\":null,\"code\":null}}\n\n";

// The body's `model`, after checking that the body is an object.
base::Result<std::string_view> read_model(const boost::json::value& body);
// max_tokens-like fields of `body`, each a non-negative integer or null; the smallest wins.
base::Status read_max_tokens(const boost::json::value& body, ChatRequest& chat,
                             std::initializer_list<std::string_view> names);
// `stream` and stream_options.include_usage.
base::Status read_stream(const boost::json::value& body, ChatRequest& chat);
void append_error(std::string& out, int status, std::string_view message, std::string_view code);
void append_context_length_error(std::string& out, std::int64_t max_context,
                                 std::int64_t prompt_tokens);
void append_ratelimit_headers(std::string& out, std::int64_t remaining, std::string_view reset,
                              std::int64_t reset_ms);

// Answers. Both dialects' answers and chunks begin `{"id":"<id_prefix><id>","object":"<object>",
// "created":...,"model":...,"choices":[` (a chunk with `data: ` before it).
void append_answer_head(std::string& out, std::string_view id_prefix, std::string_view object,
                        const ChatAnswer& answer);
// "tool_calls", "length" or "stop" (the legacy API makes no tool calls).
std::string_view finish_reason(const ChatAnswer& answer);
// How a non-streaming answer ends, after its choice's text up to "finish_reason":": the finish
// reason, the end of the choices, and the usage.
void append_answer_end(std::string& out, const ChatAnswer& answer);

// Streams: every event is `data: <chunk>\n\n`; `scratch` keeps the chunks' shared beginning,
// `data: ` and the answer head. With usage on, OpenAI sends "usage":null in every chunk before the
// usage chunk: chunk_end() ends a chunk after its choices.
std::string_view chunk_end(const ChatAnswer& answer);
// The tail: the finish chunk, whose one choice is `finish_choice` followed by the finish reason,
// then the usage chunk when asked for, then [DONE].
int stream_tail_events(const ChatAnswer& answer);
void append_stream_tail(std::string& out, const std::string& scratch, const ChatAnswer& answer,
                        int k, std::string_view finish_choice);

}  // namespace openai

}  // namespace shepherd::mock::detail
