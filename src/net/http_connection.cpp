#include "net/http_connection.hpp"

#include <sys/socket.h>

#include <charconv>

#include "net/listener.hpp"

namespace shepherd::net {

namespace {

// The first read of a request: most chat requests fit; larger ones grow the buffer as the parser
// reads on. Kept small because every open connection holds one (10 000 streams × 16 KiB was
// most of their memory).
constexpr std::size_t kFirstRead = 4096;

std::string_view reason(int status) {
  return http::obsolete_reason(http::int_to_status(static_cast<unsigned>(status)));
}

}  // namespace

ClientConnection::ClientConnection(Socket socket, ConnectionSet& set,
                                   std::shared_ptr<asio::ssl::context> tls)
    : tls_(std::move(tls)), stream_(std::move(socket), tls_.get()), set_(set) {
  set_.add(this);
  error_code ec;
  this->socket().set_option(tcp::no_delay(true), ec);
  this->socket().non_blocking(true, ec);  // for write_all()
}

const std::string& ClientConnection::remote_address() {
  if (!remote_address_) {
    error_code ec;
    const auto endpoint = socket().remote_endpoint(ec);
    remote_address_ = ec ? std::string() : endpoint.address().to_string();
  }
  return *remote_address_;
}

ClientConnection::~ClientConnection() { set_.remove(this); }

Task<ReadResult> ClientConnection::read_request(Request& request, const ReadLimits& limits) {
  idle_ = true;
  request_headers_.clear();
  if (stream_.tls() && !handshaken_) {
    const bool ok = co_await handshake(limits);
    if (!ok) co_return ReadResult{ReadStatus::kClosed, {}};
  }
  if (buffer_.size() == 0) {
    // Wait for the next request no longer than the keep-alive timeout (a draining connection:
    // its grace).
    set_deadline(draining_ ? std::min(limits.keepalive, drain_grace_) : limits.keepalive);
    if (answered_) {
      // The answer went out a moment ago and the client cannot have sent its next request yet:
      // reading now would cost a system call that finds nothing. The other connections' work
      // runs first.
      co_await asio::post(socket().get_executor(), asio::use_awaitable_t<Executor>{});
      // A deadline meanwhile found no read to cancel (a shutdown sets a deadline).
      if (timed_out_) {
        clear_deadline();
        co_return ReadResult{ReadStatus::kClosed, {}};
      }
    }
    error_code ec;
    std::size_t n = 0;
    if (stream_.tls()) {
      auto [rec, rn] = co_await read_some(kFirstRead);
      ec = rec;
      n = rn;
    } else {
      // A plain socket is read at once when the request is there, as it nearly always is; else
      // the wait holds no buffer, so that a connection waiting for a request (a flood of new
      // ones, or idle kept-alive ones) costs none.
      for (;;) {
        n = socket().read_some(buffer_.prepare(kFirstRead), ec);
        if (ec != asio::error::would_block && ec != asio::error::try_again) break;
        buffer_.shrink_to_fit();
        auto [wec] = co_await socket().async_wait(tcp::socket::wait_read, kUseTuple);
        ec = wec;
        if (ec) break;
      }
    }
    clear_deadline();
    if (ec) co_return ReadResult{ReadStatus::kClosed, {}};
    buffer_.commit(n);
  }
  answered_ = false;
  idle_ = false;
  RequestParser parser(request);
  parser.header_limit(static_cast<std::uint32_t>(limits.max_header_bytes));
  parser.body_limit(limits.max_body_bytes);
  // The whole request (headers and body) must arrive within the request timeout.
  set_deadline(limits.request);
  auto rec = co_await read_until(parser, ReadUntil::kHeader);
  if (!rec && request.expect_continue && !parser.is_done()) {
    static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
    const auto wec = co_await stream_.write(asio::buffer(kContinue));
    if (wec) {
      clear_deadline();
      keep_alive_ = false;
      co_return ReadResult{ReadStatus::kClosed, {}};
    }
  }
  if (!rec) {
    rec = co_await read_until(parser, ReadUntil::kMessage);
  }
  clear_deadline();
  if (timed_out_) rec = beast::error::timeout;
  if (!rec) {
    keep_alive_ = keep_alive_ && request.keep_alive;
    co_return ReadResult{ReadStatus::kRequest, {}};
  }
  keep_alive_ = false;
  if (rec == beast::error::timeout) co_return ReadResult{ReadStatus::kTimeout, {}};
  if (rec == http::error::header_limit) co_return ReadResult{ReadStatus::kHeadersTooLarge, {}};
  if (rec == http::error::body_limit) co_return ReadResult{ReadStatus::kBodyTooLarge, {}};
  if (rec == http::error::end_of_stream || rec == asio::error::eof ||
      rec == asio::error::connection_reset || rec == asio::error::operation_aborted) {
    co_return ReadResult{ReadStatus::kClosed, {}};
  }
  co_return ReadResult{ReadStatus::kMalformed, rec.message()};
}

Task<bool> ClientConnection::handshake(const ReadLimits& limits) {
  handshaken_ = true;
  set_deadline(limits.request);
  auto [ec, n] = co_await socket().async_read_some(buffer_.prepare(kFirstRead), kUseTuple);
  if (ec || timed_out_) {
    clear_deadline();
    co_return false;
  }
  buffer_.commit(n);
  // Every TLS connection opens with a handshake record, content type 22. Anything else is most
  // likely plain HTTP: it gets an answer it can show, not a TLS alert or a hang.
  if (static_cast<const unsigned char*>(buffer_.data().data())[0] != 22) {
    static constexpr std::string_view kBody =
        R"({"error":{"message":"This port speaks HTTPS: send the request to https:// instead.",)"
        R"("type":"invalid_request_error","param":null,"code":"https_required"}})"
        "\n";
    keep_alive_ = false;
    const auto head = this->head(400, "application/json", kBody.size());
    std::array<asio::const_buffer, 2> bufs{asio::buffer(head.data(), head.size()),
                                           asio::buffer(kBody)};
    co_await write_all(socket(), bufs);
    clear_deadline();
    co_return false;
  }
  auto [hec, used] = co_await stream_.ssl().async_handshake(asio::ssl::stream_base::server,
                                                            buffer_.data(), kUseTuple);
  buffer_.consume(buffer_.size());  // the handshake took it all, whatever it used
  clear_deadline();
  co_return !hec && !timed_out_;
}

std::string_view ClientConnection::head(int status, std::string_view content_type,
                                        std::optional<std::size_t> length,
                                        std::string_view extra_headers) {
  auto& h = head_;  // reused: keeps its capacity across requests
  char number[24];
  auto digits = [&number](std::size_t v) {
    const auto [end, ec] = std::to_chars(number, number + sizeof number, v);
    return std::string_view(number, static_cast<std::size_t>(end - number));
  };
  h.clear();
  if (status == 200) {
    h.append("HTTP/1.1 200 OK");
  } else {
    h.append("HTTP/1.1 ").append(digits(static_cast<std::size_t>(status))).append(" ");
    h.append(reason(status));
  }
  h.append("\r\nContent-Type: ").append(content_type);
  if (length) {
    h.append("\r\nContent-Length: ").append(digits(*length));
  } else {
    h.append("\r\nTransfer-Encoding: chunked\r\nCache-Control: no-cache\r\nX-Accel-Buffering: no");
  }
  h.append("\r\n").append(request_headers_).append(extra_headers);
  if (!keep_alive_) {
    h.append("Connection: close\r\n");
    close_announced_ = true;
  }
  h.append("\r\n");
  return h;
}

Task<void> ClientConnection::write(std::string_view head, std::string_view body,
                                   Clock::duration timeout) {
  if (write_failed_) co_return;
  set_deadline(timeout);
  std::array<asio::const_buffer, 2> bufs{asio::buffer(head.data(), head.size()),
                                         asio::buffer(body.data(), body.size())};
  const auto ec = co_await stream_.write(bufs);
  clear_deadline();
  answered_ = true;
  if (ec) {
    write_failed_ = true;
    keep_alive_ = false;
  }
}

void ClientConnection::release_read_buffer() {
  if (buffer_.size() == 0) buffer_.shrink_to_fit();
}

void ClientConnection::begin_watch(CancelState& cancel) {
  cancel_ = &cancel;
  watch_since_ = coarse_now();
}

void ClientConnection::end_watch() {
  ++watch_gen_;
  cancel_ = nullptr;
  if (armed_) {
    armed_ = false;
    error_code ec;
    socket().cancel(ec);
  }
}

void ClientConnection::sweep(Clock::time_point now) {
  if (now >= deadline_) {
    // The client step is late: cancel it (the watch, if armed, goes with it).
    timed_out_ = true;
    deadline_ = Clock::time_point::max();
    armed_ = false;
    ++watch_gen_;
    error_code ec;
    socket().cancel(ec);
  }
  if (!cancel_) return;
  cancel_->check_deadline(now);
  if (!armed_ && now - watch_since_ >= kWatchDelay) arm_watch();
}

void ClientConnection::arm_watch() {
  armed_ = true;
  const auto gen = watch_gen_;
  socket().async_wait(tcp::socket::wait_read, [self = shared_from_this(), gen](error_code ec) {
    if (ec || gen != self->watch_gen_ || !self->cancel_) return;
    self->armed_ = false;
    char byte;
    const auto n = ::recv(self->socket().native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
      self->cancel_->cancel();  // the client closed: cancel the upstream call now
    } else if (n < 0) {
      self->arm_watch();
    }
    // n > 0: the client sent more (a pipelined request); it is read after this answer.
  });
}

void ClientConnection::shutdown(Clock::duration grace) {
  keep_alive_ = false;
  draining_ = grace > Clock::duration::zero();
  drain_grace_ = grace;
  if (!idle_) return;
  if (!draining_) {
    error_code ec;
    socket().cancel(ec);
    return;
  }
  // The sweep cancels the wait for a request at this deadline.
  deadline_ = std::min(deadline_, coarse_now() + grace);
}

void ClientConnection::abort() {
  keep_alive_ = false;
  if (cancel_) cancel_->cancel();
  error_code ec;
  socket().close(ec);
}

void ClientConnection::close() {
  error_code ec;
  socket().shutdown(tcp::socket::shutdown_send, ec);
  socket().close(ec);
}

}  // namespace shepherd::net
