// One HTTP/1.1 client connection, plain or TLS: reads requests within limits (header and body size,
// the keep-alive and request timeouts), writes answers (whole, or chunked as a stream goes), keeps
// the connection alive between requests, and watches for the client leaving while an upstream
// call runs. It knows bytes and HTTP, nothing of any API dialect.
//
// Lives on one event loop and is touched only there. Owned by the coroutine that serves it (a
// shared_ptr, so a pending disconnect watch can keep it alive); registered in its loop's
// ConnectionSet for the deadline sweep and for shutdown.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>

#include "net/asio.hpp"
#include "net/byte_stream.hpp"
#include "net/connection_limits.hpp"
#include "net/http_message.hpp"
#include "net/upstream.hpp"

namespace shepherd::net {

class ConnectionSet;

using Request = HttpRequest;

struct ReadLimits {
  std::size_t max_header_bytes = 16 * 1024;
  std::size_t max_body_bytes = 4 * 1024 * 1024;
  Clock::duration keepalive{std::chrono::seconds(60)};  // waiting for a request's first byte
  Clock::duration request{std::chrono::seconds(30)};    // then for the whole request
};

// How reading a request ended. Anything but kRequest closes the connection after the answer.
enum class ReadStatus {
  kRequest,          // a complete request
  kClosed,           // the client closed or went quiet between requests: no answer
  kTimeout,          // 408
  kHeadersTooLarge,  // 431
  kBodyTooLarge,     // 413
  kMalformed,        // 400; `detail` says what
};
struct ReadResult {
  ReadStatus status = ReadStatus::kClosed;
  std::string detail;
};

class ClientConnection : public std::enable_shared_from_this<ClientConnection> {
 public:
  // TLS with `tls` (the handshake comes with the first read_request()), else plain HTTP.
  ClientConnection(Socket socket, ConnectionSet& set,
                   std::shared_ptr<asio::ssl::context> tls = nullptr);
  ~ClientConnection();
  ClientConnection(const ClientConnection&) = delete;
  ClientConnection& operator=(const ClientConnection&) = delete;

  // Waits for the next request and reads it whole into `request`. Answers
  // `Expect: 100-continue` itself. On a TLS connection the first call makes the handshake within
  // the request timeout, and a client speaking plain HTTP gets a 400 that says to use https.
  Task<ReadResult> read_request(Request& request, const ReadLimits& limits);

  // The client's address ("203.0.113.7" or "2001:db8::1"), looked up once per connection; ""
  // when the socket no longer knows it.
  const std::string& remote_address();

  // Headers every answer to the current request carries (request id, CORS, routing), each line
  // ending in CRLF. Cleared by read_request().
  std::string& request_headers() { return request_headers_; }

  // The head of an answer: status line, Content-Type, Content-Length (or chunked framing when
  // `length` is absent), request_headers(), `extra_headers`, and Connection: close when the
  // connection will not be kept. Valid until the next call.
  std::string_view head(int status, std::string_view content_type,
                        std::optional<std::size_t> length, std::string_view extra_headers = {});
  // Writes `head` then `body` in one call, within `timeout`; a failure marks the connection
  // failed (write_failed()) and not reusable. Does nothing once a write has failed.
  Task<void> write(std::string_view head, std::string_view body, Clock::duration timeout);
  Task<void> respond(int status, std::string_view content_type, std::string_view body,
                     std::string_view extra_headers, Clock::duration timeout) {
    // Not a coroutine itself: the head is built now, the caller awaits write()'s frame only.
    return write(head(status, content_type, body.size(), extra_headers), body, timeout);
  }

  // The connection's place under the process's connection limits, given back when it ends.
  void hold(ConnectionLimits::Ticket ticket) { ticket_ = std::move(ticket); }

  bool keep_alive() const { return keep_alive_; }
  // Whether another request may come on this connection: no answer said Connection: close, no
  // write failed, and the connection is kept alive or draining (a client that was not told to
  // close may still send one more request, answered with Connection: close).
  bool wants_requests() const {
    return !close_announced_ && !write_failed_ && (keep_alive_ || draining_);
  }
  void close_after_answer() { keep_alive_ = false; }
  bool write_failed() const { return write_failed_; }
  // The client is gone (noticed while an upstream call ran): nothing more is written.
  void mark_gone() {
    keep_alive_ = false;
    write_failed_ = true;
  }
  // A stream may stay open for minutes: the request's read buffer is not kept meanwhile, nor,
  // once the stream's head is written, the buffers the head was built in.
  void release_read_buffer();
  void release_head_buffers() {
    std::string().swap(head_);
    std::string().swap(request_headers_);
  }

  // Client-disconnect watch over an upstream call: begin_watch() costs no system call; the
  // loop's sweep arms a readability wait on the socket once the call has lasted kWatchDelay, so
  // quick answers never pay for it and slow ones are cancelled within about twice that. When the
  // client leaves, `cancel` is cancelled.
  void begin_watch(CancelState& cancel);
  void end_watch();

  // Every kWatchDelay, from the loop's sweep: cancels a client step past its deadline, checks the
  // deadlines of the upstream call being watched and arms the watch when it is due.
  void sweep(Clock::time_point now);
  // Graceful stop: every answer from now on says Connection: close. A client that has not been
  // told so may still send one request within `grace` (it waits no longer), so a request sent
  // as the stop began is answered rather than reset; grace 0: an idle connection closes now.
  void shutdown(Clock::duration grace);
  // Past the drain timeout: the connection closes and the upstream call is cancelled.
  void abort();
  // Closes the connection (the serving coroutine's last step).
  void close();

  static constexpr auto kWatchDelay = std::chrono::milliseconds(50);

 private:
  void set_deadline(Clock::duration d) {
    deadline_ = coarse_now() + d;
    timed_out_ = false;
  }
  void clear_deadline() { deadline_ = Clock::time_point::max(); }
  void arm_watch();
  Task<bool> handshake(const ReadLimits& limits);
  // Reads into buffer_ (not coroutines: they pick the plain or TLS read).
  Task<std::tuple<error_code, std::size_t>> read_some(std::size_t n) {
    return stream_.visit([&](auto& s) { return s.async_read_some(buffer_.prepare(n), kUseTuple); });
  }
  Task<error_code> read_until(RequestParser& parser, ReadUntil until) {
    return stream_.visit([&](auto& s) { return read_parsed(s, buffer_, parser, until); });
  }
  Socket& socket() { return stream_.socket(); }

  ConnectionLimits::Ticket ticket_;
  std::shared_ptr<asio::ssl::context> tls_;  // kept while the connection lives
  ByteStream stream_;
  ConnectionSet& set_;
  // Deadline of the client I/O step under way (the same scheme as UpstreamConnection).
  Clock::time_point deadline_ = Clock::time_point::max();
  bool timed_out_ = false;
  beast::flat_buffer buffer_;
  bool keep_alive_ = true;
  bool draining_ = false;
  bool close_announced_ = false;  // an answer's head said Connection: close
  Clock::duration drain_grace_{};
  bool idle_ = true;
  bool write_failed_ = false;
  bool answered_ = false;  // something was written since the last request was read
  bool handshaken_ = false;
  std::optional<std::string> remote_address_;
  std::string request_headers_;
  std::string head_;
  std::uint64_t watch_gen_ = 0;
  CancelState* cancel_ = nullptr;
  bool armed_ = false;
  Clock::time_point watch_since_{};
};

}  // namespace shepherd::net
