// What the files of the Anthropic codec share (translate/anthropic/*.cpp): not part of the
// translation interface.
#pragma once

#include <boost/json.hpp>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "translate/anthropic.hpp"
#include "translate/json_util.hpp"

namespace shepherd::translate::detail::anthropic {

using base::ErrorCode;

// The operations of AnthropicCodec (codec.hpp says what each does), one file each: the client's
// request in request_decode.cpp, the provider's in request_encode.cpp, complete answers both ways
// in response.cpp, streams in stream_decode.cpp and stream_encode.cpp, errors in codec.cpp.
base::Result<Request> decode_request(std::string_view body, int max_depth);
base::Status encode_request(const Request& request, std::string_view upstream_model,
                            std::string& out);
base::Result<Response> decode_response(std::string_view body);
void encode_response(const Response& response, std::string_view model, std::string& out);
std::unique_ptr<StreamDecoder> stream_decoder();
std::unique_ptr<StreamEncoder> stream_encoder(std::string_view model);
std::string error_message(std::string_view body);

// Nesting allowed in provider answers and stream events (tool inputs are the only deep part).
inline constexpr std::size_t kUpstreamMaxDepth = 64;
// The longest error message passed on from Anthropic, in bytes.
inline constexpr std::size_t kMaxMessageBytes = 500;

// A client's field that is not what it must be: "<path> <what>", with `path` as the param.
inline base::Error field_error(std::string path, std::string_view what) {
  auto message = cat(path, " ", what);
  return bad_request(std::move(message), std::move(path));
}

// Memory for the JSON one call parses or builds: `N` bytes on the stack, then the heap.
template <std::size_t N>
class Scratch {
 public:
  json::storage_ptr storage() { return json::storage_ptr(&resource_); }

 private:
  unsigned char buffer_[N];
  json::monotonic_resource resource_{buffer_};
};

// `text` parsed with nesting at most `max_depth`, its memory from `sp`; `ec` set when it is not
// JSON.
json::value parse_json(std::string_view text, std::size_t max_depth, json::storage_ptr sp,
                       boost::system::error_code& ec);

// A provider's answer or stream event (`what`: "the body", "a stream event") parsed into `root`,
// with the memory of `root`: the object it is, or unreadable when it is not one.
base::Result<const json::object*> upstream_object(std::string_view text, std::string_view what,
                                                  json::value& root);

// Stop reasons both ways, and the HTTP status Anthropic answers with for an error `type`.
std::string_view stop_reason_name(StopReason reason);
StopReason stop_reason_of(std::string_view name);
int status_of_error_type(std::string_view type);

// Anthropic's error object for `error` ({"type":"error","error":{"type","message"}}).
void append_error(std::string& out, const base::Error& error);

// The usage of Anthropic's counts: its input_tokens leave out the cached tokens, which the
// common form's prompt_tokens include.
Usage usage_from(std::int64_t input, std::int64_t cache_creation, std::int64_t cache_read,
                 std::int64_t output);
// The common form's prompt tokens less the cached ones: Anthropic's input_tokens.
std::int64_t uncached_input_tokens(const Usage& usage);

// The arguments of a tool call as the object Anthropic's `input` takes; nullopt when they are
// not a JSON object. Empty arguments (some providers send "" for a call without any) are {}.
std::optional<json::value> tool_input(std::string_view arguments, json::storage_ptr sp);

}  // namespace shepherd::translate::detail::anthropic
