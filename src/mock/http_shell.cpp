// The connection: reading requests with limits, writing, keep-alive, deadlines, noticing a peer
// that has gone, and the plain and TLS sessions; see http_shell.hpp. Everything here runs on the
// connection's worker thread.
#include "mock/http_shell.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/read_size.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/status.hpp>
#include <cerrno>
#include <exception>
#include <type_traits>

#include "mock/text.hpp"

namespace shepherd::mock::detail {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;

constexpr auto kUse = asio::as_tuple(asio::use_awaitable);

constexpr std::uint32_t kHeaderLimit = 16 * 1024;
constexpr std::uint64_t kBodyLimit = 8 * 1024 * 1024;
constexpr std::size_t kInputBufferLimit = 1024 * 1024;  // the body is moved out as it is parsed
constexpr std::size_t kReadSize = 64 * 1024;
constexpr auto kIdleTimeout = std::chrono::seconds(60);  // also bounds reading one request
constexpr auto kWriteTimeout = std::chrono::seconds(30);
constexpr auto kHandshakeTimeout = std::chrono::seconds(10);
constexpr auto kTlsShutdownTimeout = std::chrono::seconds(1);
constexpr auto kWatchdogPeriod = std::chrono::seconds(1);
constexpr auto kPeerPollInterval = milliseconds(50);

std::string_view reason_phrase(int status) {
  // 529 is Anthropic's "overloaded"; Beast knows no phrase for it.
  if (status == 529) return "Overloaded";
  const http::status known = http::int_to_status(static_cast<unsigned>(status));
  return known == http::status::unknown ? "Unknown" : http::obsolete_reason(known);
}

// Feeds a RequestHead; see basic_parser for when each hook runs.
class RequestParser final : public http::basic_parser<true> {
 public:
  explicit RequestParser(RequestHead& head) : head_(head) {}

 private:
  void on_request_impl(http::verb verb, beast::string_view method, beast::string_view target,
                       int version, beast::error_code&) override {
    head_.verb = verb;
    head_.method.assign(method.data(), method.size());
    head_.target.assign(target.data(), target.size());
    head_.version = version;
  }
  void on_response_impl(int, beast::string_view, int, beast::error_code&) override {}
  void on_field_impl(http::field name, beast::string_view name_string, beast::string_view value,
                     beast::error_code&) override {
    head_.add_header(name_string, value);  // converts to std::string_view
    if (name == http::field::expect && beast::iequals(value, "100-continue")) {
      head_.expect_continue = true;
    }
  }
  void on_header_impl(beast::error_code&) override {}
  void on_body_init_impl(const boost::optional<std::uint64_t>& length,
                         beast::error_code&) override {
    if (length) head_.body.reserve(static_cast<std::size_t>(*length));
  }
  std::size_t on_body_impl(beast::string_view body, beast::error_code&) override {
    head_.body.append(body.data(), body.size());
    return body.size();
  }
  void on_chunk_header_impl(std::uint64_t, beast::string_view, beast::error_code&) override {}
  std::size_t on_chunk_body_impl(std::uint64_t, beast::string_view body,
                                 beast::error_code&) override {
    head_.body.append(body.data(), body.size());
    return body.size();
  }
  void on_finish_impl(beast::error_code&) override {}

  RequestHead& head_;
};

enum class ReadResult { kOk, kClosed, kHeaderTooLarge, kBodyTooLarge, kBadRequest };

using PlainStream = tcp::socket;
using TlsStream = ssl::stream<tcp::socket>;

// A connection over `Stream`: what depends on the stream type (TLS handshake and shutdown, reads,
// writes) and the connection loop.
template <class Stream>
class Session final : public Connection {
 public:
  static constexpr bool kTls = std::is_same_v<Stream, TlsStream>;

  template <class... StreamArgs>
  Session(Shared& shared, Worker& worker, StreamArgs&&... stream_args)
      : Connection(shared, worker), stream_(std::forward<StreamArgs>(stream_args)...) {
    if constexpr (kTls) {
      attach(stream_.next_layer());
    } else {
      attach(stream_);
    }
  }

  static asio::awaitable<void> run(std::shared_ptr<Session> self) {
    self->register_connection();
    try {
      if (!self->worker_.stopping) co_await self->serve();
    } catch (const std::exception&) {
      // A bug or bad_alloc: drop this connection, keep serving the others.
    }
    self->close_now();
  }

 private:
  asio::awaitable<bool> write(std::array<asio::const_buffer, 2> buffers) override {
    set_deadline(kWriteTimeout);
    auto [ec, n] = co_await asio::async_write(stream_, buffers, kUse);
    (void)n;
    if (ec) {
      if (!closed_) note_disconnect();
      co_return false;
    }
    co_return true;
  }

  static ReadResult classify(const beast::error_code& ec) {
    if (ec == http::error::header_limit) return ReadResult::kHeaderTooLarge;
    if (ec == http::error::body_limit) return ReadResult::kBodyTooLarge;
    return ReadResult::kBadRequest;
  }

  asio::awaitable<ReadResult> read_request() {
    req_.clear();
    parser_.emplace(req_);
    parser_->header_limit(kHeaderLimit);
    parser_->body_limit(kBodyLimit);
    parser_->eager(true);
    bool continue_sent = false;
    for (;;) {
      while (in_.size() != 0) {
        beast::error_code ec;
        const std::size_t used = parser_->put(in_.data(), ec);
        in_.consume(used);
        if (ec == http::error::need_more) break;
        if (ec) co_return classify(ec);
        if (parser_->is_done()) co_return ReadResult::kOk;
        if (used == 0) break;
      }
      if (parser_->is_header_done() && req_.expect_continue && !continue_sent) {
        // RFC 9110 §10.1.1: curl and others wait for this before sending a larger body.
        continue_sent = true;
        constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
        if (!co_await write({asio::buffer(kContinue), asio::const_buffer()})) {
          co_return ReadResult::kClosed;
        }
        set_deadline(kIdleTimeout);
      }
      const std::size_t size = beast::read_size(in_, kReadSize);
      if (size == 0) co_return ReadResult::kHeaderTooLarge;
      auto [ec, n] = co_await stream_.async_read_some(in_.prepare(size), kUse);
      if (ec) {
        const bool eof = ec == asio::error::eof || ec == ssl::error::stream_truncated;
        if (eof && parser_->got_some()) {
          beast::error_code eof_ec;
          parser_->put_eof(eof_ec);
          if (!eof_ec && parser_->is_done()) co_return ReadResult::kOk;
        }
        co_return ReadResult::kClosed;
      }
      in_.commit(n);
    }
  }

  asio::awaitable<void> serve() {
    arm_watchdog();
    if constexpr (kTls) {
      set_deadline(kHandshakeTimeout);
      auto [ec] = co_await stream_.async_handshake(ssl::stream_base::server, kUse);
      if (ec) co_return;
    }
    for (;;) {
      dialect_ = kDefaultDialect;
      set_deadline(kIdleTimeout);
      const ReadResult result = co_await read_request();
      if (result == ReadResult::kClosed) co_return;
      if (result != ReadResult::kOk) {
        keep_alive_ = false;
        if (result == ReadResult::kHeaderTooLarge) {
          reply_error(431, "request headers are larger than 16 KiB");
        } else if (result == ReadResult::kBodyTooLarge) {
          reply_error(413, "request body is larger than 8 MiB");
        } else {
          reply_error(400, "malformed HTTP request");
        }
        co_await send_reply();
        co_await close_gracefully();
        co_return;
      }
      keep_alive_ = parser_->keep_alive();
      shared_.counters.requests.fetch_add(1, std::memory_order_relaxed);

      bool go_on = false;
      if (route() == Next::kReply) {
        // Inline rather than send_reply(): one coroutine frame and one virtual call less per
        // request.
        set_deadline(kWriteTimeout);
        auto [ec, n] = co_await asio::async_write(stream_, reply_buffers(), kUse);
        (void)n;
        if (ec && !closed_) note_disconnect();
        go_on = !ec && keep_alive_;
      } else {
        go_on = co_await answer_chat();
      }
      answering_chat_ = false;
      release_request_memory();
      if (closed_) co_return;
      if (!go_on) {
        co_await close_gracefully();
        co_return;
      }
    }
  }

  asio::awaitable<void> close_gracefully() {
    if (closed_) co_return;
    if constexpr (kTls) {
      set_deadline(kTlsShutdownTimeout);
      auto [ec] = co_await stream_.async_shutdown(kUse);
      (void)ec;
    } else {
      beast::error_code ec;
      socket_->shutdown(tcp::socket::shutdown_send, ec);
    }
    close_now();
  }

  Stream stream_;
  beast::flat_buffer in_{kInputBufferLimit};
  std::optional<RequestParser> parser_;
};

template <class Stream, class... StreamArgs>
void spawn_session(Shared& shared, Worker& worker, StreamArgs&&... stream_args) {
  auto session =
      std::make_shared<Session<Stream>>(shared, worker, std::forward<StreamArgs>(stream_args)...);
  asio::co_spawn(worker.ioc, Session<Stream>::run(std::move(session)), asio::detached);
}

}  // namespace

void append_head(std::string& out, int status, std::string_view content_type, Framing framing,
                 std::size_t content_length, int version, bool keep_alive,
                 std::string_view extra_headers, std::string_view more_headers) {
  out.append("HTTP/1.1 ");
  append_int(out, status);
  out.push_back(' ');
  out.append(reason_phrase(status));
  out.append("\r\n");
  if (!content_type.empty()) {
    out.append("Content-Type: ");
    out.append(content_type);
    out.append("\r\n");
  }
  switch (framing) {
    case Framing::kLength:
      out.append("Content-Length: ");
      append_int(out, static_cast<std::int64_t>(content_length));
      out.append("\r\n");
      break;
    case Framing::kChunked:
      out.append("Transfer-Encoding: chunked\r\n");
      break;
    case Framing::kUntilClose:
      break;
  }
  if (!keep_alive) {
    out.append("Connection: close\r\n");
  } else if (version < 11) {
    out.append("Connection: keep-alive\r\n");
  }
  out.append(extra_headers);
  out.append(more_headers);
  out.append("\r\n");
}

void append_framed(std::string& out, std::string_view bytes, bool chunked) {
  if (chunked) {
    append_hex(out, bytes.size());
    out.append("\r\n");
  }
  out.append(bytes);
  if (chunked) out.append("\r\n");
}

// ---------------------------------------------------------------------------------------------
// Connection

Connection::Connection(Shared& shared, Worker& worker)
    : shared_(shared),
      worker_(worker),
      watchdog_(worker.ioc),
      delay_timer_(worker.ioc),
      poll_timer_(worker.ioc) {
  shared_.counters.open_connections.fetch_add(1, std::memory_order_relaxed);
  shared_.counters.connections_accepted.fetch_add(1, std::memory_order_relaxed);
}

Connection::~Connection() {
  if (registered_) {
    if (prev != nullptr) prev->next = next;
    if (next != nullptr) next->prev = prev;
    if (worker_.sessions == this) worker_.sessions = next;
  }
  shared_.counters.open_connections.fetch_sub(1, std::memory_order_relaxed);
}

void Connection::register_connection() {
  next = worker_.sessions;
  if (next != nullptr) next->prev = this;
  worker_.sessions = this;
  registered_ = true;
}

void Connection::close_now() {
  closed_ = true;
  beast::error_code ec;
  socket_->close(ec);
  watchdog_.cancel();
  delay_timer_.cancel();
  poll_timer_.cancel();
}

void Connection::reset_now() {
  beast::error_code ec;
  socket_->set_option(asio::socket_base::linger(true, 0), ec);
  close_now();
}

void Connection::arm_watchdog() {
  const auto now = Clock::now();
  watchdog_.expires_at(std::min(deadline_, now + kWatchdogPeriod));
  watchdog_.async_wait([self = shared_from_this()](beast::error_code ec) {
    if (ec || self->closed_) return;
    if (Clock::now() >= self->deadline_) {
      self->close_now();
      return;
    }
    self->arm_watchdog();
  });
}

// Whether the peer has closed (FIN or RST) its side. Pending bytes are not a close, unless the TCP
// state shows a FIN behind them (TLS close_notify, or a pipelined request then close).
Connection::PeerState Connection::probe_peer() {
  const int fd = socket_->native_handle();
  char byte = 0;
  const auto r = ::recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  if (r == 0) return PeerState::kGone;
  if (r < 0) {
    return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? PeerState::kQuiet
                                                                     : PeerState::kGone;
  }
  tcp_info info{};
  socklen_t len = sizeof info;
  if (::getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) == 0 &&
      (info.tcpi_state == TCP_CLOSE_WAIT || info.tcpi_state == TCP_CLOSE)) {
    return PeerState::kGone;
  }
  return PeerState::kData;
}

// Returns when the peer has gone (peer_gone_ set) or the wait is cancelled.
asio::awaitable<void> Connection::watch_peer() {
  for (;;) {
    const PeerState state = probe_peer();
    if (state == PeerState::kGone) {
      peer_gone_ = true;
      co_return;
    }
    if (state == PeerState::kQuiet) {
      auto [ec] = co_await socket_->async_wait(tcp::socket::wait_read, kUse);
      if (ec) co_return;
    } else {
      // Bytes are waiting (a pipelined request): readiness stays set, so poll the state.
      poll_timer_.expires_after(kPeerPollInterval);
      auto [ec] = co_await poll_timer_.async_wait(kUse);
      if (ec) co_return;
    }
  }
}

asio::awaitable<void> Connection::sleep(milliseconds d) {
  delay_timer_.expires_after(d);
  auto [ec] = co_await delay_timer_.async_wait(kUse);
  (void)ec;
}

// Counts a chat request's client disconnect, once.
void Connection::note_disconnect() {
  if (answering_chat_ && !disconnect_counted_ && !shared_.stopping.load()) {
    disconnect_counted_ = true;
    shared_.counters.client_disconnects.fetch_add(1, std::memory_order_relaxed);
  }
}

// Whether the answer may go on; counts a disconnect when the peer is gone.
bool Connection::still_wanted() {
  if (peer_gone_) {
    note_disconnect();
    return false;
  }
  return !closed_;
}

asio::awaitable<bool> Connection::pause(milliseconds d) {
  if (closed_) co_return false;
  if (d.count() > 0) {
    using namespace asio::experimental::awaitable_operators;
    clear_deadline();
    co_await (sleep(d) || watch_peer());
  }
  co_return still_wanted();
}

asio::awaitable<void> Connection::stall() {
  clear_deadline();
  co_await watch_peer();
  (void)still_wanted();
}

// A big body or big-chunk answer should not pin megabytes for the life of the connection.
void Connection::release_request_memory() {
  json_.reset();
  json_parser_.reset();
  json_resource_.release();
  for (std::string* s : {&req_.body, &out_, &body_, &event_}) {
    if (s->capacity() > kReadSize) std::string().swap(*s);
  }
}

void Connection::reply(int status, std::string_view content_type, std::string_view body,
                       std::string_view extra_headers) {
  out_.clear();
  append_head(out_, status, content_type, Framing::kLength, body.size(), req_.version, keep_alive_,
              extra_headers);
  reply_body_ = body;
}

void Connection::reply_error(int status, std::string_view message, std::string_view code,
                             std::string_view extra_headers) {
  body_.clear();
  dialect_->append_error(body_, status, message, code);
  reply(status, "application/json", body_, extra_headers);
}

asio::awaitable<bool> Connection::send_reply() {
  const bool ok = co_await write(reply_buffers());
  co_return ok&& keep_alive_;
}

asio::awaitable<void> start_session(Shared* shared, Worker* worker, asio::ssl::context* tls,
                                    tcp::socket socket) {
  if (tls != nullptr) {
    spawn_session<TlsStream>(*shared, *worker, std::move(socket), *tls);
  } else {
    spawn_session<PlainStream>(*shared, *worker, std::move(socket));
  }
  co_return;
}

}  // namespace shepherd::mock::detail
