#include "server/discovery.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "fastchat/conversation.hpp"
#include "fastchat/http_client.hpp"
#include "fastchat/protocol.hpp"
#include "fastchat/template_book.hpp"
#include "net/tls.hpp"

namespace shepherd::server {

namespace fc = shepherd::fastchat;
using namespace std::chrono_literals;

namespace {

constexpr auto kCallTimeout = 3s;

// The base URL without a trailing slash, as FastChat addresses are written.
std::string base_of(const config::ProviderConfig& p) {
  std::string url = p.base_url;
  while (url.ends_with('/')) url.pop_back();
  return url;
}

// POSTs `body` to `base` + `path` within kCallTimeout, verifying an https server with `tls`: the
// answer's body when it is a 200.
net::Task<std::optional<std::string>> post(std::string_view base, std::string_view path,
                                           std::string_view body, net::asio::ssl::context* tls) {
  // The strings are made here, not in the callers' co_await: GCC 12 mishandles temporaries there.
  std::string url(base), target(path), payload(body);
  auto reply = co_await fc::post_json(std::move(url), std::move(target), std::move(payload),
                                      kCallTimeout, nullptr, tls);
  if (!reply || reply->status != 200) co_return std::nullopt;
  co_return std::move(reply->body);
}

// The model names `base` serves: a controller's /list_models, or a worker's status.
net::Task<std::optional<std::vector<std::string>>> list_models(std::string base, bool worker,
                                                               net::asio::ssl::context* tls) {
  if (!worker) {
    const auto listed = co_await post(base, "/list_models", "{}", tls);
    if (listed) {
      if (auto list = fc::parse_model_list(*listed)) co_return std::move(list->models);
    }
  }
  // A worker has no /list_models: its status names its models.
  const auto status_body = co_await post(base, "/worker_get_status", "{}", tls);
  if (!status_body) co_return std::nullopt;
  auto status = fc::parse_worker_status(*status_body);
  if (!status) co_return std::nullopt;
  co_return std::move(status->model_names);
}

// Learns the template of the worker that serves `model` behind `base` (a controller names the
// worker; a worker answers itself). Failures are logged and retried at the next listing.
net::Task<void> learn_template(const config::ProviderConfig& provider, std::string base,
                               std::string model, net::asio::ssl::context* tls) {
  const auto request = fc::write_model_request(fc::ModelRequest{model});
  std::string worker = base;
  const auto address = co_await post(base, "/get_worker_address", request, tls);
  if (address) {
    if (auto a = fc::parse_worker_address(*address); a && !a->address.empty()) worker = a->address;
  }
  const auto body = co_await post(worker, "/worker_get_conv_template", request, tls);
  if (!body) {
    spdlog::warn("provider {}: no conversation template for {} from {}", provider.name, model,
                 worker);
    co_return;
  }
  auto conv = fc::parse_conv_template(*body, fc::sep_numbering(provider.fastchat.version));
  if (!conv) {
    spdlog::warn("provider {}: the conversation template of {} from {} is unusable: {}",
                 provider.name, model, worker, conv.error().message);
    co_return;
  }
  spdlog::info("provider {}: {} renders prompts with the template {} of {}", provider.name, model,
               conv->name, worker);
  fc::TemplateBook::process().learn(provider.name, model, std::move(conv).value());
}

bool pinned(const config::FastChatProviderConfig& f, std::string_view model) {
  if (!f.conv_template.empty()) return true;
  return std::any_of(f.conv_templates.begin(), f.conv_templates.end(),
                     [&](const auto& kv) { return kv.first == model; });
}

}  // namespace

net::Task<void> discover_models(config::ProviderConfig provider, std::function<bool()> alive,
                                std::function<void(std::vector<std::string>)> report) {
  const auto base = base_of(provider);
  // The provider's own TLS settings (verify, ca_file), as its requests use them.
  std::unique_ptr<net::asio::ssl::context> tls;
  try {
    tls = net::make_client_tls_context(provider);
  } catch (const std::exception& e) {
    spdlog::warn("provider {}: {}", provider.name, e.what());
  }
  net::Timer timer(co_await net::asio::this_coro::executor);
  std::optional<std::vector<std::string>> last;
  while (alive()) {
    std::string url = base;
    auto names = co_await list_models(std::move(url), provider.fastchat.worker, tls.get());
    if (!alive()) break;
    if (names) {
      std::sort(names->begin(), names->end());
      names->erase(std::unique(names->begin(), names->end()), names->end());
      for (const auto& model : *names) {
        if (pinned(provider.fastchat, model)) continue;
        if (fc::TemplateBook::process().knows(provider.name, model)) continue;
        std::string url_copy = base;
        std::string model_copy = model;
        co_await learn_template(provider, std::move(url_copy), std::move(model_copy), tls.get());
      }
      if (!alive()) break;
      if (names != last) {
        last = names;
        report(*names);
      }
    }
    timer.expires_after(provider.fastchat.refresh);
    co_await timer.async_wait(net::kUseTuple);
  }
}

}  // namespace shepherd::server
