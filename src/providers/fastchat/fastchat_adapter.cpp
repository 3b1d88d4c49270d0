#include "providers/fastchat/fastchat_adapter.hpp"

#include "fastchat/template_book.hpp"
#include "providers/fastchat/generate_codec.hpp"

namespace shepherd::providers::fastchat {

namespace fc = shepherd::fastchat;

namespace {

std::string credentials(const config::ProviderConfig& provider) {
  // FastChat's workers take no key; one is sent when configured (a proxy in front of them).
  if (provider.api_key.empty()) return {};
  return "Authorization: Bearer " + provider.api_key + "\r\n";
}

// A built-in template as a shared pointer that owns nothing (built-ins live for the process).
std::shared_ptr<const fc::Conversation> builtin(const fc::Conversation* conv) {
  return std::shared_ptr<const fc::Conversation>(std::shared_ptr<const fc::Conversation>{}, conv);
}

}  // namespace

base::Result<std::shared_ptr<const fc::Conversation>> template_for(
    const config::ProviderConfig& provider, std::string_view model) {
  const auto& f = provider.fastchat;
  std::string name = f.conv_template;
  std::string setting = "providers." + provider.name + ".fastchat.conv_template";
  for (const auto& [m, t] : f.conv_templates) {
    if (m == model) {
      name = t;
      setting = "providers." + provider.name + ".fastchat.conv_templates." + m;
    }
  }
  if (!name.empty()) {
    const auto* conv = fc::find_template(name);
    if (!conv) {
      return base::make_error(base::ErrorCode::kBadRequest,
                              setting + ": unknown conversation template '" + name + "'");
    }
    return builtin(conv);
  }
  if (auto learned = fc::TemplateBook::process().find(provider.name, model)) return learned;
  return builtin(fc::find_template("chatml"));
}

base::Status check_templates(const config::Config& config) {
  for (const auto& p : config.providers) {
    if (p.kind != "fastchat") continue;
    if (auto t = template_for(p, ""); !t) return std::move(t).error();
    for (const auto& [model, name] : p.fastchat.conv_templates) {
      if (auto t = template_for(p, model); !t) return std::move(t).error();
    }
  }
  return base::Ok{};
}

const translate::Codec& FastChatAdapter::codec() const { return generate_codec(); }

base::Status FastChatAdapter::encode_request(const config::ProviderConfig& provider,
                                             const translate::Request& request,
                                             std::string_view upstream_model,
                                             std::string& out) const {
  auto conv = template_for(provider, upstream_model);
  if (!conv) return std::move(conv).error();
  return encode_generate(**conv, request, upstream_model, out);
}

std::string FastChatAdapter::request_head(const config::ProviderConfig& provider, Operation,
                                          std::string_view, bool stream) const {
  // A controller proxies only the stream route (the codec reads a whole stream body as one
  // answer); a worker answers a non-streamed request in one piece, which costs both sides far
  // less than a stream.
  if (!stream && provider.fastchat.worker) {
    return basic_head(provider, "POST", "/worker_generate", "application/json",
                      credentials(provider));
  }
  return basic_head(provider, "POST", "/worker_generate_stream", "*/*", credentials(provider));
}

std::string FastChatAdapter::probe_request(const config::ProviderConfig& provider) const {
  return basic_head(provider, "POST", "/worker_get_status", "application/json",
                    credentials(provider)) +
         "Content-Length: 2\r\n\r\n{}";
}

bool FastChatAdapter::context_exceeded(int, std::string_view) const {
  return false;  // a worker reports a context overflow in a 200 chunk (error code 40303)
}

}  // namespace shepherd::providers::fastchat
