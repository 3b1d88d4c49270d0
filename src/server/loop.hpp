// One event loop of the server: its io_context and thread, its listener, its connections and
// the state its requests share (pipeline::LoopContext). Touched only on its own thread, except
// where noted.
#pragma once

#include <memory>
#include <optional>

#include "admin/admin_api.hpp"
#include "pipeline/context.hpp"
#include "server/server.hpp"

namespace shepherd::server {

namespace asio = net::asio;

struct Server::Loop {
  Loop(Server& server_, int index, observability::Metrics& metrics, std::uint64_t id_salt,
       std::uint64_t seed)
      : server(server_), context(ioc, index, metrics, id_salt, seed) {}

  Server& server;
  // Only this loop's thread touches its sockets, so the reactor needs no locking for I/O.
  asio::io_context ioc{BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO};
  pipeline::LoopContext context;
  // The listening sockets this loop accepts from: usually one per listener, more after an
  // upgrade from a process that had more loops (handover.hpp).
  enum class Role { kApi, kUi, kWorker };
  struct Listening {
    Role role;
    net::Acceptor acceptor;
  };
  std::vector<Listening> listening;
  std::optional<net::Timer> drain_timer;
  std::optional<net::Timer> sweep_timer;
  bool finishing = false;

  // Makes `snap` current for the requests that start from now on. Runs on this loop's thread
  // (or before it runs).
  void install(std::shared_ptr<const Snapshot> snap);
  // Every ClientConnection::kWatchDelay: deadlines, disconnect watches, idle pool trimming.
  void sweep();
  // Graceful stop (on this loop's thread): the listener closes, idle connections close, the rest
  // finish their answer within server.timeouts.drain.
  void begin_stop();
  // After the loop's thread has stopped: aborts what is left (connections past the drain
  // timeout) and runs the context until their requests have ended (each settling its limits
  // while the Redis limiter is still connected), then stops the loop's limiter and runs the
  // context until every coroutine has unwound, so nothing is destroyed while a handler that uses
  // it is still queued.
  void finish();
};

// Serves one client connection of the API listener until it closes: reads each request and
// dispatches it by path to the probes, the admin API or a dialect's chat pipeline (session.cpp).
net::Task<void> serve_connection(Server::Loop& loop, std::shared_ptr<net::ClientConnection> conn);
// The same for the web UI's listener: the UI's files at / and /ui/, everything else as on the API
// listener (session.cpp).
net::Task<void> serve_ui_connection(Server::Loop& loop,
                                    std::shared_ptr<net::ClientConnection> conn);
// The same for the FastChat worker's listener (worker_session.cpp).
net::Task<void> serve_worker_connection(Server::Loop& loop,
                                        std::shared_ptr<net::ClientConnection> conn);
// A connection over the connection limits: its request (read within a second) gets 503 with
// Retry-After in its dialect's shape, and the connection closes.
net::Task<void> serve_refused(Server::Loop& loop, std::shared_ptr<net::ClientConnection> conn,
                              net::ConnectionLimits::Refusal why);

// GET /health, /health/ready, /metrics (with `extra_metrics` appended) and /stats, on every
// listener; another method gets 405.
bool is_probe(std::string_view target);
net::Task<void> serve_probe(Server::Loop& loop, pipeline::RequestContext& rc,
                            const net::Request& request, std::string_view target,
                            std::string_view extra_metrics = {});

// How a listener answers: the route of a request that was read (its dialect, for errors and
// chat, and a kind the answer function knows), then the coroutine that answers it.
struct Routed {
  const ingress::Dialect* dialect = &ingress::default_dialect();
  int kind = 0;
};
using RouteRequest = Routed (*)(const net::Request& request);
using AnswerRequest = net::Task<void> (*)(Server::Loop& loop, pipeline::RequestContext& rc,
                                          net::Request& request, int kind);
// Reads requests from `conn` until it closes (or the loop stops), each with its request id and
// snapshot; a request that cannot be read gets its error in the default dialect's shape. An
// answer that leaves a committed stream (RequestContext::detach_streams) ends this coroutine:
// the stream goes on in a task of its own, which reads the connection's next request after it.
net::Task<void> serve_requests(Server::Loop& loop, std::shared_ptr<net::ClientConnection> conn,
                               RouteRequest route, AnswerRequest answer);

}  // namespace shepherd::server
