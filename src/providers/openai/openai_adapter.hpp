// OpenAI-compatible providers: OpenAI, relays, vLLM, llama.cpp's server, Ollama. Chat requests
// from OpenAI clients go out as the client's bytes with only the model (and, for streams, usage
// reporting) changed; completions and embeddings the same way.
#pragma once

#include "providers/provider.hpp"

namespace shepherd::providers::openai {

class OpenAiAdapter final : public Adapter {
 public:
  std::string_view kind() const override { return "openai"; }
  const translate::Codec& codec() const override;

  std::string request_head(const config::ProviderConfig& provider, Operation op,
                           std::string_view upstream_model, bool stream) const override;
  std::string probe_request(const config::ProviderConfig& provider) const override;
  std::string_view chat_body(const api::ChatRequest& request, std::string_view body,
                             std::string_view upstream_model, std::string& scratch) const override;
  base::Result<std::string_view> operation_body(Operation op, const api::ChatRequest& request,
                                                std::string_view body,
                                                std::string_view upstream_model, int max_depth,
                                                std::string& scratch) const override;
  base::Result<Answer> read_answer(std::string_view body) const override;
  base::Result<Event> read_event(const api::SseEvent& event) const override;
  bool is_preamble(const api::SseEvent& event) const override;
  std::optional<std::chrono::milliseconds> exhausted_for(std::span<const Header> headers,
                                                         std::time_t now) const override;

 protected:
  bool context_exceeded(int status, std::string_view body) const override;
};

}  // namespace shepherd::providers::openai
