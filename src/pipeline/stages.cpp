#include "pipeline/stages.hpp"

#include <spdlog/spdlog.h>

#include "ingress/anthropic_messages.hpp"

namespace shepherd::pipeline {

using base::Error;
using base::ErrorCode;

base::Result<Caller> identify(const LoopView& view, const net::Request& request) {
  const auto& keys = view.keys.api_keys;
  if (keys.empty()) return Caller{};  // open mode, announced at start-up
  const std::string_view authorization = request.authorization;
  // Anthropic clients send their key as x-api-key; either header may carry it.
  const std::string_view api_key = request.api_key;
  if (!authorization.empty()) {
    if (const auto key = auth::matching_key(authorization, keys)) {
      return Caller{static_cast<int>(*key)};
    }
  }
  if (!api_key.empty()) {
    if (const auto key = auth::matching_token(api_key, keys)) return Caller{static_cast<int>(*key)};
  }
  if (authorization.empty() && api_key.empty()) {
    return base::make_error(ErrorCode::kUnauthorized,
                            "missing API key: send the header Authorization: Bearer <key> (or "
                            "x-api-key: <key>)");
  }
  return base::make_error(ErrorCode::kUnauthorized,
                          authorization.empty()
                              ? "invalid API key: check the key in your x-api-key header"
                              : "invalid API key: check the key in your Authorization: Bearer "
                                "header");
}

namespace {

base::Result<std::size_t> resolve(const config::Config& config, const std::string& name) {
  const auto* model = config.find_model(name);
  if (!model) {
    auto e = base::make_error(
        ErrorCode::kModelNotFound,
        "the model '" + name + "' does not exist; available models: " +
            (config.models.empty() ? std::string("none (configure models in the config file)")
                                   : config.model_names()));
    e.param = "model";
    return e;
  }
  return static_cast<std::size_t>(model - config.models.data());
}

}  // namespace

base::Status parse_and_resolve(RequestContext& rc) {
  const auto& config = rc.config();
  auto parsed = rc.dialect.parse(rc.body, config.server.max_json_depth);
  if (!parsed) return std::move(parsed).error();
  auto model = resolve(config, parsed->model);
  if (!model) return std::move(model).error();
  rc.chat = std::move(parsed).value();
  rc.model_index = *model;
  return base::Ok{};
}

base::Status admit(RequestContext& rc, const Caller& /*caller*/) {
  rc.shape.stream = rc.chat.stream;
  rc.shape.tokens =
      static_cast<double>(rc.body.size()) / 4 + static_cast<double>(rc.chat.max_tokens.value_or(0));
  return base::Ok{};
}

void record(RequestContext& rc, Clock::time_point started) {
  rc.outcome.latency = Clock::now() - started;
  if (rc.loop.metrics.record(rc.loop.index, rc.route, rc.outcome) && rc.served) {
    spdlog::warn(
        "deployment '{}' has no price: its traffic counts as costing nothing "
        "(shepherd_unpriced_requests_total counts it); set price.input and price.output",
        rc.served->id);
  }
}

Task<void> serve_chat(RequestContext& rc, net::Request& request) {
  const auto started = Clock::now();
  auto caller = identify(*rc.view, request);
  if (!caller) {
    rc.outcome.status = 401;
    record(rc, started);
    co_await respond_error(rc.conn, rc.dialect, caller.error(), rc.request_id, rc.write_timeout());
    co_return;
  }
  if (request.method != net::http::verb::post) {
    co_await respond_wrong_method(rc.conn, rc.dialect, request.path(), "POST", rc.write_timeout());
    co_return;
  }
  rc.body.swap(request.body);  // the connection's buffer comes back empty, not freed
  auto status = parse_and_resolve(rc);
  if (status) status = admit(rc, *caller);
  if (status) {
    co_await relay(rc);
  } else {
    rc.outcome.status = base::http_status(status.error());
    co_await respond_error(rc.conn, rc.dialect, status.error(), rc.request_id, rc.write_timeout());
  }
  record(rc, started);
}

}  // namespace shepherd::pipeline

namespace shepherd::pipeline {

Task<void> serve_count_tokens(RequestContext& rc, net::Request& request) {
  auto caller = identify(*rc.view, request);
  if (!caller) {
    co_await respond_error(rc.conn, rc.dialect, caller.error(), rc.request_id, rc.write_timeout());
    co_return;
  }
  if (request.method != net::http::verb::post) {
    co_await respond_wrong_method(rc.conn, rc.dialect, request.path(), "POST", rc.write_timeout());
    co_return;
  }
  auto decoded = rc.dialect.codec().decode_request(request.body, rc.config().server.max_json_depth);
  base::Status status = base::Ok{};
  if (!decoded) {
    status = std::move(decoded).error();
  } else if (auto model = resolve(rc.config(), decoded->model); !model) {
    status = std::move(model).error();
  }
  if (!status) {
    co_await respond_error(rc.conn, rc.dialect, status.error(), rc.request_id, rc.write_timeout());
    co_return;
  }
  co_await rc.conn.respond(200, "application/json",
                           ingress::count_tokens_body(translate::estimate_tokens(*decoded)), {},
                           rc.write_timeout());
}

}  // namespace shepherd::pipeline
