// One client connection: read a request, dispatch it by path, answer, repeat while the
// connection is kept alive.
#include "base/clock.hpp"
#include "ingress/anthropic_messages.hpp"
#include "pipeline/stages.hpp"
#include "server/loop.hpp"
#include "ui/files.hpp"

namespace shepherd::server {

using base::ErrorCode;
using net::Task;
namespace http = net::http;

namespace {

// CORS response headers for the request's Origin, appended to `out`: an allowed origin is echoed
// (with credentials when configured); "*" allows any origin, never with credentials. Returns
// whether the origin is allowed.
bool append_cors(const config::ServerConfig& server, std::string_view origin, std::string& out) {
  if (origin.empty()) return false;
  bool allowed = false, wildcard = false;
  for (const auto& o : server.cors_origins) {
    if (o == "*") wildcard = true;
    if (o == origin) allowed = true;
  }
  if (!allowed && !wildcard) return false;
  if (allowed) {
    out.append("Access-Control-Allow-Origin: ").append(origin).append("\r\nVary: Origin\r\n");
    if (server.cors_credentials) out.append("Access-Control-Allow-Credentials: true\r\n");
  } else {
    out.append("Access-Control-Allow-Origin: *\r\n");
  }
  out.append(
      "Access-Control-Expose-Headers: X-Request-Id, X-Shepherd-Request-Id, Retry-After, "
      "X-Shepherd-Deployment, "
      "X-Shepherd-Attempts, X-Shepherd-Model, X-Shepherd-Hedged, X-Shepherd-Cost\r\n");
  return true;
}

// The error a request that could not be read gets, or nullopt when the client just left.
std::optional<base::Error> read_error(const net::ReadResult& r, const config::ServerConfig& s) {
  switch (r.status) {
    case net::ReadStatus::kRequest:
    case net::ReadStatus::kClosed:
      return std::nullopt;
    case net::ReadStatus::kTimeout:
      return base::make_error(ErrorCode::kRequestTimeout,
                              "the request was not received in time; send it faster");
    case net::ReadStatus::kHeadersTooLarge:
      return base::make_error(
          ErrorCode::kHeadersTooLarge,
          "request headers exceed the limit of " + std::to_string(s.max_header_bytes) + " bytes");
    case net::ReadStatus::kBodyTooLarge:
      return base::make_error(
          ErrorCode::kPayloadTooLarge,
          "the request body exceeds the limit of " + std::to_string(s.max_body_bytes) + " bytes");
    case net::ReadStatus::kMalformed:
      return base::make_error(ErrorCode::kBadRequest, "malformed HTTP request: " + r.detail);
  }
  return std::nullopt;
}

}  // namespace

bool is_probe(std::string_view target) {
  return target == "/health" || target == "/health/ready" || target == "/metrics" ||
         target == "/stats";
}

Task<void> serve_probe(Server::Loop& loop, pipeline::RequestContext& rc,
                       const net::Request& request, std::string_view target,
                       std::string_view extra_metrics) {
  admin::Exchange ex{rc.conn, *rc.view, rc.request_id, rc.write_timeout()};
  if (request.method != http::verb::get) {
    co_return co_await pipeline::respond_wrong_method(rc.conn, rc.dialect, target, "GET",
                                                      ex.write_timeout);
  }
  if (target == "/health") co_return co_await admin::serve_health(ex);
  const auto& keys = ex.view.keys;
  if (!keys.metrics_open && (target == "/metrics" || target == "/stats") &&
      !auth::bearer_matches(request.authorization, keys.metrics)) {
    const auto error =
        base::make_error(base::ErrorCode::kUnauthorized,
                         "this route needs a key: send Authorization: Bearer <server.master_key or "
                         "server.metrics_token>");
    co_return co_await pipeline::respond_error(rc.conn, rc.dialect, error, rc.request_id,
                                               ex.write_timeout);
  }
  if (target == "/health/ready") {
    co_return co_await admin::serve_ready(ex, loop.context.connections.stopping());
  }
  if (target == "/metrics") {
    std::string extra(extra_metrics);
    extra += loop.server.connection_metrics();
    if (const auto* spans = loop.context.spans) extra += spans->prometheus_text();
    co_return co_await admin::serve_metrics(ex, loop.context.metrics, loop.server.governance(),
                                            extra);
  }
  co_await admin::serve_stats(ex, loop.context.metrics);
}

namespace {

// GET (or HEAD) of one of the web UI's files; `path` is relative to the UI's root.
Task<void> serve_ui_file(pipeline::RequestContext& rc, const net::Request& request,
                         std::string_view path) {
  auto& conn = rc.conn;
  const auto timeout = rc.write_timeout();
  const bool head = request.method == http::verb::head;
  if (request.method != http::verb::get && !head) {
    co_return co_await pipeline::respond_wrong_method(conn, rc.dialect, request.path(), "GET",
                                                      timeout);
  }
  auto file = ui::answer_file(path, request.if_none_match, request.accepts_gzip);
  if (!file) {
    co_return co_await pipeline::respond_error(
        conn, rc.dialect,
        base::make_error(ErrorCode::kNotFound,
                         "no file " + std::string(request.path()) + " in the web UI; open /ui/"),
        rc.request_id, timeout);
  }
  // A 304 or a HEAD: the head alone, with the length of what a GET would get.
  const auto h = conn.head(file->status, file->content_type, file->body.size(), file->headers);
  co_await conn.write(h, head || file->status == 304 ? std::string_view{} : file->body, timeout);
}

// Every route but a dialect's: probes, preflight, the model list, the admin API.
Task<void> dispatch(Server::Loop& loop, pipeline::RequestContext& rc, net::Request& request,
                    std::string_view target, bool cors_allowed) {
  auto& conn = rc.conn;
  const auto& view = *rc.view;
  const auto timeout = rc.write_timeout();
  const auto& dialect = ingress::default_dialect();
  admin::Exchange ex{conn, view, rc.request_id, timeout};
  const auto method = request.method;
  auto wrong_method = [&](std::string_view allow) {
    return pipeline::respond_wrong_method(conn, dialect, target, allow, timeout);
  };
  auto respond_error = [&](const base::Error& e) {
    return pipeline::respond_error(conn, dialect, e, rc.request_id, timeout);
  };

  if (method == http::verb::options) {
    if (!cors_allowed) {
      co_await respond_error(base::make_error(
          ErrorCode::kForbidden, "this origin is not allowed; add it to server.cors.origins"));
      co_return;
    }
    std::string extra = "Access-Control-Allow-Methods: GET, POST, OPTIONS\r\n";
    const std::string_view requested = request.access_control_request_headers;
    extra.append("Access-Control-Allow-Headers: ")
        .append(requested.empty() ? "Authorization, Content-Type" : requested)
        .append("\r\nAccess-Control-Max-Age: 600\r\n");
    co_await conn.respond(204, "text/plain", "", extra, timeout);
    co_return;
  }
  const bool get = method == http::verb::get;
  if (is_probe(target)) co_return co_await serve_probe(loop, rc, request, target);
  if (target.starts_with("/admin/")) {
    co_await admin::serve_admin(ex, request, target, loop.server);
    co_return;
  }
  if (target == "/v1/usage") {
    if (!get) co_return co_await wrong_method("GET");
    co_return co_await admin::serve_usage(ex, request, loop.context);
  }
  if (target == "/v1/models" || target == "/models") {
    // Anthropic's SDKs list models at the same path; their anthropic-version header asks for
    // Anthropic's shape (and its error shape).
    const bool anthropic = request.anthropic_version;
    const auto& models_dialect = anthropic ? ingress::anthropic_dialect() : dialect;
    if (auto caller = pipeline::identify(view, loop.context.keys.get(), request); !caller) {
      co_await pipeline::respond_error(conn, models_dialect, caller.error(), rc.request_id,
                                       timeout);
      co_return;
    }
    if (!get) {
      co_return co_await pipeline::respond_wrong_method(conn, models_dialect, target, "GET",
                                                        timeout);
    }
    std::vector<std::string> names;
    for (const auto& m : view.config().models) names.push_back(m.name);
    // Built outside the co_await: GCC 12 frees a conditional's temporary twice inside one.
    std::string body;
    if (anthropic) {
      body = ingress::anthropic_models_body(names);
    } else {
      body = api::models_body(names, 1700000000);
    }
    co_await conn.respond(200, "application/json", body, {}, timeout);
    co_return;
  }
  co_await respond_error(base::make_error(
      ErrorCode::kNotFound,
      "no route for " + std::string(target) +
          "; the API is at /v1/chat/completions, /v1/messages, /v1/responses, /v1/completions, "
          "/v1/embeddings, /v1/models and /v1/usage"));
}

}  // namespace

namespace {

// A committed stream that serve_requests() handed over: the stream to its end and its record,
// then the connection's next requests. It owns the request, so that an open stream keeps only
// this frame and the stream's own, not those of the stages that led to it.
Task<void> stream_on(Server::Loop& loop, std::shared_ptr<net::ClientConnection> conn,
                     std::unique_ptr<pipeline::RequestContext> rc, RouteRequest route,
                     AnswerRequest answer) {
  co_await pipeline::continue_stream(*rc);
  rc.reset();
  if (!conn->wants_requests()) {
    conn->close();
    co_return;
  }
  co_await serve_requests(loop, std::move(conn), route, answer);
}

}  // namespace

Task<void> serve_requests(Server::Loop& loop, std::shared_ptr<net::ClientConnection> conn,
                          RouteRequest route, AnswerRequest answer) {
  auto& context = loop.context;
  net::Request request;  // reused: its strings keep their capacity from request to request
  while (conn->wants_requests()) {
    const auto& server = context.view->config().server;
    const net::ReadLimits limits{server.max_header_bytes, server.max_body_bytes,
                                 server.keepalive_timeout, server.request_timeout};
    const auto read = co_await conn->read_request(request, limits);
    // The request uses the snapshot current when it arrived, to its end.
    auto view = context.view;
    const auto routed =
        read.status == net::ReadStatus::kRequest && request.method != http::verb::options
            ? route(request)
            : Routed{};
    // On the heap: a committed stream takes it along (stream_on).
    auto owned = std::make_unique<pipeline::RequestContext>(context, *conn, std::move(view),
                                                            *routed.dialect);
    auto& rc = *owned;
    const auto error = read_error(read, rc.config().server);
    if (read.status != net::ReadStatus::kRequest && !error) break;  // the client left
    const auto arrived_us = base::unix_us();
    rc.arrived_ms = arrived_us / 1000;
    rc.request_id = pipeline::new_request_id(context, arrived_us);
    auto& headers = conn->request_headers();
    // A client's own well-formed id is adopted: it comes back as X-Request-Id and names the
    // request in the logs; Shepherd's (the audit record's key) then comes as
    // X-Shepherd-Request-Id.
    if (!error && pipeline::well_formed_request_id(request.request_id)) {
      rc.client_request_id = request.request_id;
      headers.append("X-Request-Id: ").append(rc.client_request_id).append("\r\n");
      headers.append("X-Shepherd-Request-Id: ").append(rc.request_id).append("\r\n");
    } else {
      headers.append("X-Request-Id: ").append(rc.request_id).append("\r\n");
    }
    if (error) {
      co_await pipeline::respond_error(*conn, rc.dialect, *error, rc.request_id,
                                       rc.write_timeout());
      break;
    }
    co_await answer(loop, rc, request, routed.kind);
    if (rc.stream) {
      // Started here (dispatched: it runs at once, up to its first wait); this frame ends.
      net::asio::co_spawn(loop.ioc, stream_on(loop, conn, std::move(owned), route, answer),
                          net::asio::detached);
      co_return;
    }
    if (conn->write_failed()) break;
  }
  conn->close();
}

namespace {

enum ApiRoute : int { kOther, kChat, kCountTokens, kUiRedirect, kUiFile };

Routed route_api(const net::Request& request) {
  const std::string_view target = request.path();
  if (const auto* dialect = ingress::find_dialect(target)) return {dialect, kChat};
  if (target == "/v1/messages/count_tokens") return {&ingress::anthropic_dialect(), kCountTokens};
  if (target == "/ui") return {&ingress::default_dialect(), kUiRedirect};
  if (target.starts_with("/ui/")) return {&ingress::default_dialect(), kUiFile};
  return {};
}

// The UI's own listener: the UI at / (its files at the root), the API's routes otherwise.
Routed route_ui(const net::Request& request) {
  const std::string_view target = request.path();
  if (target == "/" || ui::is_root_file(target)) return {&ingress::default_dialect(), kUiFile};
  return route_api(request);
}

// Not a coroutine: it picks the coroutine that answers and returns it, so a request (and an
// open stream) carries one frame fewer. Every argument outlives the returned task.
Task<void> answer_api(Server::Loop& loop, pipeline::RequestContext& rc, net::Request& request,
                      int kind) {
  const bool cors_allowed =
      append_cors(rc.config().server, request.origin, rc.conn.request_headers());
  switch (kind) {
    case kChat:
      rc.detach_streams = true;  // serve_requests() hands a committed stream over
      return pipeline::serve_chat(rc, request);
    case kCountTokens:
      return pipeline::serve_count_tokens(rc, request);
    case kUiRedirect:
      // Relative links in the page resolve against /ui/.
      return rc.conn.respond(308, "text/plain", "the web UI is at /ui/\n", "Location: /ui/\r\n",
                             rc.write_timeout());
    case kUiFile: {
      auto path = request.path();
      if (path.starts_with("/ui/")) path.remove_prefix(4);
      return serve_ui_file(rc, request, path);
    }
    default:
      return dispatch(loop, rc, request, request.path(), cors_allowed);
  }
}

}  // namespace

Task<void> serve_connection(Server::Loop& loop, std::shared_ptr<net::ClientConnection> conn) {
  return serve_requests(loop, std::move(conn), route_api, answer_api);
}

Task<void> serve_ui_connection(Server::Loop& loop, std::shared_ptr<net::ClientConnection> conn) {
  return serve_requests(loop, std::move(conn), route_ui, answer_api);
}

Task<void> serve_refused(Server::Loop& loop, std::shared_ptr<net::ClientConnection> conn,
                         net::ConnectionLimits::Refusal why) {
  using namespace std::chrono_literals;
  // Read first: closing with the request unread would reset the connection before the client
  // reads the answer.
  net::Request request;
  const net::ReadLimits limits{16 * 1024, 64 * 1024, 1s, 1s};
  const auto read = co_await conn->read_request(request, limits);
  conn->close_after_answer();
  if (read.status != net::ReadStatus::kClosed) {
    const auto& limits_now = loop.server.connection_limits();
    std::string message;
    if (why == net::ConnectionLimits::Refusal::kPerClient) {
      message =
          "too many connections from your address (server.limits."
          "max_connections_per_client is " +
          std::to_string(limits_now.max_per_client()) +
          "); reuse a kept-alive connection, or retry after 1 second";
    } else {
      message = "Shepherd is at its connection limit (" + std::to_string(limits_now.max_total()) +
                " open); retry after 1 second";
    }
    auto error = base::make_error(ErrorCode::kUnavailable, std::move(message));
    error.retry_after = 1;
    const auto* dialect = ingress::find_dialect(request.path());
    co_await pipeline::respond_error(*conn, dialect ? *dialect : ingress::default_dialect(), error,
                                     pipeline::new_request_id(loop.context, base::unix_us()), 1s);
  }
  conn->close();
}

}  // namespace shepherd::server
