#include "pipeline/context.hpp"

#include <spdlog/spdlog.h>

#include "pipeline/attempt.hpp"
#include "providers/registry.hpp"

namespace shepherd::pipeline {

using base::Error;
using base::ErrorCode;

namespace {

// Whether two provider configs connect the same way: a reload keeps such a provider's pools
// (and their warm connections).
bool same_connection(const config::ProviderConfig& a, const config::ProviderConfig& b) {
  return a.name == b.name && a.kind == b.kind && a.base_url == b.base_url &&
         a.api_key == b.api_key && a.pool.max_idle == b.pool.max_idle &&
         a.pool.max_connections == b.pool.max_connections &&
         a.timeouts.connect == b.timeouts.connect &&
         a.timeouts.first_byte == b.timeouts.first_byte && a.timeouts.idle == b.timeouts.idle &&
         a.timeouts.total == b.timeouts.total && a.tls_verify == b.tls_verify &&
         a.ca_file == b.ca_file;
}

}  // namespace

RequestContext::RequestContext(LoopContext& loop_, net::ClientConnection& conn_,
                               std::shared_ptr<const LoopView> view_,
                               const ingress::Dialect& dialect_)
    : loop(loop_), conn(conn_), view(std::move(view_)), dialect(dialect_) {}

RequestContext::~RequestContext() = default;

std::shared_ptr<const LoopView> LoopView::make(std::shared_ptr<const Snapshot> snap,
                                               const LoopView* previous, net::Executor executor,
                                               observability::Metrics& metrics) {
  auto next = std::make_shared<LoopView>();
  const auto& config = *snap->config;
  for (const auto& p : config.providers) {
    Provider view;
    // The config accepts only kinds the registry has.
    view.adapter = providers::find_adapter(p.kind);
    if (!view.adapter) throw std::logic_error("no adapter for provider kind " + p.kind);
    if (previous) {
      for (const auto& old : previous->providers) {
        if (same_connection(old.pool->provider(), p)) view.pool = old.pool;
      }
    }
    if (!view.pool) {
      view.pool = std::make_shared<net::UpstreamPool>(executor, p, metrics.pool_gauge(p.name));
    }
    if (!view.adapter->model_in_head()) {
      for (std::size_t op = 0; op < view.head_json.size(); ++op) {
        const auto o = static_cast<providers::Operation>(op);
        view.head_json[op] = view.adapter->request_head(p, o, "", false);
        view.head_sse[op] = view.adapter->request_head(p, o, "", true);
      }
    }
    next->providers.push_back(std::move(view));
  }
  next->keys = auth::KeyDigests::of(config.server.api_keys, config.server.master_key, snap->hasher);
  if (config.server.metrics_auth != config::ServerConfig::MetricsAuth::kOpen) {
    next->keys.metrics_open = false;
    if (next->keys.master) next->keys.metrics.push_back(*next->keys.master);
    if (!config.server.metrics_token.empty()) {
      next->keys.metrics.push_back(auth::sha256(config.server.metrics_token));
    }
  }
  next->snap = std::move(snap);
  return next;
}

bool well_formed_request_id(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           std::string_view("._:/+=-").find(c) != std::string_view::npos;
  });
}

std::string new_request_id(LoopContext& loop, std::int64_t arrived_us) {
  const auto us = static_cast<std::uint64_t>(arrived_us);
  auto ms = us / 1000;
  std::uint64_t v = ((us % 1000) << 54) | (static_cast<std::uint64_t>(loop.index & 0xff) << 46) |
                    ((loop.id_salt & 0x3fffff) << 24) | (++loop.request_seq & 0xffffff);
  char id[32] = {'r', 'e', 'q', '_'};
  for (int i = 31; i >= 16; --i, v >>= 4) id[i] = "0123456789abcdef"[v & 0xf];
  for (int i = 15; i >= 4; --i, ms >>= 4) id[i] = "0123456789abcdef"[ms & 0xf];
  return std::string(id, sizeof id);
}

Task<void> respond_error(net::ClientConnection& conn, const ingress::Dialect& dialect,
                         const Error& e, std::string_view request_id, Clock::duration timeout) {
  const int status = dialect.error_status(e);
  if (const int logical = base::http_status(e); logical >= 500) {
    spdlog::warn("request {}: {} {}: {}", request_id, logical, base::code_name(e.code),
                 e.detail.empty() ? e.message : e.detail);
  }
  std::string extra;
  if (e.retry_after)
    extra.append("Retry-After: ").append(std::to_string(*e.retry_after)).append("\r\n");
  if (e.code == ErrorCode::kUnauthorized) extra.append("WWW-Authenticate: Bearer\r\n");
  const auto body = dialect.error_body(e);
  co_await conn.respond(status, "application/json", body, extra, timeout);
}

Task<void> respond_wrong_method(net::ClientConnection& conn, const ingress::Dialect& dialect,
                                std::string_view target, std::string_view allow,
                                Clock::duration timeout) {
  const auto e = base::make_error(ErrorCode::kMethodNotAllowed,
                                  "use " + std::string(allow) + " for " + std::string(target));
  const auto body = dialect.error_body(e);
  const auto extra = "Allow: " + std::string(allow) + "\r\n";
  co_await conn.respond(405, "application/json", body, extra, timeout);
}

}  // namespace shepherd::pipeline
