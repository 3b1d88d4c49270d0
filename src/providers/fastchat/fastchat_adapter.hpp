// FastChat workers as a provider (`kind: fastchat`, docs/decisions/fastchat.md). `base_url` is a
// FastChat controller (Shepherd's or FastChat's own: requests go through its stream proxy, which
// dispatches to a worker) or one worker. Every request is POST {base_url}/worker_generate_stream
// with FastChat's generate parameters, the prompt rendered by the model's conversation template
// (providers.<name>.fastchat.conv_template(s), else the template the worker advertises, learned by
// discovery, else chatml); the answer is NUL-framed chunks of cumulative text, read by the codec
// (generate_codec.hpp), whole for a non-streamed request. Health checks POST /worker_get_status,
// which controllers and workers both answer.
#pragma once

#include <memory>

#include "fastchat/conversation.hpp"
#include "providers/provider.hpp"

namespace shepherd::providers::fastchat {

class FastChatAdapter final : public Adapter {
 public:
  std::string_view kind() const override { return "fastchat"; }
  const translate::Codec& codec() const override;
  base::Status encode_request(const config::ProviderConfig& provider,
                              const translate::Request& request, std::string_view upstream_model,
                              std::string& out) const override;
  Framing framing() const override { return Framing::kNul; }

  std::string request_head(const config::ProviderConfig& provider, Operation op,
                           std::string_view upstream_model, bool stream) const override;
  std::string probe_request(const config::ProviderConfig& provider) const override;

 protected:
  bool context_exceeded(int status, std::string_view body) const override;
};

// The template that renders prompts for `model` of `provider`: a pinned one (per model, then for
// every model), else the one learned from its worker, else chatml. kBadRequest naming the setting
// for a pinned name FastChat does not know.
base::Result<std::shared_ptr<const shepherd::fastchat::Conversation>> template_for(
    const config::ProviderConfig& provider, std::string_view model);

// Every template the fastchat providers of `config` pin is one FastChat knows; else kBadRequest
// naming the setting.
base::Status check_templates(const config::Config& config);

}  // namespace shepherd::providers::fastchat
