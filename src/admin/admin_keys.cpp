// The admin routes over the store: virtual keys, the audit log and spend. Every store call runs
// on the governance's query thread; the handler awaits it and answers from its event loop.
#include <spdlog/spdlog.h>

#include <boost/json.hpp>
#include <chrono>

#include "admin/admin_api.hpp"
#include "admin/keys_json.hpp"
#include "api/json_text.hpp"
#include "base/clock.hpp"
#include "governance/key_ops.hpp"
#include "pipeline/stages.hpp"

namespace shepherd::admin {

using base::ErrorCode;
using storage::Store;

namespace {

struct Answer {
  int status = 200;
  std::string body;
};

// Built before the co_await that runs it: a temporary inside a co_await expression is freed
// twice by GCC 12.
using QueryWork = std::function<Answer(Store&)>;

Answer error_answer(const base::Error& e) {
  return Answer{base::http_status(e), ingress::default_dialect().error_body(e)};
}

}  // namespace

Task<void> serve_store_route(Exchange ex, const Route& route, const net::Request& request,
                             governance::Governance& gov) {
  const auto query = std::string_view(request.target).substr(request.path().size());
  const auto params = query.empty() ? query : query.substr(1);
  const int depth = ex.view.config().server.max_json_depth;
  const bool virtual_keys = ex.view.keys.hasher != nullptr;
  const bool key_route =
      route.kind == Route::Kind::kKeyCreate || route.kind == Route::Kind::kKeyList ||
      route.kind == Route::Kind::kKeyShow || route.kind == Route::Kind::kKeyUpdate ||
      route.kind == Route::Kind::kKeyRevoke;
  Answer answer;
  QueryWork work;  // set by the routes that need the store
  if (key_route && !virtual_keys) {
    answer = error_answer(base::make_error(
        ErrorCode::kConflict,
        "virtual keys are off: set keys.secret (env:NAME or file:PATH, at least 16 characters) "
        "in the config and restart"));
  } else {
    switch (route.kind) {
      case Route::Kind::kKeyCreate: {
        auto changes = parse_key_changes(request.body, true, depth);
        if (!changes) {
          answer = error_answer(changes.error());
          break;
        }
        const auto hasher = ex.view.keys.hasher;
        work = [&gov, c = *changes, hasher](Store& store) {
          auto created = governance::create_key(store, *hasher, c);
          if (!created) return error_answer(created.error());
          gov.refresh_keys();
          const auto& key = created->key;
          spdlog::info("key {} ('{}') created through the admin API", key.id, key.name);
          std::optional<double> spent;
          if (key.budget) spent = 0.0;
          return Answer{201, key_body(key, &created->secret, spent)};
        };
        break;
      }
      case Route::Kind::kKeyList:
        work = [](Store& store) {
          auto keys = store.keys();
          if (!keys) return error_answer(keys.error());
          return Answer{200, keys_body(*keys)};
        };
        break;
      case Route::Kind::kKeyShow:
        work = [id = route.key](Store& store) {
          auto key = governance::find_key(store, id);
          if (!key) return error_answer(key.error());
          return Answer{200, key_body(*key, nullptr, governance::period_spend(store, *key))};
        };
        break;
      case Route::Kind::kKeyUpdate:
      case Route::Kind::kKeyRevoke: {
        std::optional<KeyChanges> changes;
        if (route.kind == Route::Kind::kKeyUpdate) {
          auto parsed = parse_key_changes(request.body, false, depth);
          if (!parsed) {
            answer = error_answer(parsed.error());
            break;
          }
          changes = std::move(parsed).value();
        }
        work = [&gov, id = route.key, changes](Store& store) {
          auto key = governance::change_key(store, id, changes);
          if (!key) return error_answer(key.error());
          gov.refresh_keys();
          spdlog::info("key {} ('{}') {} through the admin API", key->id, key->name,
                       changes ? "updated" : "revoked");
          return Answer{200, key_body(*key, nullptr, governance::period_spend(store, *key))};
        };
        break;
      }
      case Route::Kind::kRequests: {
        auto filter = parse_audit_query(params);
        if (!filter) {
          answer = error_answer(filter.error());
          break;
        }
        work = [f = *filter](Store& store) {
          auto records = store.requests(f);
          if (!records) return error_answer(records.error());
          return Answer{200, requests_body(*records)};
        };
        break;
      }
      case Route::Kind::kSpend: {
        auto q = parse_spend_query(params);
        if (!q) {
          answer = error_answer(q.error());
          break;
        }
        work = [q = *q](Store& store) {
          const auto now = base::unix_ms();
          const auto since = q.since.value_or(now - 30LL * 86'400'000);
          auto rows = store.spend(q.by, since, q.until);
          if (!rows) return error_answer(rows.error());
          auto shown = q;
          shown.since = since;
          return Answer{200, spend_body(shown, *rows, now)};
        };
        break;
      }
      default:
        answer = error_answer(base::make_error(ErrorCode::kInternal, "not a store route"));
        break;
    }
  }
  if (work) answer = co_await gov.query<Answer>(std::move(work));
  const int status = answer.status;
  co_await ex.conn.respond(status, "application/json", answer.body, {}, ex.write_timeout);
}

}  // namespace shepherd::admin

namespace shepherd::admin {

Task<void> serve_usage(Exchange ex, const net::Request& request, pipeline::LoopContext& loop) {
  auto caller = pipeline::identify(ex.view, loop.keys.get(), request);
  if (!caller) {
    co_await pipeline::respond_error(ex.conn, ingress::default_dialect(), caller.error(),
                                     ex.request_id, ex.write_timeout);
    co_return;
  }
  boost::json::object o;
  o["object"] = "usage";
  const auto* key = caller->key;
  if (!key) {
    o["key"] =
        caller->key_index >= 0 ? "static:" + std::to_string(caller->key_index) : std::string();
    o["models"] = "all";
    o["budget"] = nullptr;
  } else {
    o["key"] = key->id;
    o["name"] = utf8_safe(key->name);
    boost::json::array models;
    for (const auto& m : key->models) models.emplace_back(utf8_safe(m));
    o["models"] = key->models.empty() ? boost::json::value("all") : boost::json::value(models);
    auto limit = [](const std::optional<std::int64_t>& v) -> boost::json::value {
      return v ? boost::json::value(*v) : boost::json::value(nullptr);
    };
    o["rpm"] = limit(key->limits.rpm);
    o["tpm"] = limit(key->limits.tpm);
    o["max_parallel"] = limit(key->limits.max_parallel);
    if (const auto& b = key->limits.budget) {
      const auto now = base::unix_ms();
      const auto period = limits::period_start(b->period, now);
      const auto spend = co_await loop.limiter->spend(key->id, period);
      boost::json::object budget;
      budget["usd"] = b->usd;
      const double spent = static_cast<double>(spend.spent) / limits::kMicros;
      const double reserved = static_cast<double>(spend.reserved) / limits::kMicros;
      budget["spent_usd"] = spent;
      budget["reserved_usd"] = reserved;
      budget["remaining_usd"] = std::max(0.0, b->usd - spent - reserved);
      budget["period_start"] = format_time(period);
      if (const auto end = limits::period_end(b->period, now)) {
        budget["period_end"] = format_time(*end);
      }
      o["budget"] = std::move(budget);
    } else {
      o["budget"] = nullptr;
    }
    o["expires_at"] = key->expires_at ? boost::json::value(format_time(*key->expires_at))
                                      : boost::json::value(nullptr);
  }
  const auto body = api::json_text(o);
  co_await ex.conn.respond(200, "application/json", body, {}, ex.write_timeout);
}

}  // namespace shepherd::admin
