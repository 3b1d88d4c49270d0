// FastChat's generate API as a provider's wire format (docs/fastchat-protocol.md §2, §3.3): the
// request FastChat's OpenAI API server sends a worker (generate parameters with a prompt rendered
// by a conversation template), and the worker's NUL-framed chunks of cumulative text read back
// into the common form. Used by the `kind: fastchat` adapter (fastchat_adapter.hpp).
//
// Pure; one codec instance shared by every thread, one decoder per stream.
#pragma once

#include "fastchat/conversation.hpp"
#include "translate/codec.hpp"

namespace shepherd::providers::fastchat {

// The generate parameters for `request` to `upstream_model`, with the prompt `conv` renders
// (as FastChat's API server builds them): temperature, top_p, top_k, penalties as sent (FastChat's
// defaults 0.7, 1.0, -1, 0 otherwise), max_new_tokens from max_tokens (1024 when unset: a worker
// truncates the prompt to make room for it), echo false, stop = the request's stop strings and
// the template's, stop_token_ids the template's. kBadRequest for what a prompt cannot carry
// (images, tool calls and results).
base::Status encode_generate(const shepherd::fastchat::Conversation& conv,
                             const translate::Request& request, std::string_view upstream_model,
                             std::string& out);

// FastChat's error code → Shepherd's error: 4030x are the request's fault (400), 42901/42902 rate
// limits (429), 42903 and 5xxxx the worker's (retryable). `text` is the worker's message.
base::Error generate_error(std::int64_t error_code, std::string_view text,
                           std::string_view provider);

class GenerateCodec final : public translate::Codec {
 public:
  translate::Wire wire() const override { return translate::Wire::kFastChatGenerate; }
  // Renders with Shepherd's default template (chatml); the adapter picks the model's own.
  base::Status encode_request(const translate::Request& request, std::string_view upstream_model,
                              std::string& out) const override;
  // A /worker_generate answer, or a whole /worker_generate_stream body (its last chunk).
  base::Result<translate::Response> decode_response(std::string_view body) const override;
  std::unique_ptr<translate::StreamDecoder> stream_decoder() const override;
  std::string error_message(std::string_view body) const override;
};

const translate::Codec& generate_codec();

}  // namespace shepherd::providers::fastchat
