// A worker's side of FastChat's registration (docs/fastchat-protocol.md §2): register with the
// controller, then send a heartbeat every interval; register again when the controller answers
// that it does not know the worker (it restarted, or expired it), and retry after a pause when
// it cannot be reached. FastChat's worker gives up at start when the controller is down; this
// one keeps trying, so the two may start in any order.
//
// Runs on one event loop: run() is co_spawned there; stop() and registered() on that loop too.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>

#include "fastchat/http_client.hpp"
#include "fastchat/protocol.hpp"
#include "net/asio.hpp"

namespace shepherd::fastchat {

struct RegistrationOptions {
  std::string controller;   // the controller's base URL, e.g. http://127.0.0.1:21001
  std::string worker_name;  // this worker's base URL, as clients reach it
  bool multimodal = false;
  std::chrono::milliseconds interval{45'000};  // between heartbeats (FastChat's 45 s)
  std::chrono::milliseconds retry{5'000};      // after a failed call (FastChat's 5 s)
  std::chrono::milliseconds timeout{5'000};    // of each call
};

class Registration {
 public:
  // `status`: the worker's current status (models, speed, queue length), read for every
  // registration and heartbeat.
  Registration(net::Executor executor, RegistrationOptions options,
               std::function<WorkerStatus()> status);

  net::Task<void> run();
  // Ends run() (a call under way is abandoned).
  void stop();
  // The controller accepted the last registration and has not disowned the worker since.
  bool registered() const { return registered_; }
  // Registrations sent and accepted so far (for tests and logs).
  int registrations() const { return registrations_; }

 private:
  net::Task<bool> register_once();
  // The controller's answer to a heartbeat (exist), or nullopt when it could not be reached.
  net::Task<std::optional<bool>> heartbeat_once();
  net::Task<void> pause(std::chrono::milliseconds d);

  RegistrationOptions options_;
  std::function<WorkerStatus()> status_;
  net::Timer timer_;
  CallHandle call_;
  bool stopped_ = false;
  bool registered_ = false;
  int registrations_ = 0;
};

}  // namespace shepherd::fastchat
