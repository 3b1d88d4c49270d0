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

base::Error bad_request(std::string message);
// max_tokens-like fields of `body`, each a non-negative integer or null; the smallest wins.
base::Status read_max_tokens(const boost::json::value& body, ChatRequest& chat,
                             std::initializer_list<std::string_view> names);
// `stream` and stream_options.include_usage.
base::Status read_stream(const boost::json::value& body, ChatRequest& chat);
void append_error(std::string& out, int status, std::string_view message, std::string_view code);
void append_context_length_error(std::string& out, std::int64_t max_context,
                                 std::int64_t prompt_tokens);
void append_usage(std::string& out, std::int64_t prompt, std::int64_t completion);
// With usage on, OpenAI sends "usage":null in every chunk before the usage chunk.
bool stream_usage(const ChatAnswer& answer);
std::string_view chunk_end(const ChatAnswer& answer);
void append_ratelimit_headers(std::string& out, std::int64_t remaining, std::string_view reset,
                              std::int64_t reset_ms);

}  // namespace openai

}  // namespace shepherd::mock::detail
