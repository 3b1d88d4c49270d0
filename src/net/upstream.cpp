#include "net/upstream.hpp"

#include <sys/socket.h>

#include <algorithm>

#include "net/tls.hpp"

namespace shepherd::net {

using base::ErrorCode;

namespace {

// DNS answers are kept this long; a changed address is picked up within it.
constexpr auto kDnsTtl = std::chrono::seconds(30);
// Idle connections older than this are checked for a close by the upstream before reuse (one
// syscall). Younger ones are used directly: upstreams close idle connections after seconds,
// and a connection closed meanwhile is caught by the caller's one retry on a new connection.
constexpr auto kCheckIdleAfter = std::chrono::seconds(1);
// Idle connections beyond pool.max_idle are closed once they have been idle this long, not when
// they are released: while more requests are in flight than max_idle, every connection is
// reused within microseconds, and closing the surplus at each release would open a new
// connection for most requests (churn).
constexpr auto kSurplusIdle = std::chrono::seconds(2);

}  // namespace

void UpstreamConnection::cancel() {
  cancelled = true;
  stopped_ = true;
  error_code ec;
  socket().cancel(ec);
}

void UpstreamConnection::check_deadline(Clock::time_point now) {
  if (now < deadline_) return;
  timed_out = true;
  stopped_ = true;
  deadline_ = Clock::time_point::max();
  error_code ec;
  socket().cancel(ec);
}

base::Error upstream_io_error(const config::ProviderConfig& provider, const char* step,
                              const error_code& ec) {
  const auto detail = std::string("provider ") + provider.name + ": " + step + ": " + ec.message();
  if (ec == beast::error::timeout) {
    auto e = base::make_error(ErrorCode::kUpstreamTimeout,
                              std::string("the upstream provider '") + provider.name +
                                  "' did not answer in time (" + step + "); try again later",
                              detail);
    e.retryable = true;
    return e;
  }
  auto e = base::make_error(ErrorCode::kUpstreamUnreachable,
                            std::string("the upstream provider '") + provider.name +
                                "' could not be reached (" + step + ": " + ec.message() + ")",
                            detail);
  // A certificate that fails verification will fail again: never retried (RELIABILITY.md).
  e.retryable = ec.category() != asio::error::get_ssl_category();
  return e;
}

UpstreamPool::UpstreamPool(Executor executor, const config::ProviderConfig& provider,
                           std::shared_ptr<base::PoolGauge> gauge)
    : executor_(std::move(executor)), provider_(provider), gauge_(std::move(gauge)) {
  if (provider_.endpoint.tls) tls_ = make_client_tls_context(provider_);
}

UpstreamPool::~UpstreamPool() { close_all(); }

void UpstreamPool::close_all() {
  for (auto& c : idle_) {
    error_code ec;
    c->socket().close(ec);
  }
  idle_.clear();
  for (auto* w : waiters_) w->cancel();
  waiters_.clear();
  publish();
}

bool UpstreamPool::still_open(UpstreamConnection& connection) {
  // An idle connection the upstream has closed reads as EOF; unexpected bytes make it unusable
  // too. Either way it must not carry the next request.
  char byte;
  const auto n = ::recv(connection.socket().native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

void UpstreamPool::trim(Clock::time_point now) {
  // The oldest idle connections are at the front (take_idle() reuses the most recent).
  while (idle_.size() > provider_.pool.max_idle &&
         now - idle_.front()->idle_since >= kSurplusIdle) {
    error_code ec;
    idle_.front()->socket().close(ec);
    idle_.pop_front();
  }
  publish();
}

ConnectionPtr UpstreamPool::take_idle() {
  while (!idle_.empty()) {
    ConnectionPtr c = std::move(idle_.back());
    idle_.pop_back();
    if (coarse_now() - c->idle_since < kCheckIdleAfter || still_open(*c)) {
      c->reused = true;
      ++active_;
      publish();
      return c;
    }
  }
  publish();  // connections the upstream had closed are gone
  return nullptr;
}

Task<base::Result<ConnectionPtr>> UpstreamPool::acquire(Clock::time_point deadline,
                                                        CancelState& cancel) {
  if (auto c = take_idle()) co_return c;
  while (active_ >= provider_.pool.max_connections) {
    Timer timer(executor_, deadline);
    waiters_.push_back(&timer);
    cancel.waiting = &timer;
    auto [ec] = co_await timer.async_wait(kUseTuple);
    cancel.waiting = nullptr;
    std::erase(waiters_, &timer);
    if (cancel.client_gone) {
      co_return base::make_error(ErrorCode::kUnavailable, "the client went away");
    }
    if (!ec) {
      auto e = base::make_error(ErrorCode::kUpstreamTimeout,
                                "all " + std::to_string(provider_.pool.max_connections) +
                                    " connections to provider '" + provider_.name +
                                    "' stayed busy until the deadline; try again later");
      e.retryable = true;
      co_return e;
    }
    if (!idle_.empty()) co_return co_await acquire(deadline, cancel);
  }
  ++active_;
  publish();
  auto result = co_await connect(deadline, cancel);
  if (!result) {
    cancel.active = nullptr;
    release(nullptr, false);
  }
  co_return result;
}

Task<base::Result<std::vector<tcp::endpoint>>> UpstreamPool::resolve(Clock::time_point deadline) {
  const auto& ep = provider_.endpoint;
  error_code ec;
  const auto address = asio::ip::make_address(ep.host, ec);
  if (!ec) co_return std::vector<tcp::endpoint>{tcp::endpoint(address, ep.port)};
  if (!endpoints_.empty() && Clock::now() < endpoints_expire_) co_return endpoints_;
  // getaddrinfo runs on Asio's internal resolver thread, never on the event loop.
  Resolver resolver(executor_);
  Timer timer(executor_, std::min(deadline, Clock::now() + provider_.timeouts.connect));
  timer.async_wait([&resolver](error_code e) {
    if (!e) resolver.cancel();
  });
  auto [rec, results] =
      co_await resolver.async_resolve(ep.host, std::to_string(ep.port), kUseTuple);
  timer.cancel();
  if (rec) {
    if (rec == asio::error::operation_aborted) {
      co_return upstream_io_error(provider_, "DNS lookup", beast::error::timeout);
    }
    co_return upstream_io_error(provider_, "DNS lookup", rec);
  }
  endpoints_.clear();
  for (const auto& r : results) endpoints_.push_back(r.endpoint());
  endpoints_expire_ = Clock::now() + kDnsTtl;
  co_return endpoints_;
}

Task<base::Result<ConnectionPtr>> UpstreamPool::connect(Clock::time_point deadline,
                                                        CancelState& cancel) {
  auto endpoints = co_await resolve(deadline);
  if (!endpoints) co_return std::move(endpoints).error();
  auto c = std::make_unique<UpstreamConnection>(executor_, tls_.get());
  cancel.active = c.get();
  c->expires_after(step_timeout(provider_.timeouts.connect, deadline));
  auto [cec, endpoint] = co_await asio::async_connect(c->socket(), *endpoints, kUseTuple);
  auto ec = c->result(cec);
  if (cancel.client_gone) {
    co_return base::make_error(ErrorCode::kUnavailable, "the client went away");
  }
  if (ec) {
    endpoints_expire_ = {};  // a failed address is looked up again next time
    co_return upstream_io_error(provider_, "connect", ec);
  }
  c->socket().set_option(tcp::no_delay(true), ec);
  if (!c->tls()) c->socket().non_blocking(true, ec);  // for write_all()
  if (c->tls()) {
    if (!prepare_client_tls(c->ssl().native_handle(), provider_.endpoint.host,
                            provider_.tls_verify)) {
      co_return base::make_error(ErrorCode::kUpstreamUnreachable,
                                 "TLS setup failed for provider '" + provider_.name + "'");
    }
    c->expires_after(step_timeout(provider_.timeouts.connect, deadline));
    auto [handshake_ec] =
        co_await c->ssl().async_handshake(asio::ssl::stream_base::client, kUseTuple);
    const auto hec = c->result(handshake_ec);
    if (cancel.client_gone) {
      co_return base::make_error(ErrorCode::kUnavailable, "the client went away");
    }
    if (hec) co_return upstream_io_error(provider_, "TLS handshake", hec);
  }
  c->expires_never();
  co_return c;
}

void UpstreamPool::release(ConnectionPtr connection, bool reusable) {
  if (active_ > 0) --active_;
  if (connection && reusable && !connection->cancelled) {
    connection->parser.reset();
    connection->expires_never();
    connection->idle_since = coarse_now();
    idle_.push_back(std::move(connection));
  } else if (connection) {
    error_code ec;
    connection->socket().shutdown(tcp::socket::shutdown_both, ec);
    connection->socket().close(ec);
  }
  publish();
  if (!waiters_.empty()) {
    waiters_.front()->cancel();
    waiters_.pop_front();
  }
}

}  // namespace shepherd::net
