// `shepherd keys`, `shepherd audit` and `shepherd cost`: the admin API's key, audit and spend
// routes from a shell, on the store the config names (opened directly: no server needs to run;
// a running server sees key changes within keys.refresh).
#include <boost/json.hpp>
#include <cctype>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <iostream>

#include "admin/keys_json.hpp"
#include "app/commands.hpp"
#include "app/table.hpp"
#include "base/clock.hpp"
#include "config/config.hpp"
#include "governance/key_ops.hpp"
#include "storage/store.hpp"

namespace shepherd::app {

namespace {

namespace json = boost::json;

struct Opened {
  config::Config config;
  std::unique_ptr<storage::Store> store;
};

std::optional<Opened> open(const std::string& config_path) {
  std::string path = config_path;
  if (path.empty()) {
    if (const char* env = std::getenv("SHEPHERD_CONFIG"); env && *env) {
      path = env;
    } else if (std::filesystem::exists("shepherd.yaml")) {
      path = "shepherd.yaml";
    }
  }
  Opened o;
  if (!path.empty()) {
    auto loaded = config::load_config_file(path, config::process_env());
    if (!loaded) {
      std::cerr << "shepherd: invalid configuration: " << loaded.error().message << "\n";
      return std::nullopt;
    }
    o.config = std::move(loaded).value();
  }
  auto store = storage::open_store(o.config.storage.url, o.config.storage.base_dir);
  if (!store) {
    std::cerr << "shepherd: storage " << storage::redact_url(o.config.storage.url) << ": "
              << store.error().message << "\n";
    return std::nullopt;
  }
  o.store = std::move(store).value();
  return o;
}

int fail(const base::Error& e) {
  std::cerr << "shepherd: " << e.message << "\n";
  return 1;
}

// The flags of create and update as the JSON body the admin API takes, so both paths validate
// alike. "none" clears a limit, the budget or the expiry.
std::string changes_body(const KeyFlags& f) {
  json::object o;
  auto limit = [&](const char* name, const std::optional<std::string>& v) {
    if (!v) return;
    if (*v == "none") {
      o[name] = nullptr;
      return;
    }
    char* end = nullptr;
    const long long n = std::strtoll(v->c_str(), &end, 10);
    o[name] = (end && *end == '\0' && !v->empty()) ? json::value(n) : json::value(*v);
  };
  if (f.name) o["name"] = *f.name;
  if (f.models) {
    json::array a;
    for (const auto& m : *f.models) {
      if (!m.empty()) a.emplace_back(m);
    }
    o["models"] = std::move(a);
  }
  limit("rpm", f.rpm);
  limit("tpm", f.tpm);
  limit("max_parallel", f.max_parallel);
  if (f.budget_usd) {
    if (*f.budget_usd == "none") {
      o["budget"] = nullptr;
    } else {
      json::object b;
      b["usd"] = std::strtod(f.budget_usd->c_str(), nullptr);
      b["period"] = f.budget_period;
      o["budget"] = std::move(b);
    }
  }
  if (f.expires_at) {
    o["expires_at"] = *f.expires_at == "none" ? json::value(nullptr) : json::value(*f.expires_at);
  }
  if (f.metadata) {
    json::error_code ec;
    auto m = json::parse(*f.metadata, ec);
    o["metadata"] = ec ? json::value(*f.metadata) : std::move(m);
  }
  if (f.log_bodies) o["log_bodies"] = *f.log_bodies;
  return json::serialize(o);
}

// A spend group's row of `shepherd cost`.
std::vector<std::string> money_row(const json::object& g, const std::string& name) {
  auto num = [&](const char* k) { return g.at(k).to_number<double>(); };
  auto count = [&](const char* k) { return thousands(static_cast<long long>(num(k))); };
  const double p99 =
      g.contains("p99_latency_ms") ? num("p99_latency_ms") : num("max_group_p99_latency_ms");
  return {name,
          count("requests"),
          percent(num("error_rate")),
          count("prompt_tokens"),
          count("completion_tokens"),
          money(num("cost_usd")),
          money(num("list_cost_usd")),
          money(num("savings_usd")),
          fixed(num("avg_latency_ms"), 1),
          fixed(p99, 1)};
}

// "2026-11-30 19:44:11" (UTC) for a Unix time in milliseconds.
std::string utc(std::int64_t ms) {
  const std::time_t t = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
  return buf;
}

}  // namespace

std::string query_param(std::string_view name, std::string_view value) {
  std::string out(name);
  out += '=';
  for (const unsigned char c : value) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~' || c == ':') {
      out += static_cast<char>(c);
    } else {
      char hex[4];
      std::snprintf(hex, sizeof hex, "%%%02X", c);
      out += hex;
    }
  }
  return out;
}

int keys_command(const KeysOptions& options) {
  auto o = open(options.config_path);
  if (!o) return 1;
  auto& store = *o->store;
  const int depth = o->config.server.max_json_depth;
  if (options.action == "list") {
    auto keys = store.keys();
    if (!keys) return fail(keys.error());
    std::cout << admin::keys_body(*keys) << "\n";
    return 0;
  }
  if (options.action == "show") {
    auto key = governance::find_key(store, options.id);
    if (!key) return fail(key.error());
    std::cout << admin::key_body(*key, nullptr, governance::period_spend(store, *key)) << "\n";
    return 0;
  }
  if (options.action == "revoke") {
    auto key = governance::change_key(store, options.id, std::nullopt);
    if (!key) return fail(key.error());
    std::cout << admin::key_body(*key) << "\n";
    return 0;
  }
  auto changes =
      admin::parse_key_changes(changes_body(options.flags), options.action == "create", depth);
  if (!changes) return fail(changes.error());
  if (options.action == "create") {
    if (o->config.keys.secret.empty()) {
      std::cerr << "shepherd: virtual keys are off: set keys.secret in the config (env:NAME or "
                   "file:PATH)\n";
      return 1;
    }
    const auth::KeyHasher hasher(o->config.keys.secret);
    auto created = governance::create_key(store, hasher, *changes);
    if (!created) return fail(created.error());
    std::optional<double> spent;
    if (created->key.budget) spent = 0.0;
    std::cout << admin::key_body(created->key, &created->secret, spent) << "\n";
    std::cerr << "The secret is shown this once: store it now.\n";
    return 0;
  }
  auto key = governance::change_key(store, options.id, *changes);
  if (!key) return fail(key.error());
  std::cout << admin::key_body(*key, nullptr, governance::period_spend(store, *key)) << "\n";
  return 0;
}

int audit_command(const AuditOptions& options) {
  auto o = open(options.config_path);
  if (!o) return 1;
  auto filter = admin::parse_audit_query(options.query);
  if (!filter) return fail(filter.error());
  auto records = o->store->requests(*filter);
  if (!records) return fail(records.error());
  if (options.json) {
    std::cout << admin::requests_body(*records) << "\n";
    return 0;
  }
  using A = Table::Align;
  Table table({{"time (UTC)"},
               {"request id"},
               {"key"},
               {"model"},
               {"deployment"},
               {"status", A::kRight},
               {"tries", A::kRight},
               {"prompt", A::kRight},
               {"output", A::kRight},
               {"cost", A::kRight},
               {"ms", A::kRight},
               {"ttft ms", A::kRight},
               {"note"}});
  for (const auto& r : *records) {
    std::string note = r.error_class;
    if (r.streamed) note += note.empty() ? "stream" : ", stream";
    if (r.usage_estimated) note += note.empty() ? "estimated" : ", estimated";
    table.add({utc(r.time), r.request_id, r.key_id.empty() ? "-" : r.key_id, r.model,
               r.deployment.empty() ? "-" : r.deployment, std::to_string(r.status),
               std::to_string(r.attempts), thousands(r.prompt_tokens),
               thousands(r.completion_tokens), money(r.cost_usd),
               fixed(static_cast<double>(r.latency_us) / 1000, 1),
               r.ttft_us ? fixed(static_cast<double>(*r.ttft_us) / 1000, 1) : "-", note});
  }
  if (table.empty()) {
    std::cout << "no requests match\n";
    return 0;
  }
  std::cout << table.render() << thousands(static_cast<long long>(records->size()))
            << " requests, newest first\n";
  return 0;
}

int cost_command(const CostOptions& options) {
  auto o = open(options.config_path);
  if (!o) return 1;
  auto q = admin::parse_spend_query(options.query);
  if (!q) return fail(q.error());
  const auto now = base::unix_ms();
  q->since = q->since.value_or(now - 30LL * 86'400'000);
  auto rows = o->store->spend(q->by, q->since, q->until);
  if (!rows) return fail(rows.error());
  const auto body = admin::spend_body(*q, *rows, now);
  if (options.json) {
    std::cout << body << "\n";
    return 0;
  }
  const auto doc = json::parse(body).as_object();
  std::printf("spend by %s, %s to %s\n\n", doc.at("by").as_string().c_str(),
              doc.at("since").as_string().c_str(), doc.at("until").as_string().c_str());
  using A = Table::Align;
  Table table({{std::string(doc.at("by").as_string())},
               {"requests", A::kRight},
               {"errors", A::kRight},
               {"prompt tokens", A::kRight},
               {"output tokens", A::kRight},
               {"cost", A::kRight},
               {"at list price", A::kRight},
               {"saved", A::kRight},
               {"avg ms", A::kRight},
               {"p99 ms", A::kRight}});
  for (const auto& g : doc.at("groups").as_array()) {
    const auto& obj = g.as_object();
    table.add(money_row(obj, std::string(obj.at("group").as_string())));
  }
  table.rule();
  table.add(money_row(doc.at("total").as_object(), "total"));
  std::cout << table.render();
  const auto& p = doc.at("monthly_projection").as_object();
  std::printf("\nmonthly projection: cost %s, at list prices %s, saved %s\n",
              money(p.at("cost_usd").to_number<double>()).c_str(),
              money(p.at("list_cost_usd").to_number<double>()).c_str(),
              money(p.at("savings_usd").to_number<double>()).c_str());
  return 0;
}

}  // namespace shepherd::app
