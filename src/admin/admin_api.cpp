#include "admin/admin_api.hpp"

#include <spdlog/spdlog.h>

namespace shepherd::admin {

using base::ErrorCode;
namespace asio = net::asio;

namespace {

struct Answer {
  int status = 200;
  std::string body;
};

Task<void> respond_error(Exchange& ex, const base::Error& e) {
  return pipeline::respond_error(ex.conn, ingress::default_dialect(), e, ex.request_id,
                                 ex.write_timeout);
}

Task<void> respond_json(Exchange& ex, int status, std::string_view body) {
  return ex.conn.respond(status, "application/json", body, {}, ex.write_timeout);
}

// Reading and validating a config file happens on the control thread, never on an event loop.
Task<Answer> run_on_control(ConfigControl& control, bool reload) {
  auto [e, answer] = co_await asio::co_spawn(
      control.control_executor(),
      [&control, reload]() -> Task<Answer> {
        auto result = reload ? control.reload() : control.rollback();
        if (!result) {
          co_return Answer{base::http_status(result.error()),
                           ingress::default_dialect().error_body(result.error())};
        }
        co_return Answer{200, applied_body(*result)};
      },
      net::kUseTuple);
  if (e) {
    answer = Answer{500, ingress::default_dialect().error_body(
                             base::make_error(ErrorCode::kInternal, "reload failed"))};
  }
  co_return answer;
}

}  // namespace

Task<void> serve_admin(Exchange ex, const net::Request& request, std::string_view target,
                       ConfigControl& control) {
  if (!ex.view.keys.master) {
    co_await respond_error(ex, base::make_error(ErrorCode::kForbidden,
                                                "the admin API is disabled; set "
                                                "server.master_key to enable it"));
    co_return;
  }
  if (!auth::bearer_matches(request.authorization, std::span(&*ex.view.keys.master, 1))) {
    co_await respond_error(
        ex, base::make_error(ErrorCode::kUnauthorized,
                             "admin routes need the master key: send Authorization: Bearer "
                             "<server.master_key>"));
    co_return;
  }
  auto route = parse_route(request.method_string, target);
  if (!route) {
    co_await respond_error(ex, route.error());
    co_return;
  }
  const auto now = Clock::now();
  const auto& router = ex.view.router();
  switch (route->kind) {
    case Route::Kind::kWrongMethod:
      co_await pipeline::respond_wrong_method(ex.conn, ingress::default_dialect(), target,
                                              route->allow, ex.write_timeout);
      co_return;
    case Route::Kind::kDeployments:
      co_await respond_json(ex, 200, router.deployments_json(now));
      co_return;
    case Route::Kind::kDrain:
    case Route::Kind::kEnable: {
      const auto& id = route->deployment;
      const auto at = ex.view.config().find_deployment(id);
      if (!at) {
        co_await respond_error(
            ex, base::make_error(ErrorCode::kNotFound, "no deployment '" + utf8_safe(id) +
                                                           "'; GET /admin/deployments lists them"));
        co_return;
      }
      const bool drain = route->kind == Route::Kind::kDrain;
      auto& state = router.state(at->first, at->second);
      state.set_drained(drain);
      spdlog::info("deployment {} {} through the admin API", id, drain ? "drained" : "enabled");
      const auto body =
          string_members_body({{"id", id}, {"state", state.report(now).availability}});
      co_await respond_json(ex, 200, body);
      co_return;
    }
    case Route::Kind::kReload:
    case Route::Kind::kRollback: {
      const auto answer = co_await run_on_control(control, route->kind == Route::Kind::kReload);
      co_await respond_json(ex, answer.status, answer.body);
      co_return;
    }
    case Route::Kind::kConfig: {
      const auto body = versions_body(ex.view.snap->version, control.versions());
      co_await respond_json(ex, 200, body);
      co_return;
    }
    case Route::Kind::kKeyCreate:
    case Route::Kind::kKeyList:
    case Route::Kind::kKeyShow:
    case Route::Kind::kKeyUpdate:
    case Route::Kind::kKeyRevoke:
    case Route::Kind::kRequests:
    case Route::Kind::kSpend:
      co_await serve_store_route(ex, *route, request, control.governance());
      co_return;
  }
}

}  // namespace shepherd::admin
