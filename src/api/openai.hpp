// The OpenAI chat-completions dialect: request validation, the minimal rewrites Shepherd makes
// to bodies it forwards, stream-chunk classification and the error shape.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.hpp"

namespace shepherd::api {

struct ChatRequest {
  std::string model;
  bool stream = false;
  // stream_options.include_usage as the client sent it.
  bool client_wants_usage = false;
  // max_tokens, max_completion_tokens or max_output_tokens (the largest), when an integer.
  std::optional<std::int64_t> max_tokens;
};

// Validates a /v1/chat/completions body: a JSON object (nesting at most `max_depth`) with a
// non-empty string `model`, a non-empty array `messages` of objects with a string `role`, and
// `stream` / `stream_options` of the right types when present. Errors are kBadRequest with
// `param` naming the field.
//
// Other endpoints share these rules with another field in place of `messages` (`content_key`):
// Anthropic's /v1/messages checks `messages` the same way; completions (`prompt`), embeddings
// and Responses (`input`) require that field to be a string or an array.
base::Result<ChatRequest> parse_chat_request(std::string_view body, int max_depth,
                                             std::string_view content_key = "messages");

// The body sent upstream: `body` with `model` set to `upstream_model` and, for streams,
// stream_options.include_usage set so usage is always reported. Returns `body` unchanged when
// nothing needs to change. `body` must have passed parse_chat_request.
std::string upstream_chat_body(std::string_view body, const ChatRequest& request,
                               std::string_view upstream_model);
// Whether upstream_chat_body changes anything (when not, the client's bytes go out as they are).
bool upstream_body_changes(const ChatRequest& request, std::string_view upstream_model);

// `json` with its top-level `model` set to `model` (the name the client asked for); `json`
// unchanged when it has no such field.
std::string with_model(std::string_view json, std::string_view model);

// Token usage as an OpenAI upstream reports it. prompt_tokens includes cached_tokens (prompt
// tokens read from the provider's cache, usage.prompt_tokens_details.cached_tokens);
// completion_tokens includes reasoning_tokens (usage.completion_tokens_details.reasoning_tokens).
struct Usage {
  std::int64_t prompt_tokens = 0;
  std::int64_t completion_tokens = 0;
  std::int64_t total_tokens = 0;
  std::int64_t cached_tokens = 0;
  std::int64_t reasoning_tokens = 0;
};

enum class ChunkKind {
  kDone,       // the "[DONE]" sentinel
  kData,       // an ordinary chunk
  kUsageOnly,  // the extra chunk include_usage adds: choices empty, usage set
  kError,      // an error object inside a 200 stream
};
struct ChunkInfo {
  ChunkKind kind = ChunkKind::kData;
  std::optional<Usage> usage;  // set when the chunk carries a usage object
};
// Inspects the data of one stream event. An error when it is neither "[DONE]" nor a JSON object
// (a malformed chunk).
base::Result<ChunkInfo> inspect_chunk(std::string_view data);

// Whether a stream chunk only opens the answer: every choice's delta is without content (or with
// empty content), tool calls, function call or refusal, and no finish_reason is set — the role
// chunk upstreams send first. Shepherd holds such chunks back until the first real one, so a
// slow first token can still be retried or hedged. `data` must be a chunk inspect_chunk() read
// as kData.
bool is_preamble_chunk(std::string_view data);

// The usage of a complete (non-streaming) chat completion. An error when `body` is not a JSON
// object; nullopt usage when it has none.
base::Result<std::optional<Usage>> inspect_completion(std::string_view body);

// `{"object":"list","data":[...]}` for GET /v1/models.
std::string models_body(const std::vector<std::string>& names, long created);

// The OpenAI error body for `error`: {"error":{"message","type","param","code"}}.
std::string error_body(const base::Error& error);

// The human-readable message inside an upstream's error body (OpenAI shape), or a cleaned
// excerpt of the body when it has none. Never longer than 500 bytes.
std::string upstream_error_message(std::string_view body);

}  // namespace shepherd::api
