#include "net/listener.hpp"

#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <stdexcept>

#include "net/handover.hpp"

namespace shepherd::net {

void ConnectionSet::remove(ClientConnection* c) {
  all_.erase(c);
  if (stopping_ && all_.empty()) ioc_.stop();
}

void ConnectionSet::sweep(Clock::time_point now) {
  for (auto* c : all_) c->sweep(now);
}

void ConnectionSet::shutdown(Clock::duration grace) {
  stopping_ = true;
  for (auto* c : all_) c->shutdown(grace);
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

void close_acceptor(Acceptor& acceptor) {
  if (!acceptor.is_open()) return;
  unregister_listener(acceptor.native_handle());
  error_code ec;
  acceptor.close(ec);
}

Task<void> accept_loop(Acceptor& acceptor, ConnectionSet& connections, ServeConnection serve,
                       AcceptOptions options) {
  auto executor = acceptor.get_executor();
  const auto* tls = options.tls;
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
    ConnectionLimits::Ticket ticket;
    auto refusal = ConnectionLimits::Refusal::kNone;
    if (options.limits) {
      error_code pec;
      const auto peer = socket.remote_endpoint(pec);
      if (pec) continue;  // the client already left
      refusal = options.limits->admit(peer, ticket);
      if (refusal != ConnectionLimits::Refusal::kNone && !options.limits->begin_refusal()) {
        socket.close(pec);
        continue;
      }
    }
    auto connection = std::make_shared<ClientConnection>(std::move(socket), connections,
                                                         tls ? tls->current() : nullptr);
    if (refusal == ConnectionLimits::Refusal::kNone) {
      connection->hold(std::move(ticket));
      asio::co_spawn(executor, serve(std::move(connection)), asio::detached);
      continue;
    }
    asio::co_spawn(executor, options.refuse(std::move(connection), refusal),
                   [limits = options.limits](std::exception_ptr) { limits->end_refusal(); });
  }
}

}  // namespace shepherd::net
