// Google's Gemini API as a provider (https://ai.google.dev/api/generate-content). `base_url` is
// the API root with its version (https://generativelanguage.googleapis.com/v1beta); chat requests
// go to {base_url}/models/{model}:generateContent or :streamGenerateContent?alt=sse, embeddings
// to :batchEmbedContents, with the key in `x-goog-api-key`. No client speaks Gemini to Shepherd,
// so every request is translated by the codec (the same-wire hooks keep their defaults). Gemini
// sends no rate-limit headers; its 429s say in the body when to come back.
#pragma once

#include "providers/provider.hpp"

namespace shepherd::providers::gemini {

class GeminiAdapter final : public Adapter {
 public:
  std::string_view kind() const override { return "gemini"; }
  const translate::Codec& codec() const override;

  bool model_in_head() const override { return true; }
  std::string request_head(const config::ProviderConfig& provider, Operation op,
                           std::string_view upstream_model, bool stream) const override;
  std::string probe_request(const config::ProviderConfig& provider) const override;
  base::Result<std::string_view> operation_body(Operation op, const api::ChatRequest& request,
                                                std::string_view body,
                                                std::string_view upstream_model, int max_depth,
                                                std::string& scratch) const override;
  base::Result<Answer> operation_answer(Operation op, std::string& answer, std::string_view served,
                                        std::int64_t prompt_tokens) const override;

 protected:
  bool context_exceeded(int status, std::string_view body) const override;
  std::optional<long> retry_delay_in_body(std::string_view body) const override;
};

}  // namespace shepherd::providers::gemini
