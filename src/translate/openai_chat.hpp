// OpenAI chat completions (POST /v1/chat/completions) in the common form, both ways: clients that
// speak it to Shepherd, and OpenAI-compatible providers Shepherd speaks it to when the client
// speaks another format. (OpenAI in, OpenAI out never comes here: the pipeline forwards bytes.)
//
// Beyond OpenAI's own fields, thinking is carried the way OpenAI-compatible servers carry it:
// `reasoning_content` (DeepSeek, vLLM) holds the reasoning text, and `thinking_blocks`
// ([{"type":"thinking","thinking","signature"} | {"type":"redacted_thinking","data"}]) keeps
// Anthropic's signed blocks on assistant messages so a client can send them back next turn.
#pragma once

#include "translate/codec.hpp"

namespace shepherd::translate {

class OpenAiChatCodec final : public Codec {
 public:
  Wire wire() const override { return Wire::kOpenAiChat; }
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

const Codec& openai_chat_codec();

}  // namespace shepherd::translate
