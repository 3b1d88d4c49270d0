// The HTTP server: N event-loop threads, each with its own SO_REUSEPORT listener, its own
// upstream pools and its own metrics shard (shared-nothing; see docs/architecture.md), plus one
// control thread for config reloads and active health checks.
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

#include "base/result.hpp"
#include "config/config.hpp"
#include "net/asio.hpp"
#include "observability/metrics.hpp"
#include "routing/router.hpp"

namespace shepherd::net {

// One applied configuration: the config, its routing state and its metric routes. Requests hold
// the snapshot they started with; a reload swaps in a new one for the requests that follow.
struct Snapshot {
  std::shared_ptr<const config::Config> config;
  std::shared_ptr<const routing::Router> router;
  observability::RouteTable routes;
  std::uint64_t version = 0;
};

class Server {
 public:
  // `config_path`: the file reload() reads again (empty: reload is refused).
  explicit Server(std::shared_ptr<const config::Config> config, std::string config_path = {});
  ~Server();

  // Binds the listeners (port 0: an ephemeral port shared by all threads) and starts the
  // event loops. Throws std::runtime_error when the address cannot be bound.
  void start();
  std::uint16_t port() const { return port_; }
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
  base::Result<std::uint64_t> reload();
  // Applies the version before the current one again; an error when there is none.
  base::Result<std::uint64_t> rollback();
  // Applies `config` (already validated) as a new version.
  base::Result<std::uint64_t> apply(std::shared_ptr<const config::Config> config);

  struct Version {
    std::uint64_t number = 0;
    std::string source;
    std::time_t applied_at = 0;
    bool current = false;
  };
  std::vector<Version> versions() const;

  const observability::Metrics& metrics() const { return *metrics_; }
  std::shared_ptr<const Snapshot> snapshot() const;

  // The control thread's executor (reloads requested through the admin API run there).
  Executor control_executor();

  struct Loop;
  struct Control;

 private:
  base::Result<std::uint64_t> apply_locked(std::shared_ptr<const config::Config> config,
                                           std::optional<std::size_t> previous);
  void publish(std::shared_ptr<const Snapshot> snapshot);
  void start_health_checks(std::shared_ptr<const Snapshot> snapshot);

  std::string config_path_;
  std::unique_ptr<observability::Metrics> metrics_;
  std::vector<std::unique_ptr<Loop>> loops_;
  std::vector<std::thread> threads_;
  std::unique_ptr<Control> control_;
  std::uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};

  mutable std::mutex mu_;  // guards the fields below
  struct Applied {
    std::shared_ptr<const Snapshot> snapshot;
    std::time_t applied_at = 0;
    std::optional<std::size_t> previous;  // what a rollback returns to
  };
  std::vector<Applied> history_;
  std::size_t current_ = 0;
  std::uint64_t next_version_ = 1;
  std::shared_ptr<const Snapshot> current_snapshot_;
};

}  // namespace shepherd::net
