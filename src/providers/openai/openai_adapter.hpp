// OpenAI-compatible upstreams (OpenAI, DeepSeek, relays, vLLM, llama.cpp's server, Ollama):
// POST {base_url}/chat/completions with a bearer key. The fast path: the client's bytes go out
// with only `model` rewritten (and, for streams, stream_options.include_usage added so usage is
// always reported); answers and stream events are inspected in place, never re-serialised.
#pragma once

#include "providers/provider.hpp"

namespace shepherd::providers::openai {

class OpenAiAdapter final : public Adapter {
 public:
  std::string_view kind() const override { return "openai"; }
  Wire wire() const override { return Wire::kOpenAiChat; }

  std::string chat_head(const config::ProviderConfig& provider, bool stream) const override;
  std::string probe_request(const config::ProviderConfig& provider) const override;
  std::string_view chat_body(const api::ChatRequest& request, std::string_view body,
                             std::string_view upstream_model, std::string& scratch) const override;
  base::Result<Answer> read_answer(std::string_view body) const override;
  base::Result<Event> read_event(std::string_view data) const override;
  bool is_preamble(std::string_view data) const override;
  StatusFailure read_status(const config::ProviderConfig& provider, int status,
                            std::string_view body, std::string_view retry_after,
                            std::time_t now) const override;
  std::optional<std::chrono::milliseconds> exhausted_for(
      std::span<const Header> headers) const override;
};

// The head of METHOD {base path}{path} to `provider`: Host, User-Agent, the bearer key when one
// is configured, Accept, and Content-Type for POST. Ends after the last header line.
std::string request_head(const config::ProviderConfig& provider, std::string_view method,
                         std::string_view path, std::string_view accept);

}  // namespace shepherd::providers::openai
