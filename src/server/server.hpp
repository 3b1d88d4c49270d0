// The gateway process: N event-loop threads, each with its own SO_REUSEPORT listener, its own
// connections, upstream pools and metrics shard (shared-nothing; see docs/architecture.md), plus
// one control thread for config reloads and active health checks. Owns the applied config
// versions; the admin API reaches them through admin::ConfigControl.
#pragma once

#include <atomic>
#include <cstdint>
#include <ctime>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "admin/admin_api.hpp"
#include "base/result.hpp"
#include "config/config.hpp"
#include "governance/governance.hpp"
#include "net/tls.hpp"
#include "observability/access_log.hpp"
#include "observability/metrics.hpp"
#include "pipeline/context.hpp"

namespace shepherd::server {

using pipeline::Snapshot;
class OtlpExporter;

class Server final : public admin::ConfigControl {
 public:
  // Which listeners start: the API's (server.listen) and, when fastchat.worker is configured,
  // the FastChat worker's; or the worker's alone (`shepherd worker`).
  enum class Listeners { kAll, kWorkerOnly };

  // `config_path`: the file reload() reads again (empty: reload is refused).
  explicit Server(std::shared_ptr<const config::Config> config, std::string config_path = {},
                  Listeners listeners = Listeners::kAll);
  ~Server() override;

  // Binds the listeners (port 0: an ephemeral port shared by all threads) and starts the
  // event loops. Throws std::runtime_error when the address cannot be bound.
  void start();
  std::uint16_t port() const { return port_; }        // 0 without the API listener
  std::uint16_t ui_port() const { return ui_port_; }  // 0 without the UI's own listener
  // The FastChat worker (fastchat.worker), or null; its port and the address it registers under.
  struct Worker;
  Worker* worker() { return worker_.get(); }
  std::uint16_t worker_port() const { return worker_port_; }
  std::string worker_address() const;
  int threads() const { return static_cast<int>(loops_.size()); }

  // Graceful stop, callable from any thread: readiness turns false, listeners close, idle
  // connections close, requests in flight may finish within server.timeouts.drain; then the
  // loops stop. Returns at once; wait() joins.
  void stop();
  void wait();

  // Reads the config file again and applies it atomically: requests in flight finish on the
  // version they started with. An invalid file is refused (the error says why) and the running
  // version stays. Blocks on file I/O: call it from a thread that is not an event loop (SIGHUP
  // handler, control thread). Returns the new version number.
  base::Result<std::uint64_t> reload() override;
  // Applies the version before the current one again; an error when there is none.
  base::Result<std::uint64_t> rollback() override;
  // Applies `config` (already validated) as a new version.
  base::Result<std::uint64_t> apply(std::shared_ptr<const config::Config> config);
  std::vector<admin::Version> versions() const override;
  // The control thread's executor (reloads requested through the admin API run there).
  net::Executor control_executor() override;

  const observability::Metrics& metrics() const { return *metrics_; }
  const net::ConnectionLimits& connection_limits() const { return connection_limits_; }
  // The deployments drained through the admin API, by id; and draining them again (those the
  // config still has) in the process an upgrade starts. Any thread.
  std::vector<std::string> drained_deployments() const;
  std::vector<std::string> drain_deployments(const std::vector<std::string>& ids);
  // The connection series of /metrics: open, the cap, refusals by reason.
  std::string connection_metrics() const;
  governance::Governance& governance() override { return *governance_; }

  // The models a `kind: fastchat` provider's controller lists now: those the config does not name
  // are served through that provider (config::with_discovered), applied as a new version when the
  // list changed. Any thread.
  void set_discovered(const std::string& provider, std::vector<std::string> models);
  std::shared_ptr<const Snapshot> snapshot() const;

  // The TLS context of a FastChat controller that `serve` runs beside the gateway: a reload reads
  // its certificate files again with the gateway's own. Call before start().
  void attach_controller_tls(net::ServerTls* tls) { controller_tls_ = tls; }

  struct Loop;
  class Control;

 private:
  // `read_tls`: read the listeners' certificate files again (a reload, a rollback), which is
  // done before the version is applied, so that a file that cannot be loaded refuses it.
  base::Result<std::uint64_t> apply_locked(std::shared_ptr<const config::Config> config,
                                           std::optional<std::size_t> previous,
                                           bool read_tls = true);
  // The listeners' TLS contexts for `c`'s settings, read from its files; null: unchanged.
  struct TlsContexts {
    std::shared_ptr<net::asio::ssl::context> api, worker, controller;
    bool api_plain = false;  // the API listener turns TLS off
  };
  base::Result<TlsContexts> read_tls(const config::Config& c) const;
  void publish(std::shared_ptr<const Snapshot> snapshot);
  void start_worker(const config::Config& c);
  void start_ui(const config::ServerConfig& s);
  // The cap on open client connections for `s`: its max_connections, within the descriptors
  // left after the reserve.
  void set_connection_limits(const config::ServerConfig& s);

  std::string config_path_;
  std::unique_ptr<observability::Metrics> metrics_;
  std::unique_ptr<governance::Governance> governance_;
  std::unique_ptr<observability::AccessLog> access_log_;  // log.access
  std::unique_ptr<OtlpExporter> tracer_;                  // tracing.otlp_endpoint
  std::vector<std::unique_ptr<Loop>> loops_;
  std::vector<std::thread> threads_;
  std::unique_ptr<Control> control_;
  std::uint16_t port_ = 0;
  std::uint16_t ui_port_ = 0;
  Listeners listeners_;
  std::size_t descriptor_limit_ = 0;
  net::ConnectionLimits connection_limits_;
  std::unique_ptr<Worker> worker_;
  std::uint16_t worker_port_ = 0;
  std::atomic<bool> stopping_{false};
  net::ServerTls api_tls_;
  net::ServerTls worker_tls_;
  net::ServerTls* controller_tls_ = nullptr;

  mutable std::mutex mu_;  // guards the fields below
  // One applied version. Only the current one keeps its snapshot (its router holds per-deployment
  // state); a rollback applies an earlier one's config again.
  struct Applied {
    std::uint64_t version = 0;
    std::string source;
    // The config as given (file, rollback), before the discovered models were added.
    std::shared_ptr<const config::Config> base;
    std::time_t applied_at = 0;
    std::optional<std::size_t> previous;  // what a rollback returns to (an index in history_)
  };
  // The last kMaxVersions versions: reloads (and FastChat workers coming and going) over weeks
  // must not grow it without bound.
  static constexpr std::size_t kMaxVersions = 64;
  std::vector<Applied> history_;
  std::size_t current_ = 0;
  std::uint64_t next_version_ = 1;
  std::shared_ptr<const Snapshot> current_snapshot_;
  // provider → the models its controller lists (set_discovered), in arrival order.
  std::vector<std::pair<std::string, std::vector<std::string>>> discovered_;
};

}  // namespace shepherd::server
