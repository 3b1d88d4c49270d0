// A connection's bytes: a plain TCP socket, or TLS over one. Client and upstream connections are
// built on it and reach whichever it is through visit(), so one coroutine serves both.
#pragma once

#include <memory>
#include <optional>
#include <utility>

#include "net/asio.hpp"

namespace shepherd::net {

class ByteStream {
 public:
  // TLS over `socket` when `tls` is given (the handshake is the owner's to make), else plain.
  ByteStream(Socket socket, asio::ssl::context* tls) {
    if (tls) {
      ssl_ = std::make_unique<TlsStream>(std::move(socket), *tls);
    } else {
      plain_.emplace(std::move(socket));
    }
  }

  bool tls() const { return ssl_ != nullptr; }
  Socket& socket() { return ssl_ ? ssl_->next_layer() : *plain_; }
  TlsStream& ssl() { return *ssl_; }

  // Calls f(stream) with the plain or TLS stream; both branches must return the same type.
  template <typename F>
  auto visit(F&& f) {
    return ssl_ ? f(*ssl_) : f(*plain_);
  }

  // Sends all of `buffers`: on a plain socket directly when it takes them at once (write_all()).
  template <typename Buffers>
  Task<error_code> write(Buffers buffers) {
    if (!ssl_) return write_all(*plain_, buffers);
    return [](TlsStream& s, Buffers b) -> Task<error_code> {
      auto [ec, n] = co_await asio::async_write(s, b, kUseTuple);
      co_return ec;
    }(*ssl_, buffers);
  }

 private:
  std::optional<Socket> plain_;
  // On the heap: a TLS stream is several times a socket's size, and most connections are plain
  // (memory per open stream counts both a client and an upstream connection).
  std::unique_ptr<TlsStream> ssl_;
};

}  // namespace shepherd::net
