#include "net/server.hpp"

#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <array>
#include <charconv>
#include <random>
#include <set>
#include <stdexcept>

#include "api/openai.hpp"
#include "api/retry_after.hpp"
#include "api/sse.hpp"
#include "net/asio.hpp"
#include "net/upstream.hpp"

namespace shepherd::net {

using base::Error;
using base::ErrorCode;

namespace {

// How long an upstream call runs before the client's socket is watched for a disconnect, and
// how often each loop looks. A disconnect is noticed within about twice this.
constexpr auto kWatchDelay = std::chrono::milliseconds(50);

// The first read of a request: most chat requests fit; larger ones grow the buffer as the parser
// reads on. Kept small because every open connection holds one (10 000 streams × 16 KiB was
// most of their memory).
constexpr std::size_t kFirstRead = 4096;

constexpr std::size_t kMaxUpstreamErrorBody = 64 * 1024;
constexpr std::size_t kMaxUpstreamBody = 64 * 1024 * 1024;
constexpr std::size_t kMaxUpstreamHeader = 64 * 1024;

using Digest = std::array<unsigned char, SHA256_DIGEST_LENGTH>;

Digest sha256(std::string_view text) {
  Digest d;
  SHA256(reinterpret_cast<const unsigned char*>(text.data()), text.size(), d.data());
  return d;
}

std::string_view reason(int status) {
  return http::obsolete_reason(http::int_to_status(static_cast<unsigned>(status)));
}

// One SSE event framed as an HTTP/1.1 chunk.
void append_event_chunk(std::string& out, std::string_view data) {
  char hex[16];
  auto [p, ec] = std::to_chars(hex, hex + sizeof hex, data.size() + 8, 16);
  out.append(hex, p).append("\r\ndata: ").append(data).append("\n\n\r\n");
}

std::string_view header_value(const http::request<http::string_body>& req, http::field f) {
  auto it = req.find(f);
  return it == req.end() ? std::string_view{} : std::string_view(it->value());
}

}  // namespace

struct Server::Loop {
  observability::Metrics* metrics = nullptr;
  int index = 0;
  // Only this loop's thread touches its sockets, so the reactor needs no locking for I/O.
  asio::io_context ioc{BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO};
  std::shared_ptr<const config::Config> config;
  std::optional<Acceptor> acceptor;
  std::vector<std::unique_ptr<UpstreamPool>> pools;
  std::vector<std::string> chat_heads_json, chat_heads_sse;
  std::vector<Digest> key_digests;
  std::set<class Session*> sessions;
  std::uint64_t request_seq = 0;
  std::uint64_t id_salt = 0;
  std::vector<std::size_t> rr;  // round-robin position per model
  bool stopping = false;
  bool finishing = false;
  std::optional<Timer> drain_timer;
  std::optional<Timer> sweep_timer;

  // Every kWatchDelay: lets sessions waiting on an upstream arm their disconnect watch.
  void sweep();

  // After the loop's thread has stopped: aborts what is left (sessions past the drain timeout)
  // and runs the context until every coroutine has unwound, so nothing is destroyed while a
  // handler that uses it is still queued.
  void finish();
};

namespace {

using Loop = Server::Loop;

struct ValidChat {
  api::ChatRequest chat;
  std::size_t model_index = 0;
};

// The outcome of relaying one chat request, for metrics and the log.
struct Outcome {
  std::size_t route = observability::Metrics::kNoRoute;
  observability::Metrics::Outcome m;
};

}  // namespace

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(Loop& loop, Socket socket) : loop_(loop), socket_(std::move(socket)) {
    loop_.sessions.insert(this);
  }
  ~Session() {
    loop_.sessions.erase(this);
    if (loop_.stopping && !loop_.finishing && loop_.sessions.empty()) loop_.ioc.stop();
  }

  Task<void> run();

  // Shutdown: an idle connection closes now, a busy one after its current answer.
  void shutdown() {
    keep_alive_ = false;
    if (idle_) {
      error_code ec;
      socket_.cancel(ec);
    }
  }

  // Past the drain timeout: the client connection closes and the upstream call is cancelled.
  void abort() {
    keep_alive_ = false;
    if (cancel_) cancel_->cancel();
    error_code ec;
    socket_.close(ec);
  }

 private:
  using Request = http::request<http::string_body>;

  Task<void> handle(Request& req);
  // The parsed request and its model, or the error to answer with (400 or 404).
  base::Result<ValidChat> validate_chat(const Request& req) const;
  Task<Outcome> relay(const api::ChatRequest& chat, std::size_t model_index, std::string body);
  Task<bool> relay_stream(UpstreamConnection& c, const api::ChatRequest& chat,
                          std::string_view upstream_model, Clock::time_point deadline,
                          const config::ProviderConfig& provider, Outcome& out,
                          CancelState& cancel);

  Task<void> write(std::string_view head, std::string_view body = {});
  Task<void> respond(int status, std::string_view content_type, std::string_view body,
                     std::string_view extra_headers = {});
  Task<void> respond_error(const Error& e);
  // The response head, built in head_ (valid until the next call).
  std::string_view head(int status, std::string_view content_type,
                        std::optional<std::size_t> length, std::string_view extra_headers);
  bool authorized(const Request& req) const;
  void prepare_cors(const Request& req);
  void new_request_id();

  // Client-disconnect watch over an upstream call: begin_watch() costs no system call; the
  // loop's sweep arms a readability wait on the client socket once the call has lasted
  // kWatchDelay, so quick answers never pay for it and slow ones are cancelled promptly.
  void set_deadline(Clock::duration d) {
    deadline_ = coarse_now() + d;
    timed_out_ = false;
  }
  void clear_deadline() { deadline_ = Clock::time_point::max(); }

  void begin_watch(CancelState& cancel);
  void end_watch();
  void arm_watch();

 public:
  void sweep(Clock::time_point now);

 private:
  Loop& loop_;
  Socket socket_;
  // Deadline of the client I/O step under way (see UpstreamConnection for the scheme).
  Clock::time_point deadline_ = Clock::time_point::max();
  bool timed_out_ = false;
  beast::flat_buffer buffer_;
  bool keep_alive_ = true;
  bool idle_ = true;
  bool write_failed_ = false;
  std::string request_id_;
  std::string cors_;  // CORS response headers for the current request
  std::string head_;
  std::uint64_t watch_gen_ = 0;
  CancelState* cancel_ = nullptr;
  bool armed_ = false;
  Clock::time_point watch_since_{};
  std::shared_ptr<const config::Config> config_;  // the snapshot the current request uses
};

void Session::new_request_id() {
  // Unique per process: loop index, a per-loop sequence and a random per-process salt.
  const std::uint64_t v =
      loop_.id_salt ^ (static_cast<std::uint64_t>(loop_.index) << 56) ^ ++loop_.request_seq;
  char buf[17];
  auto [p, ec] = std::to_chars(buf, buf + 16, v, 16);
  request_id_.assign("req_").append(16 - static_cast<std::size_t>(p - buf), '0').append(buf, p);
}

std::string_view Session::head(int status, std::string_view content_type,
                               std::optional<std::size_t> length, std::string_view extra_headers) {
  auto& h = head_;  // reused: keeps its capacity across requests
  h.clear();
  h.append("HTTP/1.1 ").append(std::to_string(status)).append(" ").append(reason(status));
  h.append("\r\nContent-Type: ").append(content_type);
  if (length) {
    h.append("\r\nContent-Length: ").append(std::to_string(*length));
  } else {
    h.append("\r\nTransfer-Encoding: chunked\r\nCache-Control: no-cache\r\nX-Accel-Buffering: no");
  }
  if (!request_id_.empty()) h.append("\r\nX-Request-Id: ").append(request_id_);
  h.append("\r\n").append(cors_).append(extra_headers);
  if (!keep_alive_) h.append("Connection: close\r\n");
  h.append("\r\n");
  return h;
}

Task<void> Session::write(std::string_view head, std::string_view body) {
  if (write_failed_) co_return;
  set_deadline(config_->server.request_timeout);
  std::array<asio::const_buffer, 2> bufs{asio::buffer(head.data(), head.size()),
                                         asio::buffer(body.data(), body.size())};
  auto [ec, n] = co_await asio::async_write(socket_, bufs, kUseTuple);
  clear_deadline();
  if (ec) {
    write_failed_ = true;
    keep_alive_ = false;
  }
}

Task<void> Session::respond(int status, std::string_view content_type, std::string_view body,
                            std::string_view extra_headers) {
  // Not a coroutine itself: the head is built now, and the caller awaits write()'s frame only.
  return write(head(status, content_type, body.size(), extra_headers), body);
}

Task<void> Session::respond_error(const Error& e) {
  const int status = base::http_status(e);
  if (status >= 500) {
    spdlog::warn("request {}: {} {}: {}", request_id_, status, base::code_name(e.code),
                 e.detail.empty() ? e.message : e.detail);
  }
  std::string extra;
  if (e.retry_after)
    extra.append("Retry-After: ").append(std::to_string(*e.retry_after)).append("\r\n");
  if (e.code == ErrorCode::kUnauthorized) extra.append("WWW-Authenticate: Bearer\r\n");
  co_await respond(status, "application/json", api::error_body(e), extra);
}

bool Session::authorized(const Request& req) const {
  if (loop_.key_digests.empty()) return true;  // open mode, announced at start-up
  auto auth = header_value(req, http::field::authorization);
  constexpr std::string_view kBearer = "Bearer ";
  if (auth.size() <= kBearer.size() || !beast::iequals(auth.substr(0, kBearer.size()), kBearer)) {
    return false;
  }
  // Hash first, then compare digests in constant time: timing reveals nothing about keys.
  const auto d = sha256(auth.substr(kBearer.size()));
  bool ok = false;
  for (const auto& k : loop_.key_digests) ok |= CRYPTO_memcmp(d.data(), k.data(), d.size()) == 0;
  return ok;
}

void Session::prepare_cors(const Request& req) {
  cors_.clear();
  auto origin = header_value(req, http::field::origin);
  if (origin.empty()) return;
  const auto& server = config_->server;
  bool allowed = false, wildcard = false;
  for (const auto& o : server.cors_origins) {
    if (o == "*") wildcard = true;
    if (o == origin) allowed = true;
  }
  if (!allowed && !wildcard) return;
  if (allowed) {
    cors_.append("Access-Control-Allow-Origin: ").append(origin).append("\r\nVary: Origin\r\n");
    if (server.cors_credentials) cors_.append("Access-Control-Allow-Credentials: true\r\n");
  } else {
    cors_.append("Access-Control-Allow-Origin: *\r\n");
  }
  cors_.append("Access-Control-Expose-Headers: X-Request-Id, Retry-After\r\n");
}

void Session::begin_watch(CancelState& cancel) {
  cancel_ = &cancel;
  watch_since_ = coarse_now();
}

void Session::end_watch() {
  ++watch_gen_;
  cancel_ = nullptr;
  if (armed_) {
    armed_ = false;
    error_code ec;
    socket_.cancel(ec);
  }
}

void Session::sweep(Clock::time_point now) {
  if (now >= deadline_) {
    // The client step is late: cancel it (the watch, if armed, goes with it).
    timed_out_ = true;
    deadline_ = Clock::time_point::max();
    armed_ = false;
    ++watch_gen_;
    error_code ec;
    socket_.cancel(ec);
  }
  if (!cancel_) return;
  if (cancel_->active) cancel_->active->check_deadline(now);
  if (!armed_ && now - watch_since_ >= kWatchDelay) arm_watch();
}

void Session::arm_watch() {
  armed_ = true;
  const auto gen = watch_gen_;
  socket_.async_wait(tcp::socket::wait_read, [self = shared_from_this(), gen](error_code ec) {
    if (ec || gen != self->watch_gen_ || !self->cancel_) return;
    self->armed_ = false;
    char byte;
    const auto n = ::recv(self->socket_.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
      self->cancel_->cancel();  // the client closed: cancel the upstream call now
    } else if (n < 0) {
      self->arm_watch();
    }
    // n > 0: the client sent more (a pipelined request); it is read after this answer.
  });
}

Task<void> Session::run() {
  auto self = shared_from_this();
  const auto& limits = loop_.config->server;
  socket_.set_option(tcp::no_delay(true));
  while (keep_alive_ && !loop_.stopping) {
    idle_ = true;
    if (buffer_.size() == 0) {
      // Wait for the next request no longer than the keep-alive timeout.
      set_deadline(limits.keepalive_timeout);
      auto [ec, n] = co_await socket_.async_read_some(buffer_.prepare(kFirstRead), kUseTuple);
      clear_deadline();
      if (ec) break;
      buffer_.commit(n);
    }
    idle_ = false;
    config_ = loop_.config;
    request_id_.clear();
    cors_.clear();
    http::request_parser<http::string_body> parser;
    parser.header_limit(static_cast<std::uint32_t>(limits.max_header_bytes));
    parser.body_limit(limits.max_body_bytes);
    // The whole request (headers and body) must arrive within the request timeout.
    set_deadline(limits.request_timeout);
    auto [hec, hn] = co_await http::async_read_header(socket_, buffer_, parser, kUseTuple);
    if (!hec && parser.get()[http::field::expect] == "100-continue" && !parser.is_done()) {
      static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      auto [wec, wn] = co_await asio::async_write(socket_, asio::buffer(kContinue), kUseTuple);
      if (wec) break;
    }
    error_code rec = hec;
    if (!rec) std::tie(rec, hn) = co_await http::async_read(socket_, buffer_, parser, kUseTuple);
    clear_deadline();
    if (timed_out_) rec = beast::error::timeout;
    if (rec) {
      keep_alive_ = false;
      new_request_id();
      if (rec == beast::error::timeout) {
        co_await respond_error(base::make_error(
            ErrorCode::kRequestTimeout, "the request was not received in time; send it faster"));
      } else if (rec == http::error::header_limit) {
        co_await respond_error(base::make_error(
            ErrorCode::kHeadersTooLarge, "request headers exceed the limit of " +
                                             std::to_string(limits.max_header_bytes) + " bytes"));
      } else if (rec == http::error::body_limit) {
        co_await respond_error(base::make_error(
            ErrorCode::kPayloadTooLarge, "the request body exceeds the limit of " +
                                             std::to_string(limits.max_body_bytes) + " bytes"));
      } else if (rec != http::error::end_of_stream && rec != asio::error::eof &&
                 rec != asio::error::connection_reset && rec != asio::error::operation_aborted) {
        co_await respond_error(
            base::make_error(ErrorCode::kBadRequest, "malformed HTTP request: " + rec.message()));
      }
      break;
    }
    auto req = parser.release();
    keep_alive_ = keep_alive_ && req.keep_alive();
    co_await handle(req);
    if (write_failed_) break;
  }
  error_code ec;
  socket_.shutdown(tcp::socket::shutdown_send, ec);
  socket_.close(ec);
}

Task<void> Session::handle(Request& req) {
  new_request_id();
  prepare_cors(req);
  std::string_view target = req.target();
  if (auto q = target.find('?'); q != std::string_view::npos) target = target.substr(0, q);
  const auto method = req.method();
  const auto& config = *config_;

  if (method == http::verb::options) {
    if (cors_.empty()) {
      co_await respond_error(base::make_error(ErrorCode::kForbidden,
                                              "this origin is not allowed; add it to "
                                              "server.cors.origins"));
      co_return;
    }
    std::string extra = "Access-Control-Allow-Methods: GET, POST, OPTIONS\r\n";
    auto requested = header_value(req, http::field::access_control_request_headers);
    extra.append("Access-Control-Allow-Headers: ")
        .append(requested.empty() ? "Authorization, Content-Type" : requested)
        .append("\r\nAccess-Control-Max-Age: 600\r\n");
    co_await respond(204, "text/plain", "", extra);
    co_return;
  }

  auto method_is = [&](http::verb v) -> bool { return method == v; };
  auto wrong_method = [&](std::string_view allow) -> Task<void> {
    auto e = base::make_error(ErrorCode::kMethodNotAllowed,
                              "use " + std::string(allow) + " for " + std::string(target));
    co_await respond(405, "application/json", api::error_body(e),
                     "Allow: " + std::string(allow) + "\r\n");
  };

  if (target == "/health") {
    if (!method_is(http::verb::get)) co_return co_await wrong_method("GET");
    co_await respond(200, "application/json", R"({"status":"ok"})");
    co_return;
  }
  if (target == "/health/ready") {
    if (!method_is(http::verb::get)) co_return co_await wrong_method("GET");
    if (loop_.stopping) {
      co_await respond(503, "application/json", R"({"status":"stopping"})");
    } else if (config.providers.empty() || config.models.empty()) {
      co_await respond(503, "application/json",
                       R"({"status":"not ready","reason":"no provider or model is configured"})");
    } else {
      co_await respond(200, "application/json", R"({"status":"ready"})");
    }
    co_return;
  }
  if (target == "/metrics") {
    if (!method_is(http::verb::get)) co_return co_await wrong_method("GET");
    co_await respond(200, "text/plain; version=0.0.4", loop_.metrics->prometheus_text());
    co_return;
  }
  if (target == "/stats") {
    if (!method_is(http::verb::get)) co_return co_await wrong_method("GET");
    co_await respond(200, "application/json", loop_.metrics->stats_json());
    co_return;
  }
  const bool models = target == "/v1/models" || target == "/models";
  const bool is_chat = target == "/v1/chat/completions" || target == "/chat/completions";
  if (!models && !is_chat) {
    co_await respond_error(base::make_error(
        ErrorCode::kNotFound, "no route for " + std::string(target) +
                                  "; the API is at /v1/chat/completions and /v1/models"));
    co_return;
  }
  if (!authorized(req)) {
    if (is_chat) {
      observability::Metrics::Outcome refused;
      refused.status = 401;
      loop_.metrics->record(loop_.index, observability::Metrics::kNoRoute, refused);
    }
    co_await respond_error(base::make_error(
        ErrorCode::kUnauthorized,
        header_value(req, http::field::authorization).empty()
            ? "missing API key: send the header Authorization: Bearer <key>"
            : "invalid API key: check the key in your Authorization: Bearer header"));
    co_return;
  }
  if (models) {
    if (!method_is(http::verb::get)) co_return co_await wrong_method("GET");
    std::vector<std::string> names;
    for (const auto& m : config.models) names.push_back(m.name);
    co_await respond(200, "application/json", api::models_body(names, 1700000000));
    co_return;
  }
  if (!method_is(http::verb::post)) co_return co_await wrong_method("POST");
  const auto started = Clock::now();
  Outcome out;
  auto valid = validate_chat(req);
  if (valid) {
    out = co_await relay(valid->chat, valid->model_index, std::move(req.body()));
  } else {
    out.m.status = base::http_status(valid.error());
    co_await respond_error(valid.error());
  }
  out.m.latency = Clock::now() - started;
  loop_.metrics->record(loop_.index, out.route, out.m);
}

base::Result<ValidChat> Session::validate_chat(const Request& req) const {
  const auto& config = *config_;
  auto parsed = api::parse_chat_request(req.body(), config.server.max_json_depth);
  if (!parsed) return std::move(parsed).error();
  const auto* model = config.find_model(parsed->model);
  if (!model) {
    auto e = base::make_error(
        ErrorCode::kModelNotFound,
        "the model '" + parsed->model + "' does not exist; available models: " +
            (config.models.empty() ? std::string("none (configure models in the config file)")
                                   : config.model_names()));
    e.param = "model";
    return e;
  }
  return ValidChat{std::move(parsed).value(),
                   static_cast<std::size_t>(model - config.models.data())};
}

namespace {

// The error a client sees for an upstream's non-2xx answer.
Error upstream_status_error(const config::ProviderConfig& provider, int status,
                            std::string_view body, std::string_view retry_after) {
  if (status == 401 || status == 403) {
    // The provider rejected Shepherd's own key: the client cannot fix that, and the provider's
    // text may quote the key, so it is not passed on.
    auto e =
        base::make_error(ErrorCode::kUpstreamUnreachable,
                         "the upstream provider '" + provider.name +
                             "' rejected Shepherd's credentials (HTTP " + std::to_string(status) +
                             "); the operator must check providers." + provider.name + ".api_key",
                         "provider " + provider.name + " answered " + std::to_string(status));
    return e;
  }
  if (status >= 300 && status < 400) {
    return base::make_error(ErrorCode::kUpstreamUnreachable,
                            "the upstream provider '" + provider.name +
                                "' answered with a redirect, which Shepherd never follows",
                            "provider " + provider.name + " answered " + std::to_string(status));
  }
  auto message = api::upstream_error_message(body);
  if (!provider.api_key.empty()) {
    for (auto at = message.find(provider.api_key); at != std::string::npos;
         at = message.find(provider.api_key)) {
      message.replace(at, provider.api_key.size(), "[redacted]");
    }
  }
  auto e = base::make_error(ErrorCode::kUpstreamStatus,
                            "the upstream provider '" + provider.name + "' answered HTTP " +
                                std::to_string(status) + (message.empty() ? "" : ": " + message),
                            "provider " + provider.name + " answered " + std::to_string(status));
  e.status = status;
  e.retryable = status == 408 || status == 429 || status >= 500;
  if (!retry_after.empty()) e.retry_after = api::parse_retry_after(retry_after, std::time(nullptr));
  return e;
}

bool stale_connection_error(const error_code& ec) {
  return ec == http::error::end_of_stream || ec == asio::error::eof ||
         ec == asio::error::connection_reset || ec == asio::error::broken_pipe ||
         ec == http::error::partial_message;
}

}  // namespace

Task<Outcome> Session::relay(const api::ChatRequest& chat, std::size_t model_index,
                             std::string body) {
  Outcome out;
  const auto& model = config_->models[model_index];
  const auto di = loop_.rr[model_index]++ % model.deployments.size();
  const auto& deployment = model.deployments[di];
  out.route = loop_.metrics->route(model_index, di);
  auto& pool = *loop_.pools[deployment.provider_index];
  const auto& provider = pool.provider();

  // The client's bytes go out unchanged unless the model is renamed or usage must be asked for.
  std::string rewritten;
  std::string_view upstream_body = body;
  if (api::upstream_body_changes(chat, deployment.model)) {
    rewritten = api::upstream_chat_body(body, chat, deployment.model);
    upstream_body = rewritten;
  }
  const std::string& upstream_head =
      (chat.stream ? loop_.chat_heads_sse : loop_.chat_heads_json)[deployment.provider_index];
  char length_line[48];
  const auto length_size = static_cast<std::size_t>(std::snprintf(
      length_line, sizeof length_line, "Content-Length: %zu\r\n\r\n", upstream_body.size()));
  const auto deadline = coarse_now() + provider.timeouts.total;

  CancelState cancel;
  begin_watch(cancel);
  std::optional<Error> failure;
  bool answered = false;
  // A reused keep-alive connection the upstream closed meanwhile fails on first use; that one
  // attempt is repeated on a new connection (the request never reached the upstream).
  // Every exit returns the connection to the pool and forgets it in `cancel`.
  auto drop = [&](ConnectionPtr& connection, bool reusable) {
    cancel.active = nullptr;
    pool.release(std::move(connection), reusable);
  };
  for (int attempt = 0; attempt < 2 && !answered && !failure; ++attempt) {
    ConnectionPtr c = pool.take_idle();
    if (!c) {
      auto lease = co_await pool.acquire(deadline, cancel);
      if (!lease) {
        failure = std::move(lease).error();
        break;
      }
      c = std::move(*lease);
    }
    cancel.active = c.get();
    c->expires_after(step_timeout(provider.timeouts.first_byte, deadline));
    std::array<asio::const_buffer, 3> bufs{
        asio::buffer(upstream_head), asio::buffer(length_line, length_size),
        asio::buffer(upstream_body.data(), upstream_body.size())};
    auto [wec, wn] =
        co_await c->visit([&](auto& s) { return asio::async_write(s, bufs, kUseTuple); });
    error_code ec = c->result(wec);
    if (!ec) {
      c->parser.emplace();
      c->parser->header_limit(kMaxUpstreamHeader);
      c->parser->body_limit(chat.stream ? std::numeric_limits<std::uint64_t>::max()
                                        : kMaxUpstreamBody);
      c->expires_after(step_timeout(provider.timeouts.first_byte, deadline));
      auto [hec, hn] = co_await c->visit(
          [&](auto& s) { return http::async_read_header(s, c->buffer, *c->parser, kUseTuple); });
      ec = c->result(hec);
    }
    if (cancel.client_gone) {
      drop(c, false);
      break;
    }
    if (ec) {
      const bool retry_fresh = c->reused && !c->timed_out && stale_connection_error(ec);
      drop(c, false);
      if (retry_fresh) continue;
      failure =
          upstream_io_error(provider, wec ? "sending the request" : "waiting for the answer", ec);
      break;
    }
    auto& parser = *c->parser;
    const int status = static_cast<int>(parser.get().result_int());
    if (status < 200 || status > 299) {
      // Read a bounded error body; whatever fails here, the status is what matters.
      std::string error_text;
      bool reusable = false;
      if (status >= 400) {
        parser.body_limit(kMaxUpstreamErrorBody);
        c->expires_after(step_timeout(provider.timeouts.idle, deadline));
        auto [bec, bn] = co_await c->visit(
            [&](auto& s) { return http::async_read(s, c->buffer, parser, kUseTuple); });
        reusable = !bec && parser.get().keep_alive();
        error_text = parser.get().body();
      }
      failure = upstream_status_error(provider, status, error_text,
                                      parser.get()[http::field::retry_after]);
      drop(c, reusable);
      break;
    }
    if (chat.stream) {
      const bool reusable =
          co_await relay_stream(*c, chat, deployment.model, deadline, provider, out, cancel);
      drop(c, reusable);
      answered = true;
      break;
    }
    c->expires_after(step_timeout(provider.timeouts.idle, deadline));
    auto [body_ec, bn] = co_await c->visit(
        [&](auto& s) { return http::async_read(s, c->buffer, parser, kUseTuple); });
    const auto bec = c->result(body_ec);
    if (cancel.client_gone) {
      drop(c, false);
      break;
    }
    if (bec) {
      drop(c, false);
      failure = upstream_io_error(provider, "reading the answer", bec);
      break;
    }
    std::string answer = std::move(parser.get().body());
    drop(c, parser.get().keep_alive());
    auto usage = api::inspect_completion(answer);
    if (!usage) {
      failure = usage.error();
      break;
    }
    out.m.usage = *usage;
    if (deployment.model != chat.model) answer = api::with_model(answer, chat.model);
    end_watch();
    co_await respond(200, "application/json", answer);
    out.m.status = 200;
    out.m.ok = !write_failed_;
    out.m.client_disconnected = write_failed_;
    co_return out;
  }
  end_watch();
  if (cancel.client_gone) {
    // Nobody is left to answer; the upstream connection was closed above.
    keep_alive_ = false;
    write_failed_ = true;
    out.m.status = 499;
    out.m.client_disconnected = true;
    co_return out;
  }
  if (failure) {
    out.m.status = base::http_status(*failure);
    co_await respond_error(*failure);
  }
  co_return out;
}

Task<bool> Session::relay_stream(UpstreamConnection& c, const api::ChatRequest& chat,
                                 std::string_view upstream_model, Clock::time_point deadline,
                                 const config::ProviderConfig& provider, Outcome& out,
                                 CancelState& cancel) {
  auto& parser = *c.parser;
  const bool rename = upstream_model != chat.model;
  api::SseParser sse;
  std::string pending;  // framed chunks ready for the client
  bool committed = false, done = false;
  std::optional<Error> failure;
  bool upstream_error_event = false;

  auto on_event = [&](const api::SseEvent& event) {
    if (done || failure || upstream_error_event) return;
    auto info = api::inspect_chunk(event.data);
    if (!info) {
      failure = info.error();
      return;
    }
    switch (info->kind) {
      case api::ChunkKind::kDone:
        done = true;
        append_event_chunk(pending, "[DONE]");
        return;
      case api::ChunkKind::kError:
        upstream_error_event = true;
        append_event_chunk(pending, event.data);
        return;
      case api::ChunkKind::kUsageOnly:
        out.m.usage = info->usage;
        if (!chat.client_wants_usage) return;
        break;
      case api::ChunkKind::kData:
        if (info->usage) out.m.usage = info->usage;
        break;
    }
    if (rename) {
      append_event_chunk(pending, api::with_model(event.data, chat.model));
    } else {
      append_event_chunk(pending, event.data);
    }
  };

  const auto content_type = parser.get()[http::field::content_type];
  if (content_type.find("text/event-stream") == std::string_view::npos) {
    failure = base::make_error(
        ErrorCode::kUpstreamUnreachable,
        "the upstream provider '" + provider.name + "' did not answer with an event stream",
        "content-type " + std::string(content_type));
  }
  while (!failure && !done && !upstream_error_event && !parser.is_done()) {
    c.expires_after(
        step_timeout(committed ? provider.timeouts.idle : provider.timeouts.first_byte, deadline));
    auto [read_ec, n] = co_await c.visit(
        [&](auto& s) { return http::async_read_some(s, c.buffer, parser, kUseTuple); });
    const auto ec = c.result(read_ec);
    if (cancel.client_gone) break;
    auto& body = parser.get().body();
    if (!body.empty()) {
      if (auto s = sse.feed(body, on_event); !s.ok()) failure = s.error();
      body.clear();
    }
    if (ec && !failure && !done) {
      failure =
          upstream_io_error(provider, committed ? "streaming" : "waiting for the first token", ec);
    }
    if (!pending.empty() && (!failure || committed)) {
      if (!committed) {
        committed = true;
        // A stream may stay open for minutes: do not keep the request's read buffer meanwhile.
        if (buffer_.size() == 0) buffer_.shrink_to_fit();
        co_await write(head(200, "text/event-stream", std::nullopt, {}), pending);
      } else {
        co_await write({}, pending);
      }
      pending.clear();
      if (write_failed_) {
        cancel.cancel();
        break;
      }
    }
  }
  if (!failure && !done && !upstream_error_event && !cancel.client_gone && !write_failed_) {
    failure =
        base::make_error(ErrorCode::kUpstreamUnreachable,
                         "the upstream provider '" + provider.name +
                             "' ended the stream before it was complete; try again",
                         sse.mid_event() ? "stream cut mid-event" : "stream ended without [DONE]");
    failure->retryable = true;
  }
  // The disconnect watch stays armed until the caller ends it: the drain below still needs it.
  if (cancel.client_gone || write_failed_) {
    keep_alive_ = false;
    write_failed_ = true;
    out.m.status = 499;
    out.m.client_disconnected = true;
    co_return false;
  }
  if (failure && !committed) {
    out.m.status = base::http_status(*failure);
    co_await respond_error(*failure);
    co_return false;
  }
  // Committed: the stream ends with [DONE] or with an error event, never silently.
  std::string tail;
  if (failure) {
    spdlog::warn("request {}: stream failed after it started: {}", request_id_,
                 failure->detail.empty() ? failure->message : failure->detail);
    append_event_chunk(tail, api::error_body(*failure));
  }
  tail.append("0\r\n\r\n");
  if (failure || upstream_error_event) keep_alive_ = false;
  if (!committed) {
    co_await write(head(200, "text/event-stream", std::nullopt, {}), tail);
  } else {
    co_await write({}, tail);
  }
  out.m.status = 200;
  out.m.stream_failed = failure.has_value() || upstream_error_event;
  out.m.ok = done && !write_failed_;
  if (!done || !parser.keep_alive()) co_return false;
  // Read the end of the upstream body (usually already buffered) so the connection is reusable;
  // an upstream slow to finish after [DONE] costs its connection, not the client's time.
  while (!parser.is_done()) {
    c.expires_after(step_timeout(
        std::min<Clock::duration>(provider.timeouts.idle, std::chrono::seconds(1)), deadline));
    auto [ec, n] = co_await c.visit(
        [&](auto& s) { return http::async_read_some(s, c.buffer, parser, kUseTuple); });
    if (ec) co_return false;
    parser.get().body().clear();
  }
  co_return true;
}

namespace {

Task<void> accept_loop(Loop& loop) {
  while (!loop.stopping) {
    auto [ec, socket] = co_await loop.acceptor->async_accept(kUseTuple);
    if (ec) {
      if (loop.stopping || ec == asio::error::operation_aborted) break;
      // EMFILE and friends: back off briefly instead of spinning.
      spdlog::warn("accept failed: {}", ec.message());
      Timer t(loop.ioc, std::chrono::milliseconds(50));
      co_await t.async_wait(kUseTuple);
      continue;
    }
    auto session = std::make_shared<Session>(loop, std::move(socket));
    asio::co_spawn(
        loop.ioc, [session]() { return session->run(); }, asio::detached);
  }
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

}  // namespace

Server::Server(std::shared_ptr<const config::Config> config) : config_(std::move(config)) {
  int n = config_->server.threads;
  if (n <= 0) n = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  metrics_ = std::make_unique<observability::Metrics>(*config_, n);
  std::random_device rd;
  const std::uint64_t salt = (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
  for (int i = 0; i < n; ++i) {
    auto loop = std::make_unique<Loop>();
    loop->metrics = metrics_.get();
    loop->index = i;
    loop->config = config_;
    loop->id_salt = salt & 0x00ffffffffffffffULL;
    loop->rr.assign(config_->models.size(), 0);
    for (const auto& k : config_->server.api_keys) loop->key_digests.push_back(sha256(k));
    for (const auto& p : config_->providers) {
      auto pool = std::make_unique<UpstreamPool>(loop->ioc.get_executor(), p);
      loop->chat_heads_json.push_back(pool->request_head("/chat/completions", "application/json"));
      loop->chat_heads_sse.push_back(pool->request_head("/chat/completions", "text/event-stream"));
      loop->pools.push_back(std::move(pool));
    }
    loops_.push_back(std::move(loop));
  }
}

Server::~Server() {
  stop();
  wait();
}

void Server::start() {
  const auto& s = config_->server;
  error_code ec;
  const auto address = asio::ip::make_address(s.host, ec);
  if (ec) throw std::runtime_error("server.listen: '" + s.host + "' is not an IP address");
  tcp::endpoint endpoint(address, s.port);
  try {
    for (auto& loop : loops_) {
      loop->acceptor.emplace(open_acceptor(loop->ioc, endpoint));
      if (endpoint.port() == 0) endpoint.port(loop->acceptor->local_endpoint().port());
    }
  } catch (const boost::system::system_error& e) {
    throw std::runtime_error("cannot listen on " + s.host + ":" + std::to_string(s.port) + ": " +
                             e.code().message());
  }
  port_ = endpoint.port();
  for (auto& loop : loops_) {
    asio::co_spawn(loop->ioc, accept_loop(*loop), asio::detached);
    loop->sweep_timer.emplace(loop->ioc);
    loop->sweep();
    threads_.emplace_back([l = loop.get()] { l->ioc.run(); });
  }
}

void Server::stop() {
  if (stopping_.exchange(true)) return;
  for (auto& loop : loops_) {
    asio::post(loop->ioc, [l = loop.get()] {
      l->stopping = true;
      error_code ec;
      if (l->acceptor) l->acceptor->close(ec);
      for (auto* s : l->sessions) s->shutdown();
      for (auto& p : l->pools) p->close_all();
      // Requests in flight may finish within the drain timeout; then the loop stops.
      l->drain_timer.emplace(l->ioc, l->config->server.drain_timeout);
      l->drain_timer->async_wait([l](error_code e) {
        if (!e) l->ioc.stop();
      });
      if (l->sessions.empty()) l->ioc.stop();  // otherwise the last session to end stops it
    });
  }
}

void Server::wait() {
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
  for (auto& loop : loops_) loop->finish();
}

void Server::Loop::sweep() {
  if (finishing) return;
  const auto now = Clock::now();
  for (auto* s : sessions) s->sweep(now);
  sweep_timer->expires_after(kWatchDelay);
  sweep_timer->async_wait([this](error_code ec) {
    if (!ec) sweep();
  });
}

void Server::Loop::finish() {
  finishing = true;
  stopping = true;
  error_code ec;
  if (acceptor) acceptor->close(ec);
  if (drain_timer) drain_timer->cancel();
  if (sweep_timer) sweep_timer->cancel();
  for (auto* s : sessions) s->abort();
  for (auto& p : pools) p->close_all();
  ioc.restart();
  ioc.run();
}

}  // namespace shepherd::net
