// The Anthropic Messages API (POST /v1/messages) in the common form, both ways: clients such as
// the Anthropic SDKs and coding agents, and Anthropic as a provider. (Anthropic in, Anthropic out
// never comes here: the pipeline forwards bytes.)
//
// https://docs.anthropic.com/en/api/messages and .../messages-streaming: top-level `system`,
// content blocks (text, image by base64 or URL, tool_use, tool_result, thinking with its
// signature, redacted_thinking), tools and tool_choice, stop sequences, stop reasons, usage with
// cache creation and cache read tokens, and the stream's event sequence (message_start,
// content_block_start / _delta / _stop, message_delta, message_stop, ping, error).
#pragma once

#include "translate/codec.hpp"

namespace shepherd::translate {

// max_tokens is required by Anthropic; sent when the client gave none.
inline constexpr std::int64_t kAnthropicDefaultMaxTokens = 4096;

class AnthropicCodec final : public Codec {
 public:
  Wire wire() const override { return Wire::kAnthropic; }
  base::Result<Request> decode_request(std::string_view body, int max_depth) const override;
  void encode_response(const Request& request, const Response& response, std::string_view model,
                       std::string& out) const override;
  std::unique_ptr<StreamEncoder> stream_encoder(const Request& request,
                                                std::string_view model) const override;
  std::string error_body(const base::Error& error) const override;
  base::Status encode_request(const Request& request, std::string_view upstream_model,
                              std::string& out) const override;
  base::Result<Response> decode_response(std::string_view body) const override;
  std::unique_ptr<StreamDecoder> stream_decoder() const override;
  std::string error_message(std::string_view body) const override;
};

const Codec& anthropic_codec();

// Anthropic's error `type` for an error Shepherd answers ("invalid_request_error",
// "authentication_error", "permission_error", "not_found_error", "request_too_large",
// "rate_limit_error", "billing_error", "timeout_error", "api_error", "overloaded_error").
std::string_view anthropic_error_type(const base::Error& error);

}  // namespace shepherd::translate
