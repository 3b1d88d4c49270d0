#include "net/server.hpp"

#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <array>
#include <boost/json.hpp>
#include <charconv>
#include <random>
#include <set>
#include <span>
#include <stdexcept>
#include <variant>

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

template <typename Message>
std::string_view header_value(const Message& m, http::field f) {
  auto it = m.find(f);
  return it == m.end() ? std::string_view{} : std::string_view(it->value());
}

template <typename Message>
std::string_view header_value(const Message& m, std::string_view name) {
  auto it = m.find(name);
  return it == m.end() ? std::string_view{} : std::string_view(it->value());
}

// Whether `authorization` is "Bearer <token>" with a token whose digest is one of `digests`.
// The token is hashed first and the digests compared in constant time: timing reveals nothing
// about keys.
bool bearer_matches(std::string_view authorization, std::span<const Digest> digests) {
  constexpr std::string_view kBearer = "Bearer ";
  if (authorization.size() <= kBearer.size() ||
      !beast::iequals(authorization.substr(0, kBearer.size()), kBearer)) {
    return false;
  }
  const auto d = sha256(authorization.substr(kBearer.size()));
  bool ok = false;
  for (const auto& k : digests) ok |= CRYPTO_memcmp(d.data(), k.data(), d.size()) == 0;
  return ok;
}

// Whether two provider configs connect the same way: a reload keeps such a provider's pools
// (and their warm connections).
bool same_connection(const config::ProviderConfig& a, const config::ProviderConfig& b) {
  return a.name == b.name && a.kind == b.kind && a.base_url == b.base_url &&
         a.api_key == b.api_key && a.pool.max_idle == b.pool.max_idle &&
         a.pool.max_connections == b.pool.max_connections &&
         a.timeouts.connect == b.timeouts.connect &&
         a.timeouts.first_byte == b.timeouts.first_byte && a.timeouts.idle == b.timeouts.idle &&
         a.timeouts.total == b.timeouts.total && a.tls_verify == b.tls_verify &&
         a.ca_file == b.ca_file;
}

// JSON bodies are built outside co_await expressions (GCC 12 mishandles braced initializers
// with string literals there).
std::string json_pair(const char* k1, std::string_view v1, const char* k2, std::string_view v2) {
  boost::json::object o;
  o[k1] = v1;
  o[k2] = v2;
  return boost::json::serialize(o);
}

// What one event loop needs of a Snapshot: its own pools and precomputed request heads.
struct LoopView {
  std::shared_ptr<const Snapshot> snap;
  std::vector<std::shared_ptr<UpstreamPool>> pools;  // by provider index
  std::vector<std::string> chat_heads_json, chat_heads_sse;
  std::vector<Digest> key_digests;
  std::optional<Digest> master_digest;

  const config::Config& config() const { return *snap->config; }
  const routing::Router& router() const { return *snap->router; }
};

}  // namespace

struct Server::Loop {
  Server* server = nullptr;
  observability::Metrics* metrics = nullptr;
  int index = 0;
  // Only this loop's thread touches its sockets, so the reactor needs no locking for I/O.
  asio::io_context ioc{BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO};
  // The current snapshot as this loop sees it; replaced on this loop's thread by install().
  std::shared_ptr<const LoopView> view;
  std::optional<Acceptor> acceptor;
  std::set<class Session*> sessions;
  std::uint64_t request_seq = 0;
  std::uint64_t id_salt = 0;
  base::Random random{1};
  std::uint64_t cursor = 0;  // round-robin position, shared by this loop's requests
  bool stopping = false;
  bool finishing = false;
  std::optional<Timer> drain_timer;
  std::optional<Timer> sweep_timer;

  // Every kWatchDelay: lets sessions waiting on an upstream arm their disconnect watch.
  void sweep();

  // Makes `snap` current for the requests that start from now on. Pools of providers whose
  // connection settings did not change are kept. Runs on this loop's thread.
  void install(std::shared_ptr<const Snapshot> snap);

  // After the loop's thread has stopped: aborts what is left (sessions past the drain timeout)
  // and runs the context until every coroutine has unwound, so nothing is destroyed while a
  // handler that uses it is still queued.
  void finish();
};

namespace {

using Loop = Server::Loop;
using routing::AttemptResult;

struct ValidChat {
  api::ChatRequest chat;
  std::size_t model_index = 0;
};

// The outcome of relaying one chat request, for metrics and the log.
struct Outcome {
  std::size_t route = observability::Metrics::kNoRoute;
  observability::Metrics::Outcome m;
};

// One upstream exchange of a request, up to its commit point (the first byte to the client).
struct Attempt {
  routing::Plan::Pick pick;
  const config::DeploymentConfig* deployment = nullptr;
  UpstreamPool* pool = nullptr;
  std::string_view head;  // the request head for the provider
  std::string rewritten;  // the body, when the upstream model id or usage option differ
  std::string_view body;
  Clock::time_point deadline;  // min(request deadline, start + provider's total timeout)
  Clock::time_point started, first_byte;
  CancelState cancel;
  ConnectionPtr c;  // streams: the connection the answer continues on
  std::optional<Error> failure;
  AttemptResult verdict = AttemptResult::kNeutral;  // for the deployment's health
  std::optional<routing::Duration> bench;           // 429 Retry-After: out of rotation this long
  bool ended = false;                               // DeploymentState::end() was called
  bool context_exceeded = false;  // the upstream said the request is too long for it
  bool finished = false;          // open() has returned (hedging)
  // Streams: events read before the commit point, framed for the client.
  api::SseParser sse;
  std::string pending;
  bool substantive = false;  // pending holds more than the role chunk: ready to commit
  bool done = false, error_event = false;
  std::optional<api::Usage> usage;
  std::string answer;  // non-streaming: the complete answer

  bool ok() const { return !failure && !cancel.client_gone; }
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

  const config::Config& config() const { return view_->config(); }
  Task<void> handle(Request& req);
  Task<void> handle_admin(Request& req, std::string_view target);
  // The parsed request and its model, or the error to answer with (400 or 404).
  base::Result<ValidChat> validate_chat(const Request& req) const;

  // The request stages of a chat completion: Plan → attempts (retries, fallbacks, hedging) →
  // commit → delivery. Every admitted attempt ends exactly once (finish_attempt).
  Task<Outcome> relay(const api::ChatRequest& chat, std::size_t model_index, std::string body);
  void prepare_attempt(Attempt& a, const routing::Plan::Pick& pick, const api::ChatRequest& chat,
                       const std::string& body, const routing::Plan& plan);
  // Sends the request and reads up to the commit point: the whole answer, or for streams the
  // first events. Sets a.failure (and a.verdict) when the attempt failed.
  Task<void> open(Attempt& a, const api::ChatRequest& chat);
  // Runs `first`, and when it has not finished after `delay` a second attempt alongside it
  // (hedging); returns the attempt to commit, or a failed one when both failed.
  Task<Attempt*> open_hedged(Attempt& first, std::unique_ptr<Attempt>& second, routing::Plan& plan,
                             const api::ChatRequest& chat, const std::string& body,
                             Clock::duration delay, CancelState& rc);
  void finish_attempt(Attempt& a, AttemptResult verdict);
  // Streams after the commit point; returns whether the connection may be reused.
  Task<bool> deliver_stream(Attempt& a, const api::ChatRequest& chat, Outcome& out);
  void take_event(Attempt& a, const api::ChatRequest& chat, std::string_view data);
  // Waits `d` unless the client leaves first; false when it left.
  Task<bool> pause(Clock::duration d, CancelState& rc);

  Task<void> write(std::string_view head, std::string_view body = {});
  Task<void> respond(int status, std::string_view content_type, std::string_view body,
                     std::string_view extra_headers = {});
  Task<void> respond_error(const Error& e);
  // 405 naming the methods `allow`ed for `target`.
  Task<void> respond_wrong_method(std::string_view target, std::string_view allow);
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
  std::string cors_;           // CORS response headers for the current request
  std::string route_headers_;  // x-shepherd-* headers: what routing did
  std::string head_;
  std::uint64_t watch_gen_ = 0;
  CancelState* cancel_ = nullptr;
  bool armed_ = false;
  Clock::time_point watch_since_{};
  std::shared_ptr<const LoopView> view_;  // the snapshot the current request uses
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
  h.append("\r\n").append(cors_).append(route_headers_).append(extra_headers);
  if (!keep_alive_) h.append("Connection: close\r\n");
  h.append("\r\n");
  return h;
}

Task<void> Session::write(std::string_view head, std::string_view body) {
  if (write_failed_) co_return;
  set_deadline(config().server.request_timeout);
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

Task<void> Session::respond_wrong_method(std::string_view target, std::string_view allow) {
  auto e = base::make_error(ErrorCode::kMethodNotAllowed,
                            "use " + std::string(allow) + " for " + std::string(target));
  const auto body = api::error_body(e);
  const auto extra = "Allow: " + std::string(allow) + "\r\n";
  co_await respond(405, "application/json", body, extra);
}

bool Session::authorized(const Request& req) const {
  if (view_->key_digests.empty()) return true;  // open mode, announced at start-up
  return bearer_matches(header_value(req, http::field::authorization), view_->key_digests);
}

void Session::prepare_cors(const Request& req) {
  cors_.clear();
  auto origin = header_value(req, http::field::origin);
  if (origin.empty()) return;
  const auto& server = config().server;
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
  cors_.append(
      "Access-Control-Expose-Headers: X-Request-Id, Retry-After, X-Shepherd-Deployment, "
      "X-Shepherd-Attempts, X-Shepherd-Model, X-Shepherd-Hedged\r\n");
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
  cancel_->check_deadline(now);
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
  socket_.set_option(tcp::no_delay(true));
  while (keep_alive_ && !loop_.stopping) {
    idle_ = true;
    view_ = loop_.view;
    const auto& limits = config().server;
    if (buffer_.size() == 0) {
      // Wait for the next request no longer than the keep-alive timeout.
      set_deadline(limits.keepalive_timeout);
      auto [ec, n] = co_await socket_.async_read_some(buffer_.prepare(kFirstRead), kUseTuple);
      clear_deadline();
      if (ec) break;
      buffer_.commit(n);
    }
    idle_ = false;
    view_ = loop_.view;
    request_id_.clear();
    cors_.clear();
    route_headers_.clear();
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
  const auto& config = this->config();

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
  auto wrong_method = [&](std::string_view allow) { return respond_wrong_method(target, allow); };

  if (target == "/health") {
    if (!method_is(http::verb::get)) co_return co_await wrong_method("GET");
    co_await respond(200, "application/json", R"({"status":"ok"})");
    co_return;
  }
  if (target == "/health/ready") {
    if (!method_is(http::verb::get)) co_return co_await wrong_method("GET");
    std::string reason;
    if (loop_.stopping) {
      co_await respond(503, "application/json", R"({"status":"stopping"})");
    } else if (config.providers.empty() || config.models.empty()) {
      co_await respond(503, "application/json",
                       R"({"status":"not ready","reason":"no provider or model is configured"})");
    } else if (!view_->router().ready(Clock::now(), &reason)) {
      const auto body = json_pair("status", "not ready", "reason", reason);
      co_await respond(503, "application/json", body);
    } else {
      co_await respond(200, "application/json", R"({"status":"ready"})");
    }
    co_return;
  }
  if (target == "/metrics") {
    if (!method_is(http::verb::get)) co_return co_await wrong_method("GET");
    co_await respond(
        200, "text/plain; version=0.0.4",
        loop_.metrics->prometheus_text() + view_->router().prometheus_text(Clock::now()));
    co_return;
  }
  if (target == "/stats") {
    if (!method_is(http::verb::get)) co_return co_await wrong_method("GET");
    co_await respond(200, "application/json", loop_.metrics->stats_json());
    co_return;
  }
  if (target.starts_with("/admin/")) {
    co_await handle_admin(req, target);
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
  const auto& config = this->config();
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
    // text may quote the key, so it is not passed on. Another deployment may have a valid key.
    auto e =
        base::make_error(ErrorCode::kUpstreamUnreachable,
                         "the upstream provider '" + provider.name +
                             "' rejected Shepherd's credentials (HTTP " + std::to_string(status) +
                             "); the operator must check providers." + provider.name + ".api_key",
                         "provider " + provider.name + " answered " + std::to_string(status));
    e.retryable = true;
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

// What an upstream's status says about the deployment's health (RELIABILITY.md: 408, 429 and
// 5xx count against it; other 4xx are the request's fault).
AttemptResult status_verdict(int status) {
  if (status == 401 || status == 403) return AttemptResult::kAuthFailure;
  if (status == 429) return AttemptResult::kRateLimited;
  if (status == 408 || status >= 500 || status < 400) return AttemptResult::kFailure;
  return AttemptResult::kNeutral;
}

// How long an upstream says it has nothing left (x-ratelimit-remaining-requests or -tokens at
// 0, with the matching x-ratelimit-reset-*), or nullopt. One pass over the fields: most answers
// have no such header, and looking each up by name would cost more than the pass.
template <typename Fields>
std::optional<routing::Duration> exhausted_for(const Fields& fields) {
  constexpr std::string_view kRemaining = "x-ratelimit-remaining-";
  std::optional<routing::Duration> out;
  for (const auto& f : fields) {
    const std::string_view name = f.name_string();
    if (name.size() <= kRemaining.size() || (name[0] != 'x' && name[0] != 'X') ||
        !beast::iequals(name.substr(0, kRemaining.size()), kRemaining) || f.value() != "0") {
      continue;
    }
    const auto kind = name.substr(kRemaining.size());  // "requests" or "tokens"
    std::string reset = "x-ratelimit-reset-";
    reset.append(kind);
    if (auto ms = api::parse_reset_duration(header_value(fields, std::string_view(reset)))) {
      const routing::Duration d = std::chrono::milliseconds(*ms);
      out = std::max(out.value_or(routing::Duration::zero()), d);
    }
  }
  return out;
}

bool stale_connection_error(const error_code& ec) {
  return ec == http::error::end_of_stream || ec == asio::error::eof ||
         ec == asio::error::connection_reset || ec == asio::error::broken_pipe ||
         ec == http::error::partial_message;
}

Error cancelled_error() {
  return base::make_error(ErrorCode::kUnavailable, "the request was cancelled");
}

double seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// A 429's Retry-After benches the deployment at most this long.
constexpr auto kMaxBench = std::chrono::minutes(10);
// Hedging on a measured p95 needs this many samples first.
constexpr int kHedgeMinSamples = 20;

}  // namespace

void Session::prepare_attempt(Attempt& a, const routing::Plan::Pick& pick,
                              const api::ChatRequest& chat, const std::string& body,
                              const routing::Plan& plan) {
  const auto& config = this->config();
  a.pick = pick;
  a.deployment = &config.models[pick.model].deployments[pick.deployment];
  a.pool = view_->pools[a.deployment->provider_index].get();
  a.head =
      (chat.stream ? view_->chat_heads_sse : view_->chat_heads_json)[a.deployment->provider_index];
  // The client's bytes go out unchanged unless the model is renamed or usage must be asked for.
  a.body = body;
  if (api::upstream_body_changes(chat, a.deployment->model)) {
    a.rewritten = api::upstream_chat_body(body, chat, a.deployment->model);
    a.body = a.rewritten;
  }
  a.started = Clock::now();  // precise: latency samples come from it
  a.deadline = std::min(plan.deadline(), a.started + a.pool->provider().timeouts.total);
}

void Session::finish_attempt(Attempt& a, AttemptResult verdict) {
  if (a.ended) return;
  a.ended = true;
  const auto& settings = view_->router().settings();
  if (a.failure && verdict != AttemptResult::kNeutral) {
    a.pick.state->set_last_error(base::code_name(a.failure->code) + std::string(": ") +
                                 a.failure->message);
  }
  a.pick.state->end(coarse_now(), verdict, settings, a.bench);
}

Task<bool> Session::pause(Clock::duration d, CancelState& rc) {
  if (d <= Clock::duration::zero()) co_return !rc.client_gone;
  Timer timer(loop_.ioc, d);
  rc.waiting = &timer;
  co_await timer.async_wait(kUseTuple);
  rc.waiting = nullptr;
  co_return !rc.client_gone;
}

Task<Outcome> Session::relay(const api::ChatRequest& chat, std::size_t model_index,
                             std::string body) {
  Outcome out;
  const auto& config = this->config();
  const auto& router = view_->router();
  const auto& routing = config.routing;
  // Tokens are estimated at four bytes each, plus the completion the client allows.
  routing::RequestShape shape;
  shape.stream = chat.stream;
  shape.tokens =
      static_cast<double>(body.size()) / 4 + static_cast<double>(chat.max_tokens.value_or(0));
  routing::Plan plan(router, model_index, shape, coarse_now() + routing.deadline);

  CancelState rc;  // the request's: a disconnect cancels the attempts linked to it
  begin_watch(rc);
  std::optional<Error> failure;
  // The first attempt lives in this frame; a hedge's second only when one starts (a stream
  // keeps this frame for its whole length, so its size is memory per open stream).
  std::optional<Attempt> first;
  std::unique_ptr<Attempt> second;
  bool hedged = false;
  auto set_route_headers = [&](const Attempt* served) {
    route_headers_.clear();
    if (served) {
      route_headers_.append("X-Shepherd-Deployment: ").append(served->deployment->id);
      route_headers_.append("\r\n");
      if (served->pick.model != model_index) {
        route_headers_.append("X-Shepherd-Model: ")
            .append(config.models[served->pick.model].name)
            .append("\r\n");
      }
    }
    route_headers_.append("X-Shepherd-Attempts: ").append(std::to_string(plan.attempts()));
    route_headers_.append("\r\n");
    if (hedged) route_headers_.append("X-Shepherd-Hedged: true\r\n");
  };

  while (!rc.client_gone) {
    // Routing decisions need milliseconds, not the precise clock (latency samples use that).
    auto next = plan.next(coarse_now(), loop_.random, loop_.cursor);
    if (auto* wait = std::get_if<routing::Plan::Wait>(&next)) {
      // Every deployment that could serve is at its rate limit: wait in the bounded queue.
      auto& queued = router.queued(model_index);
      if (queued.fetch_add(1, std::memory_order_relaxed) >= routing.queue_size) {
        queued.fetch_sub(1, std::memory_order_relaxed);
        plan.no_waiting();
        continue;
      }
      const bool stayed = co_await pause(wait->duration, rc);
      queued.fetch_sub(1, std::memory_order_relaxed);
      plan.waited(wait->duration);
      if (!stayed) break;
      continue;
    }
    if (auto* error = std::get_if<Error>(&next)) {
      // After a failed attempt, its failure says more than "nothing left to try".
      if (!failure || error->code == ErrorCode::kRateLimited) failure = std::move(*error);
      break;
    }
    const auto pick = std::get<routing::Plan::Pick>(next);
    // Metrics count the request on the deployment of its last attempt.
    out.route = view_->snap->routes.route(pick.model, pick.deployment);
    first.reset();
    second.reset();
    first.emplace();
    prepare_attempt(*first, pick, chat, body, plan);
    Attempt* served = &*first;
    std::optional<Clock::duration> hedge_after;
    if (config.models[pick.model].hedge.enabled) {
      if (const auto& after = config.models[pick.model].hedge.after) {
        hedge_after = *after;
      } else if (auto p95 = pick.state->first_byte_p95(kHedgeMinSamples)) {
        hedge_after =
            std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(*p95));
      }
    }
    if (hedge_after) {
      served = co_await open_hedged(*first, second, plan, chat, body, *hedge_after, rc);
      hedged = second != nullptr;
    } else {
      rc.attempts[0] = &first->cancel;
      co_await open(*first, chat);
      rc.attempts[0] = nullptr;
    }
    if (served->ok()) {
      // Commit point: from here on, no other attempt.
      Attempt& a = *served;
      rc.attempts = {&a.cancel, nullptr};  // a disconnect or a deadline still reaches it
      out.route = view_->snap->routes.route(a.pick.model, a.pick.deployment);
      out.m.attempts = plan.attempts();
      out.m.fallback = a.pick.model != model_index;
      out.m.hedged = hedged;
      set_route_headers(&a);
      const auto& served_name = config.models[a.pick.model].name;
      bool clean = true;
      if (!chat.stream) {
        out.m.usage = a.usage;
        if (a.deployment->model != served_name) a.answer = api::with_model(a.answer, served_name);
        end_watch();
        co_await respond(200, "application/json", a.answer);
        out.m.status = 200;
        out.m.ok = !write_failed_;
        out.m.client_disconnected = write_failed_;
      } else {
        const bool reusable = co_await deliver_stream(a, chat, out);
        a.pool->release(std::move(a.c), reusable);
        a.cancel.active = nullptr;
        end_watch();
        clean = !out.m.stream_failed;
      }
      const auto now = Clock::now();
      if (clean) {
        a.pick.state->record_latency(chat.stream, seconds(a.first_byte - a.started),
                                     seconds(now - a.started));
      }
      if (out.m.usage) {
        a.pick.state->settle_tokens(shape.tokens, static_cast<double>(out.m.usage->total_tokens));
      }
      finish_attempt(a, clean ? AttemptResult::kSuccess : AttemptResult::kFailure);
      co_return out;
    }
    failure = served->failure;
    if (rc.client_gone || !failure) break;
    if (served->context_exceeded) plan.exclude(served->pick.model, served->pick.deployment);
    const auto delay = plan.retry_delay(*failure, Clock::now(), loop_.random);
    if (!delay) break;
    spdlog::debug("request {}: attempt {} on {} failed ({}); retrying", request_id_,
                  plan.attempts(), served->deployment->id, failure->message);
    if (!co_await pause(*delay, rc)) break;
  }
  end_watch();
  out.m.attempts = plan.attempts();
  out.m.hedged = hedged;
  if (rc.client_gone) {
    // Nobody is left to answer; the upstream connections were closed.
    keep_alive_ = false;
    write_failed_ = true;
    out.m.status = 499;
    out.m.client_disconnected = true;
    co_return out;
  }
  if (!failure) failure = base::make_error(ErrorCode::kInternal, "no attempt was made");
  if (plan.attempts() > 0) set_route_headers(nullptr);
  out.m.status = base::http_status(*failure);
  co_await respond_error(*failure);
  co_return out;
}

Task<Attempt*> Session::open_hedged(Attempt& first, std::unique_ptr<Attempt>& second,
                                    routing::Plan& plan, const api::ChatRequest& chat,
                                    const std::string& body, Clock::duration delay,
                                    CancelState& rc) {
  // Both attempts run as their own coroutines on this loop; `signal` wakes this one when either
  // finishes. Nothing here returns before both have finished: they use this frame's state.
  Timer signal(loop_.ioc);
  int running = 0;
  auto launch = [&](Attempt& a, std::size_t slot) {
    ++running;
    rc.attempts[slot] = &a.cancel;
    asio::co_spawn(loop_.ioc, open(a, chat), [&a, &signal, &running](std::exception_ptr e) {
      if (e && !a.failure) a.failure = base::make_error(ErrorCode::kInternal, "attempt failed");
      a.finished = true;
      --running;
      signal.cancel();
    });
  };
  launch(first, 0);
  signal.expires_after(delay);
  co_await signal.async_wait(kUseTuple);
  if (!first.finished && !rc.client_gone && plan.may_hedge(Clock::now())) {
    auto next = plan.next(Clock::now(), loop_.random, loop_.cursor);
    if (auto* pick = std::get_if<routing::Plan::Pick>(&next)) {
      second = std::make_unique<Attempt>();
      prepare_attempt(*second, *pick, chat, body, plan);
      launch(*second, 1);
    }
  }
  Attempt* winner = nullptr;
  for (;;) {
    if (first.finished && first.ok()) {
      winner = &first;
    } else if (second && second->finished && second->ok()) {
      winner = &*second;
    }
    if (winner || (first.finished && (!second || second->finished)) || rc.client_gone) break;
    signal.expires_at(Clock::time_point::max());
    co_await signal.async_wait(kUseTuple);
  }
  // The loser is cancelled and billed nothing: its deployment's health is not judged by it.
  for (Attempt* a : {&first, second ? &*second : nullptr}) {
    if (a && a != winner && !a->finished) a->cancel.cancel();
  }
  while (running > 0) {
    signal.expires_at(Clock::time_point::max());
    co_await signal.async_wait(kUseTuple);
  }
  rc.attempts = {};
  for (Attempt* a : {&first, second ? &*second : nullptr}) {
    if (!a || a == winner) continue;
    if (a->c) {
      a->cancel.active = nullptr;
      a->pool->release(std::move(a->c), false);
    }
    if (a->ok()) finish_attempt(*a, AttemptResult::kNeutral);  // finished too late
  }
  if (winner) co_return winner;
  // Both failed: report the first one's failure (the second's is recorded on its deployment).
  co_return &first;
}

Task<void> Session::open(Attempt& a, const api::ChatRequest& chat) {
  auto& pool = *a.pool;
  const auto& provider = pool.provider();
  auto fail = [&](Error e, AttemptResult verdict) {
    a.failure = std::move(e);
    a.verdict = verdict;
    finish_attempt(a, verdict);
  };
  char length_line[48];
  const auto length_size = static_cast<std::size_t>(
      std::snprintf(length_line, sizeof length_line, "Content-Length: %zu\r\n\r\n", a.body.size()));
  // A reused keep-alive connection the upstream closed meanwhile fails on first use; that one
  // exchange is repeated on a new connection (the request never reached the upstream).
  ConnectionPtr c;
  for (int tries = 0; tries < 2 && !c; ++tries) {
    c = pool.take_idle();
    if (!c) {
      auto lease = co_await pool.acquire(a.deadline, a.cancel);
      if (a.cancel.client_gone) co_return fail(cancelled_error(), AttemptResult::kNeutral);
      if (!lease) co_return fail(std::move(lease).error(), AttemptResult::kFailure);
      c = std::move(*lease);
    }
    a.cancel.active = c.get();
    c->expires_after(step_timeout(provider.timeouts.first_byte, a.deadline));
    std::array<asio::const_buffer, 3> bufs{asio::buffer(a.head.data(), a.head.size()),
                                           asio::buffer(length_line, length_size),
                                           asio::buffer(a.body.data(), a.body.size())};
    auto [wec, wn] =
        co_await c->visit([&](auto& s) { return asio::async_write(s, bufs, kUseTuple); });
    error_code ec = c->result(wec);
    if (!ec) {
      c->parser.emplace();
      c->parser->header_limit(kMaxUpstreamHeader);
      c->parser->body_limit(chat.stream ? std::numeric_limits<std::uint64_t>::max()
                                        : kMaxUpstreamBody);
      c->expires_after(step_timeout(provider.timeouts.first_byte, a.deadline));
      auto [hec, hn] = co_await c->visit(
          [&](auto& s) { return http::async_read_header(s, c->buffer, *c->parser, kUseTuple); });
      ec = c->result(hec);
    }
    if (a.cancel.client_gone || ec) {
      const bool retry_fresh =
          !a.cancel.client_gone && c->reused && !c->timed_out && stale_connection_error(ec);
      a.cancel.active = nullptr;
      pool.release(std::move(c), false);
      if (a.cancel.client_gone) co_return fail(cancelled_error(), AttemptResult::kNeutral);
      if (retry_fresh) continue;
      co_return fail(
          upstream_io_error(provider, wec ? "sending the request" : "waiting for the answer", ec),
          AttemptResult::kFailure);
    }
  }
  if (!c) co_return fail(cancelled_error(), AttemptResult::kNeutral);
  auto release = [&](bool reusable) {
    a.cancel.active = nullptr;
    pool.release(std::move(c), reusable);
  };
  auto& parser = *c->parser;
  a.first_byte = Clock::now();
  const int status = static_cast<int>(parser.get().result_int());
  if (auto exhausted = exhausted_for(parser.get())) {
    a.pick.state->bench_until(Clock::now() + *exhausted);
  }
  if (status < 200 || status > 299) {
    // Read a bounded error body; whatever fails here, the status is what matters.
    std::string error_text;
    bool reusable = false;
    if (status >= 400) {
      parser.body_limit(kMaxUpstreamErrorBody);
      c->expires_after(step_timeout(provider.timeouts.idle, a.deadline));
      auto [bec, bn] = co_await c->visit(
          [&](auto& s) { return http::async_read(s, c->buffer, parser, kUseTuple); });
      reusable = !bec && parser.get().keep_alive();
      error_text = parser.get().body();
    }
    auto e = upstream_status_error(provider, status, error_text,
                                   header_value(parser.get(), http::field::retry_after));
    if (status == 429 && e.retry_after) {
      a.bench = std::min<routing::Duration>(std::chrono::seconds(*e.retry_after), kMaxBench);
    }
    if (status == 400 && error_text.find("context_length_exceeded") != std::string::npos) {
      // Too long for this deployment, not for every one: a longer-context deployment or a
      // fallback model may take it.
      a.context_exceeded = true;
      e.retryable = true;
    }
    release(reusable);
    co_return fail(std::move(e), status_verdict(status));
  }
  if (!chat.stream) {
    c->expires_after(step_timeout(provider.timeouts.idle, a.deadline));
    auto [body_ec, bn] = co_await c->visit(
        [&](auto& s) { return http::async_read(s, c->buffer, parser, kUseTuple); });
    const auto bec = c->result(body_ec);
    if (a.cancel.client_gone) {
      release(false);
      co_return fail(cancelled_error(), AttemptResult::kNeutral);
    }
    if (bec) {
      release(false);
      co_return fail(upstream_io_error(provider, "reading the answer", bec),
                     AttemptResult::kFailure);
    }
    a.answer = std::move(parser.get().body());
    release(parser.get().keep_alive());
    auto usage = api::inspect_completion(a.answer);
    if (!usage) co_return fail(usage.error(), AttemptResult::kFailure);
    a.usage = *usage;
    co_return;
  }
  const auto content_type = parser.get()[http::field::content_type];
  if (content_type.find("text/event-stream") == std::string_view::npos) {
    release(false);
    co_return fail(base::make_error(ErrorCode::kUpstreamUnreachable,
                                    "the upstream provider '" + provider.name +
                                        "' did not answer with an event stream",
                                    "content-type " + std::string(content_type)),
                   AttemptResult::kFailure);
  }
  // Read until there is something to send beyond the role chunk: the first token commits.
  while (!a.substantive && !a.failure && !parser.is_done()) {
    c->expires_after(step_timeout(provider.timeouts.first_byte, a.deadline));
    auto [read_ec, n] = co_await c->visit(
        [&](auto& s) { return http::async_read_some(s, c->buffer, parser, kUseTuple); });
    const auto ec = c->result(read_ec);
    if (a.cancel.client_gone) {
      release(false);
      co_return fail(cancelled_error(), AttemptResult::kNeutral);
    }
    auto& body = parser.get().body();
    if (!body.empty()) {
      if (auto s = a.sse.feed(body, [&](const api::SseEvent& e) { take_event(a, chat, e.data); });
          !s.ok() && !a.failure) {
        a.failure = s.error();
      }
      body.clear();
    }
    if (ec && !a.failure && !a.substantive) {
      a.failure = upstream_io_error(provider, "waiting for the first token", ec);
    }
  }
  if (!a.substantive && !a.failure) {
    auto e = base::make_error(ErrorCode::kUpstreamUnreachable,
                              "the upstream provider '" + provider.name +
                                  "' ended the stream before it was complete; try again",
                              "stream ended before its first event");
    e.retryable = true;
    a.failure = std::move(e);
  }
  if (a.failure) {
    // Not committed yet: whatever was read is dropped and the request may go elsewhere.
    release(false);
    auto e = std::move(*a.failure);
    co_return fail(std::move(e), AttemptResult::kFailure);
  }
  a.first_byte = Clock::now();  // streams: the first event, not the headers
  a.c = std::move(c);
}

void Session::take_event(Attempt& a, const api::ChatRequest& chat, std::string_view data) {
  if (a.done || a.failure || a.error_event) return;
  auto info = api::inspect_chunk(data);
  if (!info) {
    a.failure = info.error();
    return;
  }
  switch (info->kind) {
    case api::ChunkKind::kDone:
      a.done = true;
      a.substantive = true;
      append_event_chunk(a.pending, "[DONE]");
      return;
    case api::ChunkKind::kError:
      a.error_event = true;
      a.substantive = true;
      append_event_chunk(a.pending, data);
      return;
    case api::ChunkKind::kUsageOnly:
      a.usage = info->usage;
      a.substantive = true;
      if (!chat.client_wants_usage) return;
      break;
    case api::ChunkKind::kData:
      if (info->usage) a.usage = info->usage;
      if (!a.substantive && !api::is_preamble_chunk(data)) a.substantive = true;
      break;
  }
  const auto& served = config().models[a.pick.model].name;
  if (a.deployment->model != served) {
    append_event_chunk(a.pending, api::with_model(data, served));
  } else {
    append_event_chunk(a.pending, data);
  }
}

Task<bool> Session::deliver_stream(Attempt& a, const api::ChatRequest& chat, Outcome& out) {
  auto& c = *a.c;
  auto& parser = *c.parser;
  const auto& provider = a.pool->provider();
  // Commit: the status line and the first events go out together.
  // A stream may stay open for minutes: do not keep the request's read buffer meanwhile.
  if (buffer_.size() == 0) buffer_.shrink_to_fit();
  co_await write(head(200, "text/event-stream", std::nullopt, {}), a.pending);
  a.pending.clear();
  if (write_failed_) a.cancel.cancel();
  while (!write_failed_ && !a.failure && !a.done && !a.error_event && !parser.is_done()) {
    c.expires_after(step_timeout(provider.timeouts.idle, a.deadline));
    auto [read_ec, n] = co_await c.visit(
        [&](auto& s) { return http::async_read_some(s, c.buffer, parser, kUseTuple); });
    const auto ec = c.result(read_ec);
    if (a.cancel.client_gone) break;
    auto& body = parser.get().body();
    if (!body.empty()) {
      if (auto s = a.sse.feed(body, [&](const api::SseEvent& e) { take_event(a, chat, e.data); });
          !s.ok() && !a.failure) {
        a.failure = s.error();
      }
      body.clear();
    }
    if (ec && !a.failure && !a.done) a.failure = upstream_io_error(provider, "streaming", ec);
    if (!a.pending.empty()) {
      co_await write({}, a.pending);
      a.pending.clear();
      if (write_failed_) {
        a.cancel.cancel();
        break;
      }
    }
  }
  out.m.usage = a.usage;
  if (!a.failure && !a.done && !a.error_event && !a.cancel.client_gone && !write_failed_) {
    auto e = base::make_error(
        ErrorCode::kUpstreamUnreachable,
        "the upstream provider '" + provider.name +
            "' ended the stream before it was complete; try again",
        a.sse.mid_event() ? "stream cut mid-event" : "stream ended without [DONE]");
    e.retryable = true;
    a.failure = std::move(e);
  }
  if (a.cancel.client_gone || write_failed_) {
    keep_alive_ = false;
    write_failed_ = true;
    out.m.status = 499;
    out.m.client_disconnected = true;
    co_return false;
  }
  // Committed: the stream ends with [DONE] or with an error event, never silently.
  std::string tail;
  if (a.failure) {
    spdlog::warn("request {}: stream failed after it started: {}", request_id_,
                 a.failure->detail.empty() ? a.failure->message : a.failure->detail);
    append_event_chunk(tail, api::error_body(*a.failure));
  }
  tail.append("0\r\n\r\n");
  if (a.failure || a.error_event) keep_alive_ = false;
  co_await write({}, tail);
  out.m.status = 200;
  out.m.stream_failed = a.failure.has_value() || a.error_event;
  out.m.ok = a.done && !write_failed_;
  if (!a.done || !parser.keep_alive()) co_return false;
  // Read the end of the upstream body (usually already buffered) so the connection is reusable;
  // an upstream slow to finish after [DONE] costs its connection, not the client's time.
  while (!parser.is_done()) {
    c.expires_after(step_timeout(
        std::min<Clock::duration>(provider.timeouts.idle, std::chrono::seconds(1)), a.deadline));
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

// ---- Admin API (master key; deny by default)

namespace {

struct AdminAnswer {
  int status = 200;
  std::string body;
};

std::string json_error_body(ErrorCode code, std::string message) {
  return api::error_body(base::make_error(code, std::move(message)));
}

std::string applied_body(std::uint64_t version) {
  boost::json::object o;
  o["version"] = version;
  o["status"] = "applied";
  return boost::json::serialize(o);
}

std::string versions_body(std::uint64_t current, const std::vector<Server::Version>& versions) {
  boost::json::array list;
  for (const auto& v : versions) {
    boost::json::object o;
    o["version"] = v.number;
    o["source"] = v.source;
    o["applied_at"] = v.applied_at;
    o["current"] = v.current;
    list.push_back(std::move(o));
  }
  boost::json::object root;
  root["version"] = current;
  root["versions"] = std::move(list);
  return boost::json::serialize(root);
}

// Percent-decoding for the deployment id in admin paths.
std::string percent_decode(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      int v = 0;
      auto [p, ec] = std::from_chars(s.data() + i + 1, s.data() + i + 3, v, 16);
      if (ec == std::errc{} && p == s.data() + i + 3) {
        out.push_back(static_cast<char>(v));
        i += 2;
        continue;
      }
    }
    out.push_back(s[i]);
  }
  return out;
}

}  // namespace

Task<void> Session::handle_admin(Request& req, std::string_view target) {
  const auto method = req.method();
  if (!view_->master_digest) {
    co_await respond_error(base::make_error(
        ErrorCode::kForbidden, "the admin API is disabled; set server.master_key to enable it"));
    co_return;
  }
  if (!bearer_matches(header_value(req, http::field::authorization),
                      std::span(&*view_->master_digest, 1))) {
    co_await respond_error(base::make_error(
        ErrorCode::kUnauthorized,
        "admin routes need the master key: send Authorization: Bearer <server.master_key>"));
    co_return;
  }
  auto wrong_method = [&](std::string_view allow) { return respond_wrong_method(target, allow); };
  const auto now = Clock::now();
  if (target == "/admin/deployments") {
    if (method != http::verb::get) co_return co_await wrong_method("GET");
    co_await respond(200, "application/json", view_->router().deployments_json(now));
    co_return;
  }
  constexpr std::string_view kDeployments = "/admin/deployments/";
  if (target.starts_with(kDeployments)) {
    const auto rest = target.substr(kDeployments.size());
    const auto slash = rest.rfind('/');
    const auto action =
        slash == std::string_view::npos ? std::string_view{} : rest.substr(slash + 1);
    if (action != "drain" && action != "enable") {
      co_await respond_error(base::make_error(
          ErrorCode::kNotFound,
          "no admin route " + std::string(target) +
              "; use POST /admin/deployments/{id}/drain or /admin/deployments/{id}/enable"));
      co_return;
    }
    if (method != http::verb::post) co_return co_await wrong_method("POST");
    const auto id = percent_decode(rest.substr(0, slash));
    const auto at = config().find_deployment(id);
    if (!at) {
      co_await respond_error(base::make_error(
          ErrorCode::kNotFound, "no deployment '" + id + "'; GET /admin/deployments lists them"));
      co_return;
    }
    auto& state = view_->router().state(at->first, at->second);
    state.set_drained(action == "drain");
    spdlog::info("deployment {} {} through the admin API", id,
                 action == "drain" ? "drained" : "enabled");
    const auto body = json_pair("id", id, "state", state.report(now).availability);
    co_await respond(200, "application/json", body);
    co_return;
  }
  const bool reload = target == "/admin/config/reload";
  const bool rollback = target == "/admin/config/rollback";
  if (reload || rollback) {
    if (method != http::verb::post) co_return co_await wrong_method("POST");
    // Reading and validating the file happens on the control thread, never on an event loop.
    auto* server = loop_.server;
    auto [e, answer] = co_await asio::co_spawn(
        server->control_executor(),
        [server, reload]() -> Task<AdminAnswer> {
          auto result = reload ? server->reload() : server->rollback();
          if (!result) {
            co_return AdminAnswer{base::http_status(result.error()),
                                  api::error_body(result.error())};
          }
          co_return AdminAnswer{200, applied_body(*result)};
        },
        kUseTuple);
    if (e) answer = AdminAnswer{500, json_error_body(ErrorCode::kInternal, "reload failed")};
    co_await respond(answer.status, "application/json", answer.body);
    co_return;
  }
  if (target == "/admin/config") {
    if (method != http::verb::get) co_return co_await wrong_method("GET");
    const auto body = versions_body(view_->snap->version, loop_.server->versions());
    co_await respond(200, "application/json", body);
    co_return;
  }
  co_await respond_error(base::make_error(
      ErrorCode::kNotFound,
      "no admin route " + std::string(target) +
          "; the admin API has /admin/deployments, /admin/config, /admin/config/reload and "
          "/admin/config/rollback"));
}

// ---- Control thread: reloads and active health checks

struct Server::Control {
  asio::io_context ioc;
  std::optional<asio::executor_work_guard<Executor>> work;
  std::thread thread;
  std::uint64_t generation = 0;  // health-check loops of older generations stop
  std::vector<std::unique_ptr<Timer>> timers;
};

Executor Server::control_executor() { return control_->ioc.get_executor(); }

namespace {

// One health check: TCP connect (and TLS handshake), and for kModels GET {base}/models with the
// provider's key. Spends no tokens.
Task<AttemptResult> check_provider(UpstreamPool& pool, const config::HealthCheckConfig& hc) {
  CancelState cancel;
  const auto deadline = Clock::now() + hc.timeout;
  Timer guard(co_await asio::this_coro::executor, deadline);
  guard.async_wait([&cancel](error_code ec) {
    if (!ec) cancel.cancel();
  });
  auto lease = co_await pool.acquire(deadline, cancel);
  if (!lease) {
    guard.cancel();
    co_return AttemptResult::kFailure;
  }
  auto c = std::move(*lease);
  cancel.active = c.get();
  auto result = AttemptResult::kSuccess;
  if (hc.kind == config::HealthCheckConfig::Kind::kModels) {
    const auto request = pool.request_head("GET", "/models", "application/json") + "\r\n";
    auto [wec, wn] = co_await c->visit(
        [&](auto& s) { return asio::async_write(s, asio::buffer(request), kUseTuple); });
    http::response_parser<http::string_body> parser;
    parser.body_limit(4 * 1024 * 1024);
    error_code rec = wec;
    if (!wec) {
      std::tie(rec, wn) = co_await c->visit(
          [&](auto& s) { return http::async_read(s, c->buffer, parser, kUseTuple); });
    }
    if (rec) {
      result = AttemptResult::kFailure;
    } else {
      const int status = static_cast<int>(parser.get().result_int());
      result = status >= 200 && status < 300 ? AttemptResult::kSuccess : status_verdict(status);
      if (result == AttemptResult::kNeutral || result == AttemptResult::kRateLimited) {
        // 404 (no /models route) or 429: the upstream answered, which is what a check can tell.
        result = AttemptResult::kSuccess;
      }
    }
  }
  guard.cancel();
  cancel.active = nullptr;
  pool.release(std::move(c), false);
  co_return result;
}

}  // namespace

// ---- Server

Server::Server(std::shared_ptr<const config::Config> config, std::string config_path)
    : config_path_(std::move(config_path)), control_(std::make_unique<Control>()) {
  int n = config->server.threads;
  if (n <= 0) n = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  metrics_ = std::make_unique<observability::Metrics>(n);
  std::random_device rd;
  const std::uint64_t salt = (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
  for (int i = 0; i < n; ++i) {
    auto loop = std::make_unique<Loop>();
    loop->server = this;
    loop->metrics = metrics_.get();
    loop->index = i;
    loop->id_salt = salt & 0x00ffffffffffffffULL;
    loop->random = base::Random((static_cast<std::uint64_t>(rd()) << 32) ^ rd() ^ salt);
    loops_.push_back(std::move(loop));
  }
  // The first version; the loops are not running yet, so it is installed directly.
  auto applied = apply(std::move(config));
  if (!applied) throw std::runtime_error(applied.error().message);
}

Server::~Server() {
  stop();
  wait();
}

std::shared_ptr<const Snapshot> Server::snapshot() const {
  std::lock_guard lock(mu_);
  return current_snapshot_;
}

base::Result<std::uint64_t> Server::apply(std::shared_ptr<const config::Config> config) {
  std::lock_guard lock(mu_);
  return apply_locked(std::move(config),
                      history_.empty() ? std::nullopt : std::optional<std::size_t>(current_));
}

base::Result<std::uint64_t> Server::apply_locked(std::shared_ptr<const config::Config> config,
                                                 std::optional<std::size_t> previous) {
  auto routes = metrics_->add_routes(*config);
  if (!routes) return std::move(routes).error();
  auto snap = std::make_shared<Snapshot>();
  snap->router = std::make_shared<routing::Router>(
      config, current_snapshot_ ? current_snapshot_->router.get() : nullptr, Clock::now());
  snap->config = std::move(config);
  snap->routes = std::move(routes).value();
  snap->version = next_version_++;
  history_.push_back(Applied{snap, std::time(nullptr), previous});
  current_ = history_.size() - 1;
  publish(snap);
  return snap->version;
}

void Server::publish(std::shared_ptr<const Snapshot> snap) {
  current_snapshot_ = snap;
  for (auto& loop : loops_) {
    if (threads_.empty()) {
      loop->install(snap);  // not running yet
    } else {
      asio::post(loop->ioc, [l = loop.get(), snap] { l->install(snap); });
    }
  }
  // Health checks follow the new providers.
  asio::post(control_->ioc, [this, snap] { start_health_checks(snap); });
}

void Server::start_health_checks(std::shared_ptr<const Snapshot> snap) {
  const auto generation = ++control_->generation;
  for (std::size_t p = 0; p < snap->config->providers.size(); ++p) {
    const auto& provider = snap->config->providers[p];
    if (provider.health_check.kind == config::HealthCheckConfig::Kind::kOff) continue;
    asio::co_spawn(
        control_->ioc,
        [this, snap, p, generation]() -> Task<void> {
          const auto& checked = snap->config->providers[p];
          UpstreamPool pool(control_->ioc.get_executor(), checked);
          Timer timer(control_->ioc);
          while (!stopping_ && control_->generation == generation) {
            const auto result = co_await check_provider(pool, checked.health_check);
            if (stopping_ || control_->generation != generation) break;
            for (auto* state : snap->router->provider_states(p)) {
              state->health_check(Clock::now(), result, snap->router->settings());
            }
            if (result != AttemptResult::kSuccess) {
              spdlog::warn("health check of provider {} failed", checked.name);
            }
            timer.expires_after(checked.health_check.interval);
            co_await timer.async_wait(kUseTuple);
          }
        },
        asio::detached);
  }
}

base::Result<std::uint64_t> Server::reload() {
  if (config_path_.empty()) {
    return base::make_error(ErrorCode::kBadRequest,
                            "this server was not started from a config file; nothing to reload");
  }
  auto loaded = config::load_config_file(config_path_, config::process_env());
  if (!loaded) {
    spdlog::warn("config reload refused, the running version stays: {}", loaded.error().message);
    return std::move(loaded).error();
  }
  auto config = std::move(loaded).value();
  {
    // Listeners and threads are fixed at start: the running values stay.
    auto current = snapshot();
    const auto& running = current->config->server;
    if (config.server.host != running.host || config.server.port != running.port ||
        config.server.threads != running.threads) {
      spdlog::warn("config reload: server.listen and server.threads apply at the next start");
    }
    config.server.host = running.host;
    config.server.port = running.port;
    config.server.threads = running.threads;
  }
  auto version = apply(std::make_shared<const config::Config>(std::move(config)));
  if (version) spdlog::info("configuration version {} applied from {}", *version, config_path_);
  return version;
}

base::Result<std::uint64_t> Server::rollback() {
  std::lock_guard lock(mu_);
  const auto target = history_[current_].previous;
  if (!target) {
    return base::make_error(ErrorCode::kConflict,
                            "there is no earlier configuration version to roll back to");
  }
  // The earlier config is applied as a new version whose predecessor is the earlier one's, so
  // rolling back again steps further back.
  auto version = apply_locked(history_[*target].snapshot->config, history_[*target].previous);
  if (version) {
    spdlog::info("rolled back to the configuration of version {} (now version {})",
                 history_[*target].snapshot->version, *version);
  }
  return version;
}

std::vector<Server::Version> Server::versions() const {
  std::lock_guard lock(mu_);
  std::vector<Version> out;
  for (std::size_t i = 0; i < history_.size(); ++i) {
    out.push_back(Version{history_[i].snapshot->version, history_[i].snapshot->config->source,
                          history_[i].applied_at, i == current_});
  }
  return out;
}

void Server::Loop::install(std::shared_ptr<const Snapshot> snap) {
  auto next = std::make_shared<LoopView>();
  const auto& config = *snap->config;
  for (const auto& p : config.providers) {
    std::shared_ptr<UpstreamPool> pool;
    if (view) {
      for (const auto& old : view->pools) {
        if (same_connection(old->provider(), p)) pool = old;
      }
    }
    if (!pool) pool = std::make_shared<UpstreamPool>(ioc.get_executor(), p);
    next->chat_heads_json.push_back(
        pool->request_head("POST", "/chat/completions", "application/json"));
    next->chat_heads_sse.push_back(
        pool->request_head("POST", "/chat/completions", "text/event-stream"));
    next->pools.push_back(std::move(pool));
  }
  for (const auto& k : config.server.api_keys) next->key_digests.push_back(sha256(k));
  if (!config.server.master_key.empty()) next->master_digest = sha256(config.server.master_key);
  next->snap = std::move(snap);
  view = std::move(next);
}

void Server::start() {
  const auto current = snapshot();
  const auto& s = current->config->server;
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
  control_->work.emplace(control_->ioc.get_executor());
  control_->thread = std::thread([c = control_.get()] { c->ioc.run(); });
}

void Server::stop() {
  if (stopping_.exchange(true)) return;
  for (auto& loop : loops_) {
    asio::post(loop->ioc, [l = loop.get()] {
      l->stopping = true;
      error_code ec;
      if (l->acceptor) l->acceptor->close(ec);
      for (auto* s : l->sessions) s->shutdown();
      for (auto& p : l->view->pools) p->close_all();
      // Requests in flight may finish within the drain timeout; then the loop stops.
      l->drain_timer.emplace(l->ioc, l->view->config().server.drain_timeout);
      l->drain_timer->async_wait([l](error_code e) {
        if (!e) l->ioc.stop();
      });
      if (l->sessions.empty()) l->ioc.stop();  // otherwise the last session to end stops it
    });
  }
  control_->work.reset();
  control_->ioc.stop();
}

void Server::wait() {
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
  if (control_->thread.joinable()) control_->thread.join();
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
  if (view) {
    for (auto& p : view->pools) p->close_all();
  }
  ioc.restart();
  ioc.run();
}

}  // namespace shepherd::net
