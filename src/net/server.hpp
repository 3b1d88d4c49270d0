// The HTTP server: N event-loop threads, each with its own SO_REUSEPORT listener, its own
// upstream pools and its own metrics shard (shared-nothing; see docs/architecture.md).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "config/config.hpp"
#include "observability/metrics.hpp"

namespace shepherd::net {

class Server {
 public:
  explicit Server(std::shared_ptr<const config::Config> config);
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

  const observability::Metrics& metrics() const { return *metrics_; }

  struct Loop;

 private:
  std::shared_ptr<const config::Config> config_;
  std::unique_ptr<observability::Metrics> metrics_;
  std::vector<std::unique_ptr<Loop>> loops_;
  std::vector<std::thread> threads_;
  std::uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
};

}  // namespace shepherd::net
