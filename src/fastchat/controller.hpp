// `shepherd controller`: FastChat's controller (docs/fastchat-protocol.md §1) on Shepherd's I/O
// shell. Workers register and send heartbeats; API servers ask which worker serves a model, or send
// their generate requests through it. Every endpoint answers the bodies FastChat's controller
// answers, so FastChat's own workers and API server work with it unchanged.
//
// Where it differs from FastChat 0.2.36, on purpose:
// - Expired workers go within a second of their expiration (FastChat sweeps every 90 s, so a dead
//   worker stays up to twice as long).
// - A malformed body gets 400 with {"detail": reason} (FastChat: 500 "Internal Server Error").
// - /worker_generate_stream without a worker for the model sends one error chunk (code 50005),
//   not FastChat's two (50005 then 50006).
// - SIGTERM stops it (FastChat's controller thread ignores it).
// - A worker that cannot be reached, or breaks off, while the stream proxy calls it is dropped at
//   once (FastChat keeps dispatching to it until it expires); its next heartbeat, if it is alive,
//   registers it again.
//
// Threads: one event loop of its own; start() and stop() from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "config/tls.hpp"
#include "fastchat/registry.hpp"
#include "net/tls.hpp"

namespace shepherd::fastchat {

struct ControllerOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 21001;  // 0: an ephemeral port (port() says which)
  DispatchMethod dispatch = DispatchMethod::kShortestQueue;
  // A worker that checks heartbeats and sends none for this long is dropped (FastChat's
  // CONTROLLER_HEART_BEAT_EXPIRATION).
  std::chrono::milliseconds expiration{90'000};
  std::chrono::milliseconds worker_timeout{5'000};    // status polls of workers
  std::chrono::milliseconds stream_timeout{100'000};  // the stream proxy, per read
  std::function<Registry::Time()> clock;              // empty: steady_clock
  std::function<double()> random;                     // [0, 1) for lottery; empty: mt19937
  config::ListenerTlsConfig tls;                      // HTTPS (FastChat's --ssl) when enabled
  std::string tls_setting = "--ssl";                  // where `tls` came from, for errors
};

class Controller {
 public:
  explicit Controller(ControllerOptions options);
  ~Controller();
  Controller(const Controller&) = delete;
  Controller& operator=(const Controller&) = delete;

  // Binds and starts serving on a thread of its own. Throws std::runtime_error when it cannot
  // listen or its certificate cannot be loaded.
  void start();
  std::uint16_t port() const;
  // The TLS context new connections get (null: plain HTTP); replace it to use new certificates.
  net::ServerTls& tls();
  // Closes the listener and the connections and ends the thread; idempotent.
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace shepherd::fastchat
