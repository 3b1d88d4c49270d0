#include "pipeline/stages.hpp"

#include <spdlog/spdlog.h>

namespace shepherd::pipeline {

using base::Error;
using base::ErrorCode;

base::Result<Caller> identify(const LoopView& view, const net::Request& request) {
  const auto& keys = view.keys.api_keys;
  if (keys.empty()) return Caller{};  // open mode, announced at start-up
  const std::string_view authorization = request.authorization;
  if (const auto key = auth::matching_key(authorization, keys)) {
    return Caller{static_cast<int>(*key)};
  }
  return base::make_error(
      ErrorCode::kUnauthorized,
      authorization.empty()
          ? "missing API key: send the header Authorization: Bearer <key>"
          : "invalid API key: check the key in your Authorization: Bearer header");
}

base::Status parse_and_resolve(RequestContext& rc) {
  const auto& config = rc.config();
  auto parsed = rc.dialect.parse(rc.body, config.server.max_json_depth);
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
  rc.chat = std::move(parsed).value();
  rc.model_index = static_cast<std::size_t>(model - config.models.data());
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
  rc.loop.metrics.record(rc.loop.index, rc.route, rc.outcome);
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
