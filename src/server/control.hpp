// The control thread: config reloads requested through the admin API run here (they read
// files), and the active health checks of every provider (they keep their own connections,
// apart from the loops' pools). Never an event loop that serves requests.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "pipeline/context.hpp"
#include "server/server.hpp"

namespace shepherd::server {

class Server::Control {
 public:
  Control() = default;

  net::Executor executor() { return ioc_.get_executor(); }
  void start();
  // Stops the thread; health checks in progress are abandoned.
  void stop();
  void join();

  // Replaces the health-check loops with those of `snap`'s providers, and the discovery of the
  // models of its `kind: fastchat` providers (discovery.hpp), whose lists go to `on_models`. Any
  // thread.
  void check_health(std::shared_ptr<const Snapshot> snap, const std::atomic<bool>& stopping);

  // Called on the control thread with a fastchat provider's name and its models, when they change.
  std::function<void(const std::string&, std::vector<std::string>)> on_models;

 private:
  net::asio::io_context ioc_;
  std::optional<net::asio::executor_work_guard<net::Executor>> work_;
  std::thread thread_;
  std::uint64_t generation_ = 0;  // health-check loops of older generations stop
};

}  // namespace shepherd::server
