// Health, readiness, metrics and statistics: open to anyone who can reach the port (load
// balancers and Prometheus), and they reveal no secrets.
#include <boost/json.hpp>

#include "admin/admin_api.hpp"

namespace shepherd::admin {

Task<void> serve_health(Exchange ex) {
  return ex.conn.respond(200, "application/json", R"({"status":"ok"})", {}, ex.write_timeout);
}

Task<void> serve_ready(Exchange ex, bool stopping) {
  const auto& config = ex.view.config();
  const auto down = ex.view.router().unavailable_models(Clock::now());
  if (stopping) {
    co_await ex.conn.respond(503, "application/json", R"({"status":"stopping"})", {},
                             ex.write_timeout);
  } else if (config.providers.empty() || config.models.empty()) {
    co_await ex.conn.respond(
        503, "application/json",
        R"({"status":"not ready","reason":"no provider or model is configured"})", {},
        ex.write_timeout);
  } else if (down.empty()) {
    co_await ex.conn.respond(200, "application/json", R"({"status":"ready"})", {},
                             ex.write_timeout);
  } else if (config.server.readiness == config::ServerConfig::Readiness::kAllModels) {
    const auto reason = "model '" + down.front() + "' has no healthy deployment";
    const auto body = string_members_body({{"status", "not ready"}, {"reason", reason}});
    co_await ex.conn.respond(503, "application/json", body, {}, ex.write_timeout);
  } else {
    // The process serves: taking it out of a balancer would not bring these models back (every
    // instance sees the same providers), and would take the others away.
    boost::json::object o;
    o["status"] = "degraded";
    boost::json::array names;
    for (const auto& m : down) names.emplace_back(m);
    o["unavailable_models"] = std::move(names);
    const auto body = boost::json::serialize(o);
    co_await ex.conn.respond(200, "application/json", body, {}, ex.write_timeout);
  }
}

Task<void> serve_metrics(Exchange ex, const observability::Metrics& metrics,
                         const governance::Governance& governance, std::string_view extra) {
  auto body = metrics.prometheus_text() + ex.view.router().prometheus_text(Clock::now()) +
              governance.prometheus_text();
  body += extra;
  co_await ex.conn.respond(200, "text/plain; version=0.0.4", body, {}, ex.write_timeout);
}

Task<void> serve_stats(Exchange ex, const observability::Metrics& metrics) {
  const auto body = metrics.stats_json();
  co_await ex.conn.respond(200, "application/json", body, {}, ex.write_timeout);
}

}  // namespace shepherd::admin
