// The admin API (deployments, drain, enable, config versions, reload, rollback) and the probes
// (health, readiness, metrics, stats): handlers the server dispatches to, on the event loop of
// the connection. Admin routes are deny-by-default behind server.master_key.
#pragma once

#include <vector>

#include "admin/routes.hpp"
#include "governance/governance.hpp"
#include "pipeline/context.hpp"

namespace shepherd::admin {

using pipeline::Clock;
using pipeline::Task;

// What the admin API may ask of the server that runs it. Implemented by server::Server.
class ConfigControl {
 public:
  virtual ~ConfigControl() = default;
  // Reads the config file again / returns to the version before the current one; the new
  // version's number. Block on file I/O: called on the control thread only.
  virtual base::Result<std::uint64_t> reload() = 0;
  virtual base::Result<std::uint64_t> rollback() = 0;
  virtual std::vector<Version> versions() const = 0;
  // The control thread, where reload() and rollback() run.
  virtual net::Executor control_executor() = 0;
  // Keys, the audit log and spend (admin_keys.cpp, admin_records.cpp).
  virtual governance::Governance& governance() = 0;
};

// What a handler works with: the connection to answer on, the request's snapshot, its id.
struct Exchange {
  net::ClientConnection& conn;
  const pipeline::LoopView& view;
  std::string_view request_id;
  Clock::duration write_timeout;
};

// A path under /admin/ (without the query).
Task<void> serve_admin(Exchange ex, const net::Request& request, std::string_view target,
                       ConfigControl& control);

// The routes over the store (admin_keys.cpp): keys, requests, spend.
Task<void> serve_store_route(Exchange ex, const Route& route, const net::Request& request,
                             governance::Governance& governance);

// GET /v1/usage: the caller's key, limits, and its budget's spend in the current period.
Task<void> serve_usage(Exchange ex, const net::Request& request, pipeline::LoopContext& loop);

// GET /health, /health/ready, /metrics, /stats (probes.cpp). `stopping`: the server is draining.
Task<void> serve_health(Exchange ex);
Task<void> serve_ready(Exchange ex, bool stopping);
// `extra`: more series of the listener's own (a FastChat worker's queue), appended.
Task<void> serve_metrics(Exchange ex, const observability::Metrics& metrics,
                         const governance::Governance& governance, std::string_view extra = {});
Task<void> serve_stats(Exchange ex, const observability::Metrics& metrics);

}  // namespace shepherd::admin
