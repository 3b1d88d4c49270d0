// Anthropic's Messages API as a provider (https://docs.anthropic.com/en/api/messages).
// `base_url` is the API root (https://api.anthropic.com); requests go to {base_url}/v1/messages
// with `x-api-key` and `anthropic-version` headers. Anthropic clients' requests go out as their
// bytes with only the model changed; other clients' requests are translated by the codec.
#pragma once

#include "providers/provider.hpp"

namespace shepherd::providers::anthropic {

// The API version Shepherd speaks (the anthropic-version header).
inline constexpr std::string_view kApiVersion = "2023-06-01";

class AnthropicAdapter final : public Adapter {
 public:
  std::string_view kind() const override { return "anthropic"; }
  const translate::Codec& codec() const override;

  std::string request_head(const config::ProviderConfig& provider, Operation op,
                           std::string_view upstream_model, bool stream) const override;
  std::string probe_request(const config::ProviderConfig& provider) const override;
  std::string_view chat_body(const api::ChatRequest& request, std::string_view body,
                             std::string_view upstream_model, std::string& scratch) const override;
  base::Result<Answer> read_answer(std::string_view body) const override;
  base::Result<Event> read_event(const api::SseEvent& event) const override;
  bool is_preamble(const api::SseEvent& event) const override;
  std::optional<std::chrono::milliseconds> exhausted_for(std::span<const Header> headers,
                                                         std::time_t now) const override;

 protected:
  bool context_exceeded(int status, std::string_view body) const override;
};

// The usage object of an Anthropic message or stream event (input tokens count cache reads and
// writes too, as api::Usage counts them); zero fields when it reports none.
api::Usage anthropic_usage(const boost::json::object& usage);

}  // namespace shepherd::providers::anthropic
