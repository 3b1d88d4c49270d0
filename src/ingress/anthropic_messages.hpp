// Anthropic's Messages API (POST /v1/messages), the dialect of Anthropic's SDKs and of coding
// agents. Same wire format as Anthropic upstreams: answers and stream events pass through with
// only the model renamed.
#pragma once

#include "ingress/dialect.hpp"

namespace shepherd::ingress {

class AnthropicMessages final : public Dialect {
 public:
  std::string_view name() const override { return "anthropic-messages"; }
  const translate::Codec& codec() const override;

  base::Result<api::ChatRequest> parse(std::string_view body, int max_depth) const override;
  void pass_answer(std::string& answer, std::string_view upstream_model,
                   std::string_view served) const override;
  void pass_event(std::string& out, const api::SseEvent& data, const providers::Event& event,
                  const api::ChatRequest& request, std::string_view upstream_model,
                  std::string_view served) const override;
  void error_event(std::string& out, const base::Error& error) const override;
};

// GET /v1/models for Anthropic clients (requests with an anthropic-version header):
// {"data":[{"type":"model","id","display_name","created_at"}],"has_more","first_id","last_id"}.
std::string anthropic_models_body(const std::vector<std::string>& names);

// POST /v1/messages/count_tokens: {"input_tokens": N} for `request`.
std::string count_tokens_body(std::int64_t tokens);

}  // namespace shepherd::ingress
