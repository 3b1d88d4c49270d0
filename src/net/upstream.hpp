// The upstream client: a keep-alive connection pool per provider and per event-loop thread,
// plain HTTP or verified HTTPS, with a deadline on every step. Everything here runs on the
// owning thread's io_context and is not thread-safe.
#pragma once

#include <array>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/gauge.hpp"
#include "base/result.hpp"
#include "base/text.hpp"
#include "config/config.hpp"
#include "net/asio.hpp"
#include "net/byte_stream.hpp"
#include "net/http_message.hpp"

namespace shepherd::net {

// The plain or TLS stream (ByteStream) to one upstream, with the exchange under way on it.
class UpstreamConnection : public ByteStream {
 public:
  UpstreamConnection(Executor executor, asio::ssl::context* tls)
      : ByteStream(Socket(executor), tls) {}

  // Cancels every pending operation (the client went away); the connection is not reusable.
  void cancel();

  // Deadlines without a timer per operation: the step under way must end by `deadline`; the
  // owning session's periodic sweep calls check_deadline(), which cancels the step once it is
  // late. timed_out then tells a cancelled step from a failed one.
  void expires_after(Clock::duration d) { deadline_ = coarse_now() + d; }
  void expires_never() { deadline_ = Clock::time_point::max(); }
  void check_deadline(Clock::time_point now);
  // `ec` as the caller should see it: a timeout when the sweep cancelled the step.
  error_code result(const error_code& ec) const {
    return timed_out ? error_code(beast::error::timeout) : ec;
  }

  // The response of the exchange under way, read through `parser` (emplace it first): up to the
  // end of the header, the whole message, or until some body bytes (or the end) are in
  // response.body. Errors as read_parsed() reports them; pass them through result().
  // Called right after the request was sent: the first read is deferred (read_parsed()).
  Task<error_code> read_header() { return read(ReadUntil::kHeader, true); }
  Task<error_code> read_message() { return read(ReadUntil::kMessage); }
  Task<error_code> read_some_body() { return read(ReadUntil::kBody); }

  // Frees the read buffer and the response body when they are empty: an open stream between
  // two reads holds neither (each read takes them again, a small allocation).
  void release_buffers() {
    if (buffer.size() == 0) buffer.shrink_to_fit();
    base::release_idle(response.body, 0);
  }

  beast::flat_buffer buffer;
  HttpResponse response;                 // reused by every exchange on this connection
  std::optional<ResponseParser> parser;  // the exchange under way; fills `response`
  bool reused = false;
  bool cancelled = false;
  bool timed_out = false;
  Clock::time_point idle_since{};

 private:
  Clock::time_point deadline_ = Clock::time_point::max();
  bool stopped_ = false;  // cancel() or a deadline fired: a deferred read must not start

  Task<error_code> read(ReadUntil until, bool defer = false) {
    return visit([&](auto& s) {
      return read_parsed(s, buffer, *parser, until, &response.body, defer ? &stopped_ : nullptr);
    });
  }
};

using ConnectionPtr = std::unique_ptr<UpstreamConnection>;

// Lets a client disconnect (or a hedge that lost the race) cancel whatever upstream step is
// under way. A request's state links those of its attempts, so cancelling it cancels them all.
struct CancelState {
  bool client_gone = false;  // cancelled: the client left, or this attempt is not needed
  UpstreamConnection* active = nullptr;
  Timer* waiting = nullptr;
  std::array<CancelState*, 2> attempts{};
  void cancel() {
    client_gone = true;
    if (active) active->cancel();
    if (waiting) waiting->cancel();
    for (auto* a : attempts) {
      if (a) a->cancel();
    }
  }
  // The periodic deadline sweep (see UpstreamConnection::check_deadline).
  void check_deadline(Clock::time_point now) {
    if (active) active->check_deadline(now);
    for (auto* a : attempts) {
      if (a) a->check_deadline(now);
    }
  }
};

class UpstreamPool {
 public:
  // `gauge` (optional) is kept up to date with the pool's connections in use and idle.
  UpstreamPool(Executor executor, const config::ProviderConfig& provider,
               std::shared_ptr<base::PoolGauge> gauge = nullptr);
  ~UpstreamPool();

  const config::ProviderConfig& provider() const { return provider_; }

  // A connected connection: an idle one when available, else a new one (DNS, TCP connect,
  // TLS handshake within the connect timeout and `deadline`). When max_connections are in use
  // it waits for one to be released until `deadline`. Errors: kUpstreamUnreachable (DNS,
  // refused, TLS), kUpstreamTimeout (connect timeout or deadline), kUnavailable (client gone).
  Task<base::Result<ConnectionPtr>> acquire(Clock::time_point deadline, CancelState& cancel);

  // An idle connection still open, or null: the common case, without a coroutine.
  ConnectionPtr take_idle();

  // Returns a connection, kept for reuse when `reusable`. Idle connections beyond max_idle are
  // closed by trim() once they have stayed idle a while.
  void release(ConnectionPtr connection, bool reusable);
  // Closes surplus idle connections (beyond max_idle, idle for 2 s); the owning loop calls it
  // periodically.
  void trim(Clock::time_point now);
  std::size_t idle_count() const { return idle_.size(); }

  // Closes idle connections and fails waiters; called at shutdown.
  void close_all();

 private:
  Task<base::Result<ConnectionPtr>> connect(Clock::time_point deadline, CancelState& cancel);
  Task<base::Result<std::vector<tcp::endpoint>>> resolve(Clock::time_point deadline);
  static bool still_open(UpstreamConnection& connection);
  void publish() {
    if (!gauge_) return;
    gauge_->in_use.store(static_cast<std::int64_t>(active_), std::memory_order_relaxed);
    gauge_->idle.store(static_cast<std::int64_t>(idle_.size()), std::memory_order_relaxed);
  }

  Executor executor_;
  const config::ProviderConfig provider_;  // a copy: the pool may outlive its config snapshot
  std::unique_ptr<asio::ssl::context> tls_;
  std::deque<ConnectionPtr> idle_;
  std::size_t active_ = 0;
  std::deque<Timer*> waiters_;
  std::shared_ptr<base::PoolGauge> gauge_;
  std::vector<tcp::endpoint> endpoints_;
  Clock::time_point endpoints_expire_{};
};

// Failure of one upstream exchange step, as the Error clients see.
base::Error upstream_io_error(const config::ProviderConfig& provider, const char* step,
                              const error_code& ec);

// min(now + step, deadline): every upstream step honours both its own timeout and the total.
inline Clock::duration step_timeout(Clock::duration step, Clock::time_point deadline) {
  const auto left = deadline - coarse_now();
  return left < step ? std::max(left, Clock::duration(std::chrono::milliseconds(1))) : step;
}

}  // namespace shepherd::net
