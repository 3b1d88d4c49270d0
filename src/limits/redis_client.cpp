#include "limits/redis_client.hpp"

#include <hiredis/hiredis.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <deque>
#include <optional>
#include <stdexcept>

namespace shepherd::limits {

namespace asio = net::asio;
using base::ErrorCode;
using net::Clock;
using net::error_code;
using net::tcp;

namespace {

base::Error unavailable(std::string detail) {
  auto e = base::make_error(ErrorCode::kUnavailable, "the shared limit store is unavailable",
                            "redis: " + std::move(detail));
  e.retryable = true;
  return e;
}

std::string millis_text(std::chrono::milliseconds d) { return std::to_string(d.count()) + " ms"; }

RedisReply convert(const redisReply& r) {
  RedisReply out;
  switch (r.type) {
    case REDIS_REPLY_STRING:
      out.type = RedisReply::Type::kString;
      out.str.assign(r.str, r.len);
      break;
    case REDIS_REPLY_STATUS:
      out.type = RedisReply::Type::kStatus;
      out.str.assign(r.str, r.len);
      break;
    case REDIS_REPLY_ERROR:
      out.type = RedisReply::Type::kError;
      out.str.assign(r.str, r.len);
      break;
    case REDIS_REPLY_INTEGER:
      out.type = RedisReply::Type::kInteger;
      out.integer = r.integer;
      break;
    case REDIS_REPLY_ARRAY:
      out.type = RedisReply::Type::kArray;
      out.elements.reserve(r.elements);
      for (std::size_t i = 0; i < r.elements; ++i) out.elements.push_back(convert(*r.element[i]));
      break;
    default:
      out.type = RedisReply::Type::kNil;
  }
  return out;
}

void append_command(std::string& out, const RedisClient::Command& command) {
  std::vector<const char*> argv;
  std::vector<std::size_t> lengths;
  argv.reserve(command.size());
  lengths.reserve(command.size());
  for (const auto& a : command) {
    argv.push_back(a.data());
    lengths.push_back(a.size());
  }
  char* formatted = nullptr;
  const int n = redisFormatCommandArgv(&formatted, static_cast<int>(argv.size()), argv.data(),
                                       lengths.data());
  if (n < 0) throw std::bad_alloc();  // the only way formatting fails
  out.append(formatted, static_cast<std::size_t>(n));
  redisFreeCommand(formatted);
}

std::optional<std::string> percent_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out.push_back(s[i]);
      continue;
    }
    unsigned value = 0;
    if (i + 2 >= s.size()) return std::nullopt;
    const auto* first = s.data() + i + 1;
    auto [p, ec] = std::from_chars(first, first + 2, value, 16);
    if (ec != std::errc() || p != first + 2) return std::nullopt;
    out.push_back(static_cast<char>(value));
    i += 2;
  }
  return out;
}

// A batch of commands sent together and the replies that came back for it.
struct Pending {
  Pending(net::Executor executor, std::size_t n) : timer(executor), expected(n) {
    replies.reserve(n);
  }
  // Resumes the caller waiting on `timer`.
  void finish() {
    done = true;
    timer.cancel();
  }

  net::Timer timer;  // the caller's deadline; cancelled when the batch is done
  std::size_t expected;
  std::vector<RedisReply> replies;
  std::optional<base::Error> error;
  bool done = false;
};

struct ReaderDeleter {
  void operator()(redisReader* r) const { redisReaderFree(r); }
};

// One TCP connection: the socket, the bytes to send, the batches waiting for replies in the
// order they were sent, and the reply decoder. Shared by the calls, the reading coroutine and the
// write handler, which each keep it alive while they use it.
struct Connection {
  explicit Connection(net::Executor executor) : socket(executor), reader(redisReaderCreate()) {
    if (!reader) throw std::bad_alloc();
  }

  net::Socket socket;
  std::optional<net::Resolver> resolver;
  std::unique_ptr<redisReader, ReaderDeleter> reader;
  std::string out;      // commands not yet handed to the socket
  std::string sending;  // the bytes of the write in flight
  bool writing = false;
  bool open = true;  // false once dropped: never used again
  bool handshaking = false;
  bool timed_out = false;
  std::deque<std::shared_ptr<Pending>> pending;
};

}  // namespace

struct RedisClient::Core {
  Core(net::Executor ex, RedisClientOptions o, RedisUrl u)
      : executor(ex), options(std::move(o)), url(std::move(u)), backoff(options.backoff_min) {}

  net::Executor executor;
  RedisClientOptions options;
  RedisUrl url;
  std::vector<Command> on_connect;
  std::function<void(const std::vector<RedisReply>&)> on_connect_replies;

  std::shared_ptr<Connection> conn;      // ready for calls, or null
  std::shared_ptr<Connection> dialling;  // the connection being set up, or null
  std::vector<net::Timer*> waiters;      // calls waiting for `dialling`
  Clock::time_point retry_at{};          // no dial before this
  Clock::duration backoff;
  std::string last_failure = "not connected yet";
  std::uint64_t connections = 0;
  bool closed = false;
};

namespace {

using Core = RedisClient::Core;
using Replies = std::vector<RedisReply>;

// Fails every batch waiting on `conn` with `error` and closes it for good.
void drop(Core& core, const std::shared_ptr<Connection>& conn, const base::Error& error) {
  if (!conn->open) return;
  conn->open = false;
  error_code ec;
  conn->socket.close(ec);
  if (conn->resolver) conn->resolver->cancel();
  auto pending = std::move(conn->pending);
  conn->pending.clear();
  for (auto& p : pending) {
    p->error = error;
    p->finish();
  }
  if (core.conn == conn) {
    core.conn.reset();
    core.last_failure = error.detail;
    core.retry_at = Clock::now() + core.backoff;
  }
}

void start_write(const std::shared_ptr<Core>& core, const std::shared_ptr<Connection>& conn) {
  if (conn->writing || conn->out.empty() || !conn->open) return;
  conn->writing = true;
  // Commands queued while this write is in flight go out together in the next one.
  conn->sending.swap(conn->out);
  asio::async_write(conn->socket, asio::buffer(conn->sending),
                    [core, conn](const error_code& ec, std::size_t) {
                      conn->writing = false;
                      conn->sending.clear();
                      if (ec) {
                        drop(*core, conn, unavailable("write: " + ec.message()));
                        return;
                      }
                      start_write(core, conn);
                    });
}

// Reads replies until the connection fails or is dropped, handing each to the oldest batch.
net::Task<void> read_replies(std::shared_ptr<Core> core, std::shared_ptr<Connection> conn) {
  std::array<char, 16 * 1024> buffer;
  while (conn->open) {
    auto [ec, n] = co_await conn->socket.async_read_some(asio::buffer(buffer), net::kUseTuple);
    if (ec) {
      drop(*core, conn,
           unavailable(ec == asio::error::eof ? "the server closed the connection"
                                              : "read: " + ec.message()));
      co_return;
    }
    if (redisReaderFeed(conn->reader.get(), buffer.data(), n) != REDIS_OK) {
      drop(*core, conn, unavailable("reply decoder: out of memory"));
      co_return;
    }
    for (;;) {
      void* raw = nullptr;
      if (redisReaderGetReply(conn->reader.get(), &raw) != REDIS_OK) {
        drop(*core, conn, unavailable(std::string("malformed reply: ") + conn->reader->errstr));
        co_return;
      }
      if (!raw) break;
      std::unique_ptr<redisReply, void (*)(void*)> reply(static_cast<redisReply*>(raw),
                                                         freeReplyObject);
      if (conn->pending.empty()) {
        drop(*core, conn, unavailable("a reply that no command waited for"));
        co_return;
      }
      auto& front = conn->pending.front();
      front->replies.push_back(convert(*reply));
      if (front->replies.size() == front->expected) {
        auto done = std::move(front);
        conn->pending.pop_front();
        done->finish();
      }
    }
  }
}

// Sends `count` encoded commands on `conn` and waits until their replies came or `deadline`
// passed.
net::Task<base::Result<Replies>> exchange(std::shared_ptr<Core> core,
                                          std::shared_ptr<Connection> conn, std::string encoded,
                                          std::size_t count, Clock::time_point deadline) {
  if (!conn->open) co_return unavailable("the connection was closed");
  auto p = std::make_shared<Pending>(core->executor, count);
  if (conn->out.empty()) {
    conn->out.swap(encoded);
  } else {
    conn->out.append(encoded);
  }
  conn->pending.push_back(p);
  start_write(core, conn);
  if (!p->done) {
    p->timer.expires_at(deadline);
    co_await p->timer.async_wait(net::kUseTuple);
    if (!p->done) {
      // Replies due to the batches before this one may still come; the connection can no
      // longer tell whose they are.
      drop(*core, conn, unavailable("connection dropped: a call before got no reply in time"));
      p->error = unavailable("no reply within " + millis_text(core->options.deadline));
    }
  }
  if (p->error) co_return *p->error;
  co_return std::move(p->replies);
}

net::Task<base::Status> handshake_steps(std::shared_ptr<Core> core,
                                        std::shared_ptr<Connection> conn,
                                        Clock::time_point deadline) {
  const auto& url = core->url;
  const auto where = url.host + ":" + std::to_string(url.port);
  std::vector<tcp::endpoint> endpoints;
  error_code ec;
  const auto address = asio::ip::make_address(url.host, ec);
  if (!ec) {
    endpoints.emplace_back(address, url.port);
  } else {
    // getaddrinfo runs on Asio's resolver thread, never on the loop.
    conn->resolver.emplace(core->executor);
    auto [rec, results] =
        co_await conn->resolver->async_resolve(url.host, std::to_string(url.port), net::kUseTuple);
    if (rec) co_return unavailable("DNS lookup of " + url.host + ": " + rec.message());
    for (const auto& r : results) endpoints.push_back(r.endpoint());
  }
  auto [cec, endpoint] = co_await asio::async_connect(conn->socket, endpoints, net::kUseTuple);
  if (cec) co_return unavailable("connect to " + where + ": " + cec.message());
  conn->socket.set_option(tcp::no_delay(true), ec);
  asio::co_spawn(core->executor, read_replies(core, conn), asio::detached);

  std::vector<RedisClient::Command> commands;
  if (!url.password.empty()) {
    if (url.user.empty()) {
      commands.push_back({"AUTH", url.password});
    } else {
      commands.push_back({"AUTH", url.user, url.password});
    }
  }
  if (url.db != 0) commands.push_back({"SELECT", std::to_string(url.db)});
  const std::size_t own = commands.size();
  commands.insert(commands.end(), core->on_connect.begin(), core->on_connect.end());
  if (commands.empty()) co_return base::Ok{};
  std::string encoded;
  for (const auto& c : commands) append_command(encoded, c);
  auto replies = co_await exchange(core, conn, std::move(encoded), commands.size(), deadline);
  if (!replies) co_return std::move(replies).error();
  for (std::size_t i = 0; i < replies->size(); ++i) {
    const auto& r = (*replies)[i];
    if (!r.is_error()) continue;
    // Redis's error text names the problem ("WRONGPASS ...", "NOAUTH ..."), never the password.
    const char* step =
        i < own ? (url.password.empty() || i > 0 ? "SELECT" : "AUTH") : "a connection command";
    co_return unavailable(where + ": " + step + " failed: " + r.str);
  }
  if (core->closed) co_return unavailable("the client is closed");
  if (core->on_connect_replies) {
    const Replies tail(replies->begin() + static_cast<std::ptrdiff_t>(own), replies->end());
    core->on_connect_replies(tail);
  }
  co_return base::Ok{};
}

net::Task<void> dial(std::shared_ptr<Core> core, std::shared_ptr<Connection> conn) {
  const auto deadline = Clock::now() + core->options.connect_timeout;
  // Closes the socket (and stops a DNS lookup) when the handshake overruns, failing its step.
  net::Timer guard(core->executor, deadline);
  guard.async_wait([conn](const error_code& ec) {
    if (ec || !conn->handshaking) return;
    conn->timed_out = true;
    error_code ignored;
    conn->socket.close(ignored);
    if (conn->resolver) conn->resolver->cancel();
  });
  conn->handshaking = true;
  auto status = co_await handshake_steps(core, conn, deadline);
  conn->handshaking = false;
  guard.cancel();
  if (!status && (conn->timed_out || Clock::now() >= deadline)) {
    status = unavailable("connect to " + core->url.host + ": no answer within " +
                         millis_text(core->options.connect_timeout));
  }
  if (status && core->closed) status = unavailable("the client is closed");
  core->dialling.reset();
  if (status) {
    core->conn = conn;
    core->backoff = core->options.backoff_min;
    ++core->connections;
  } else {
    drop(*core, conn, status.error());
    core->last_failure = status.error().detail;
    core->retry_at = Clock::now() + core->backoff;
    core->backoff = std::min<Clock::duration>(core->backoff * 2, core->options.backoff_max);
  }
  for (auto* w : core->waiters) w->cancel();
}

net::Task<base::Status> wait_for_connection(std::shared_ptr<Core> core,
                                            Clock::time_point deadline) {
  if (core->closed) co_return unavailable("the client is closed");
  if (!core->dialling) {
    if (Clock::now() < core->retry_at) {
      co_return unavailable("not dialling again yet after: " + core->last_failure);
    }
    core->dialling = std::make_shared<Connection>(core->executor);
    asio::co_spawn(core->executor, dial(core, core->dialling), asio::detached);
  }
  net::Timer wait(core->executor, deadline);
  core->waiters.push_back(&wait);
  co_await wait.async_wait(net::kUseTuple);
  std::erase(core->waiters, &wait);
  if (core->conn) co_return base::Ok{};
  if (core->closed) co_return unavailable("the client is closed");
  if (core->dialling) {
    co_return unavailable("no connection within " + millis_text(core->options.deadline));
  }
  co_return unavailable(core->last_failure);
}

net::Task<base::Result<Replies>> call(std::shared_ptr<Core> core, std::string encoded,
                                      std::size_t count) {
  if (count == 0) co_return Replies{};
  const auto deadline = Clock::now() + core->options.deadline;
  if (!core->conn) {
    auto ready = co_await wait_for_connection(core, deadline);
    if (!ready) co_return std::move(ready).error();
  }
  co_return co_await exchange(core, core->conn, std::move(encoded), count, deadline);
}

net::Task<base::Result<RedisReply>> call_one(std::shared_ptr<Core> core, std::string encoded) {
  auto replies = co_await call(std::move(core), std::move(encoded), 1);
  if (!replies) co_return std::move(replies).error();
  co_return std::move(replies->front());
}

}  // namespace

base::Result<RedisUrl> parse_redis_url(std::string_view url) {
  auto bad = [](std::string why) {
    return base::make_error(
        ErrorCode::kBadRequest,
        "invalid Redis URL (expected redis://[:password@]host:port[/db]): " + std::move(why));
  };
  constexpr std::string_view kScheme = "redis://";
  if (url.substr(0, kScheme.size()) != kScheme) return bad("it must start with redis://");
  std::string_view rest = url.substr(kScheme.size());
  RedisUrl out;
  if (const auto at = rest.rfind('@'); at != std::string_view::npos) {
    const auto userinfo = rest.substr(0, at);
    rest = rest.substr(at + 1);
    const auto colon = userinfo.find(':');
    auto user = percent_decode(colon == std::string_view::npos ? "" : userinfo.substr(0, colon));
    auto password =
        percent_decode(colon == std::string_view::npos ? userinfo : userinfo.substr(colon + 1));
    if (!user || !password) return bad("a malformed %-escape before '@'");
    out.user = std::move(*user);
    out.password = std::move(*password);
  }
  std::string_view path;
  if (const auto slash = rest.find('/'); slash != std::string_view::npos) {
    path = rest.substr(slash + 1);
    rest = rest.substr(0, slash);
  }
  std::string_view port;
  if (!rest.empty() && rest.front() == '[') {  // [IPv6]:port
    const auto close = rest.find(']');
    if (close == std::string_view::npos) return bad("an unclosed '[' in the host");
    out.host = std::string(rest.substr(1, close - 1));
    rest = rest.substr(close + 1);
    if (!rest.empty() && rest.front() != ':') return bad("text after the host's ']'");
    if (!rest.empty()) port = rest.substr(1);
  } else {
    const auto colon = rest.rfind(':');
    out.host = std::string(rest.substr(0, colon));
    if (colon != std::string_view::npos) port = rest.substr(colon + 1);
  }
  if (out.host.empty()) return bad("no host");
  if (!port.empty() || rest.ends_with(':')) {
    unsigned value = 0;
    auto [p, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (ec != std::errc() || p != port.data() + port.size() || value == 0 || value > 65535) {
      return bad("the port must be a number from 1 to 65535");
    }
    out.port = static_cast<std::uint16_t>(value);
  }
  if (!path.empty()) {
    auto [p, ec] = std::from_chars(path.data(), path.data() + path.size(), out.db);
    if (ec != std::errc() || p != path.data() + path.size() || out.db < 0) {
      return bad("the database after '/' must be a number");
    }
  }
  return out;
}

RedisClient::RedisClient(net::Executor executor, RedisClientOptions options) {
  auto url = parse_redis_url(options.url);
  if (!url) throw std::invalid_argument(url.error().message);
  core_ = std::make_shared<Core>(executor, std::move(options), std::move(*url));
}

RedisClient::~RedisClient() { close(); }

void RedisClient::set_on_connect(std::vector<Command> commands,
                                 std::function<void(const std::vector<RedisReply>&)> on_replies) {
  core_->on_connect = std::move(commands);
  core_->on_connect_replies = std::move(on_replies);
}

// Not coroutines: the commands are encoded here, so the caller's vectors may go at once.
net::Task<base::Result<RedisReply>> RedisClient::command(const Command& command) {
  std::string encoded;
  append_command(encoded, command);
  return call_one(core_, std::move(encoded));
}

net::Task<base::Result<std::vector<RedisReply>>> RedisClient::pipeline(
    const std::vector<Command>& commands) {
  std::string encoded;
  for (const auto& c : commands) append_command(encoded, c);
  return call(core_, std::move(encoded), commands.size());
}

void RedisClient::close() {
  auto& core = *core_;
  core.closed = true;
  const auto closed = unavailable("the client is closed");
  if (auto conn = core.conn) drop(core, conn, closed);
  if (auto conn = core.dialling) drop(core, conn, closed);
  for (auto* w : core.waiters) w->cancel();
}

bool RedisClient::connected() const { return core_->conn != nullptr; }

std::uint64_t RedisClient::connections() const { return core_->connections; }

}  // namespace shepherd::limits
