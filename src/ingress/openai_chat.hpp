// OpenAI chat completions (POST /v1/chat/completions), the dialect of OpenAI's SDKs and of most
// clients. Same wire format as OpenAI-compatible upstreams: answers pass through with only the
// model renamed.
#pragma once

#include "ingress/dialect.hpp"

namespace shepherd::ingress {

class OpenAiChat final : public Dialect {
 public:
  std::string_view name() const override { return "openai-chat"; }
  providers::Wire wire() const override { return providers::Wire::kOpenAiChat; }

  base::Result<api::ChatRequest> parse(std::string_view body, int max_depth) const override;
  std::string error_body(const base::Error& error) const override;
  void pass_answer(std::string& answer, std::string_view upstream_model,
                   std::string_view served) const override;
  void pass_event(std::string& out, std::string_view data, const providers::Event& event,
                  const api::ChatRequest& request, std::string_view upstream_model,
                  std::string_view served) const override;
  void error_event(std::string& out, const base::Error& error) const override;
};

}  // namespace shepherd::ingress
