// OpenAI's endpoints: chat completions (POST /v1/chat/completions), the dialect of OpenAI's SDKs
// and of most clients, and the legacy completions and embeddings endpoints, which share its wire
// format and error shape. Same wire format as OpenAI-compatible upstreams: answers pass through
// with only the model renamed.
#pragma once

#include "ingress/dialect.hpp"

namespace shepherd::ingress {

class OpenAiChat final : public Dialect {
 public:
  explicit OpenAiChat(providers::Operation op = providers::Operation::kChat) : op_(op) {}

  std::string_view name() const override;
  const translate::Codec& codec() const override;
  providers::Operation operation() const override { return op_; }

  base::Result<api::ChatRequest> parse(std::string_view body, int max_depth) const override;
  void pass_answer(std::string& answer, std::string_view upstream_model,
                   std::string_view served) const override;
  void pass_event(std::string& out, const api::SseEvent& data, const providers::Event& event,
                  const api::ChatRequest& request, std::string_view upstream_model,
                  std::string_view served) const override;
  void error_event(std::string& out, const base::Error& error) const override;

 private:
  providers::Operation op_;
};

// OpenAI's Responses API (POST /v1/responses). No provider speaks it: every request is translated
// (translate/openai_responses.hpp).
class OpenAiResponses final : public Dialect {
 public:
  std::string_view name() const override { return "openai-responses"; }
  const translate::Codec& codec() const override;

  base::Result<api::ChatRequest> parse(std::string_view body, int max_depth) const override;
  void pass_answer(std::string&, std::string_view, std::string_view) const override {}
  void pass_event(std::string&, const api::SseEvent&, const providers::Event&,
                  const api::ChatRequest&, std::string_view, std::string_view) const override {}
  void error_event(std::string& out, const base::Error& error) const override;
};

}  // namespace shepherd::ingress
