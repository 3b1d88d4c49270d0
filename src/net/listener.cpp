#include "net/listener.hpp"

#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <stdexcept>

namespace shepherd::net {

void ConnectionSet::remove(ClientConnection* c) {
  all_.erase(c);
  if (stopping_ && all_.empty()) ioc_.stop();
}

void ConnectionSet::sweep(Clock::time_point now) {
  for (auto* c : all_) c->sweep(now);
}

void ConnectionSet::shutdown() {
  stopping_ = true;
  for (auto* c : all_) c->shutdown();
}

void ConnectionSet::abort() {
  stopping_ = true;
  for (auto* c : all_) c->abort();
}

Acceptor open_acceptor(asio::io_context& ioc, const tcp::endpoint& endpoint) {
  Acceptor acceptor(ioc);
  acceptor.open(endpoint.protocol());
  acceptor.set_option(asio::socket_base::reuse_address(true));
  int one = 1;
  // Each loop has its own listening socket on the same port; the kernel spreads connections.
  if (::setsockopt(acceptor.native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) {
    throw std::runtime_error("SO_REUSEPORT is not available");
  }
  acceptor.bind(endpoint);
  acceptor.listen(asio::socket_base::max_listen_connections);
  return acceptor;
}

Task<void> accept_loop(Acceptor& acceptor, ConnectionSet& connections, ServeConnection serve,
                       const ServerTls* tls) {
  auto executor = acceptor.get_executor();
  while (!connections.stopping()) {
    auto [ec, socket] = co_await acceptor.async_accept(kUseTuple);
    if (ec) {
      if (connections.stopping() || ec == asio::error::operation_aborted) break;
      // EMFILE and friends: back off briefly instead of spinning.
      spdlog::warn("accept failed: {}", ec.message());
      Timer t(executor, std::chrono::milliseconds(50));
      co_await t.async_wait(kUseTuple);
      continue;
    }
    auto connection = std::make_shared<ClientConnection>(std::move(socket), connections,
                                                         tls ? tls->current() : nullptr);
    asio::co_spawn(executor, serve(std::move(connection)), asio::detached);
  }
}

}  // namespace shepherd::net
