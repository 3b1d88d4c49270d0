// Listening sockets and the connections they accept. Each event loop has its own listener bound
// with SO_REUSEPORT to the shared port (the kernel spreads new connections) and its own
// ConnectionSet; nothing here is shared between loops.
#pragma once

#include <functional>
#include <set>

#include "net/asio.hpp"
#include "net/connection_limits.hpp"
#include "net/http_connection.hpp"
#include "net/tls.hpp"

namespace shepherd::net {

// The open client connections of one loop: swept for deadlines, told to shut down, aborted.
class ConnectionSet {
 public:
  explicit ConnectionSet(asio::io_context& ioc) : ioc_(ioc) {}

  void add(ClientConnection* c) { all_.insert(c); }
  // Once stopping, the last connection to go stops the loop.
  void remove(ClientConnection* c);

  bool empty() const { return all_.empty(); }
  bool stopping() const { return stopping_; }

  void sweep(Clock::time_point now);
  // Graceful stop: each connection ends after its current answer, or within `grace` when idle
  // (ClientConnection::shutdown()).
  void shutdown(Clock::duration grace = {});
  // After the drain timeout: everything closes (the last connection to go still stops the loop).
  void abort();

 private:
  asio::io_context& ioc_;
  std::set<ClientConnection*> all_;
  bool stopping_ = false;
};

// A listening socket on `endpoint` with SO_REUSEPORT. Throws boost::system::system_error.
Acceptor open_acceptor(asio::io_context& ioc, const tcp::endpoint& endpoint);
// Closes a listening socket, which a later handover then no longer passes on (handover.hpp).
void close_acceptor(Acceptor& acceptor);

// Accepts until the acceptor closes; `serve` runs each connection (its coroutine is spawned on
// the acceptor's loop and owns the connection). Each connection speaks TLS with the context
// `tls` holds when it is accepted, when it holds one. With `limits`, a connection over them goes
// to `refuse` instead (which answers 503 and closes), or is closed at once while
// ConnectionLimits::kMaxRefusing refusals are under way.
using ServeConnection = std::function<Task<void>(std::shared_ptr<ClientConnection>)>;
using RefuseConnection =
    std::function<Task<void>(std::shared_ptr<ClientConnection>, ConnectionLimits::Refusal)>;
struct AcceptOptions {
  const ServerTls* tls = nullptr;
  ConnectionLimits* limits = nullptr;
  RefuseConnection refuse;
};
Task<void> accept_loop(Acceptor& acceptor, ConnectionSet& connections, ServeConnection serve,
                       AcceptOptions options = {});

}  // namespace shepherd::net
