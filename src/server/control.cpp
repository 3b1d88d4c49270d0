#include "server/control.hpp"

#include <spdlog/spdlog.h>

#include "providers/registry.hpp"
#include "server/discovery.hpp"

namespace shepherd::server {

using routing::AttemptResult;
namespace asio = net::asio;
namespace http = net::http;

namespace {

// One health check: TCP connect (and TLS handshake), and for kModels the adapter's probe request
// (GET {base}/models with the provider's key). Spends no tokens.
net::Task<AttemptResult> check_provider(net::UpstreamPool& pool, const providers::Adapter& adapter,
                                        const config::HealthCheckConfig& hc) {
  net::CancelState cancel;
  const auto deadline = net::Clock::now() + hc.timeout;
  net::Timer guard(co_await asio::this_coro::executor, deadline);
  guard.async_wait([&cancel](net::error_code ec) {
    if (!ec) cancel.cancel();
  });
  auto lease = co_await pool.acquire(deadline, cancel);
  if (!lease) {
    guard.cancel();
    co_return AttemptResult::kFailure;
  }
  auto c = std::move(*lease);
  cancel.active = c.get();
  auto result = AttemptResult::kSuccess;
  if (hc.kind == config::HealthCheckConfig::Kind::kModels) {
    const auto request = adapter.probe_request(pool.provider());
    auto [wec, wn] = co_await c->visit(
        [&](auto& s) { return asio::async_write(s, asio::buffer(request), net::kUseTuple); });
    c->parser.emplace(c->response);
    c->parser->body_limit(4 * 1024 * 1024);
    c->parser->eager(true);
    net::error_code rec = wec;
    if (!wec) rec = co_await c->read_message();
    if (rec) {
      result = AttemptResult::kFailure;
    } else {
      const int status = c->response.status;
      result = status >= 200 && status < 300 ? AttemptResult::kSuccess
                                             : providers::status_verdict(status);
      if (result == AttemptResult::kNeutral || result == AttemptResult::kRateLimited) {
        // 404 (no /models route) or 429: the upstream answered, which is what a check can tell.
        result = AttemptResult::kSuccess;
      }
    }
  }
  guard.cancel();
  cancel.active = nullptr;
  pool.release(std::move(c), false);
  co_return result;
}

}  // namespace

void Server::Control::start() {
  work_.emplace(ioc_.get_executor());
  thread_ = std::thread([this] { ioc_.run(); });
}

void Server::Control::stop() {
  work_.reset();
  ioc_.stop();
}

void Server::Control::join() {
  if (thread_.joinable()) thread_.join();
}

void Server::Control::check_health(std::shared_ptr<const Snapshot> snap,
                                   const std::atomic<bool>& stopping) {
  asio::post(ioc_, [this, snap = std::move(snap), &stopping] {
    const auto generation = ++generation_;
    for (const auto& provider : snap->config->providers) {
      if (provider.kind != "fastchat" || !provider.fastchat.discover || !on_models) continue;
      auto alive = [this, generation, &stopping] { return !stopping && generation_ == generation; };
      auto report = [this, name = provider.name](std::vector<std::string> models) {
        on_models(name, std::move(models));
      };
      asio::co_spawn(ioc_, discover_models(provider, std::move(alive), std::move(report)),
                     asio::detached);
    }
    for (std::size_t p = 0; p < snap->config->providers.size(); ++p) {
      const auto& provider = snap->config->providers[p];
      if (provider.health_check.kind == config::HealthCheckConfig::Kind::kOff) continue;
      asio::co_spawn(
          ioc_,
          [this, snap, p, generation, &stopping]() -> net::Task<void> {
            const auto& checked = snap->config->providers[p];
            const auto* adapter = providers::find_adapter(checked.kind);
            net::UpstreamPool pool(ioc_.get_executor(), checked);
            net::Timer timer(ioc_);
            while (!stopping && generation_ == generation) {
              const auto result = co_await check_provider(pool, *adapter, checked.health_check);
              if (stopping || generation_ != generation) break;
              for (auto* state : snap->router->provider_states(p)) {
                state->health_check(net::Clock::now(), result, snap->router->settings());
              }
              if (result != AttemptResult::kSuccess) {
                spdlog::warn("health check of provider {} failed", checked.name);
              }
              timer.expires_after(checked.health_check.interval);
              co_await timer.async_wait(net::kUseTuple);
            }
          },
          asio::detached);
    }
  });
}

}  // namespace shepherd::server
