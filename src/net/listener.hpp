// Listening sockets and the connections they accept. Each event loop has its own listener bound
// with SO_REUSEPORT to the shared port (the kernel spreads new connections) and its own
// ConnectionSet; nothing here is shared between loops.
#pragma once

#include <functional>
#include <set>

#include "net/asio.hpp"
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
  // Graceful stop: idle connections close now, busy ones after their current answer.
  void shutdown();
  // After the drain timeout: everything closes (the last connection to go still stops the loop).
  void abort();

 private:
  asio::io_context& ioc_;
  std::set<ClientConnection*> all_;
  bool stopping_ = false;
};

// A listening socket on `endpoint` with SO_REUSEPORT. Throws boost::system::system_error.
Acceptor open_acceptor(asio::io_context& ioc, const tcp::endpoint& endpoint);

// Accepts until the acceptor closes; `serve` runs each connection (its coroutine is spawned on
// the acceptor's loop and owns the connection). Each connection speaks TLS with the context
// `tls` holds when it is accepted, when it holds one.
using ServeConnection = std::function<Task<void>(std::shared_ptr<ClientConnection>)>;
Task<void> accept_loop(Acceptor& acceptor, ConnectionSet& connections, ServeConnection serve,
                       const ServerTls* tls = nullptr);

}  // namespace shepherd::net
