#include "admin/keys_json.hpp"

#include <boost/json.hpp>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>

#include "admin/routes.hpp"
#include "api/json_text.hpp"

namespace shepherd::admin {

namespace json = boost::json;
using base::ErrorCode;
using storage::Millis;

namespace {

base::Error bad(std::string message, std::string param = {}) {
  auto e = base::make_error(ErrorCode::kBadRequest, std::move(message));
  e.param = std::move(param);
  return e;
}

constexpr std::int64_t kMaxLimit = 1'000'000'000'000;

// A positive integer, or null (cleared).
base::Result<std::optional<std::int64_t>> limit_value(const json::value& v, const char* name) {
  if (v.is_null()) return std::optional<std::int64_t>();
  std::int64_t n = 0;
  if (v.is_int64()) {
    n = v.get_int64();
  } else if (v.is_uint64() && v.get_uint64() <= static_cast<std::uint64_t>(kMaxLimit)) {
    n = static_cast<std::int64_t>(v.get_uint64());
  } else {
    return bad(std::string(name) + " must be a positive integer or null", name);
  }
  if (n < 1 || n > kMaxLimit) return bad(std::string(name) + " must be a positive integer", name);
  return std::optional<std::int64_t>(n);
}

base::Result<std::optional<storage::Budget>> budget_value(const json::value& v) {
  if (v.is_null()) return std::optional<storage::Budget>();
  const auto* o = v.if_object();
  if (!o)
    return bad("budget must be an object {\"usd\": 100, \"period\": \"month\"} or null", "budget");
  storage::Budget b;
  for (const auto& [k, m] : *o) {
    if (k == "usd") {
      if (!m.is_number() || !(m.to_number<double>() > 0) || !std::isfinite(m.to_number<double>()))
        return bad("budget.usd must be a positive number", "budget.usd");
      b.usd = m.to_number<double>();
    } else if (k == "period") {
      const auto* s = m.if_string();
      const auto period = s ? storage::parse_period(std::string_view(*s)) : std::nullopt;
      if (!period) return bad("budget.period must be day, week, month or total", "budget.period");
      b.period = *period;
    } else {
      return bad("unknown member budget." + std::string(k) + " (allowed: usd, period)", "budget");
    }
  }
  if (b.usd <= 0) return bad("budget.usd is required", "budget.usd");
  return std::optional<storage::Budget>(b);
}

bool digits(std::string_view s, std::size_t at, std::size_t n, int& out) {
  if (at + n > s.size()) return false;
  auto [p, ec] = std::from_chars(s.data() + at, s.data() + at + n, out);
  return ec == std::errc{} && p == s.data() + at + n;
}

json::value time_value(std::optional<Millis> ms) {
  if (!ms) return nullptr;
  return json::value(format_time(*ms));
}

std::string query_param(std::string_view query, std::string_view name, bool& found) {
  found = false;
  while (!query.empty()) {
    const auto amp = query.find('&');
    const auto pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    const auto eq = pair.find('=');
    if (pair.substr(0, eq) != name) continue;
    found = true;
    std::string value(eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1));
    for (auto& c : value) {
      if (c == '+') c = ' ';
    }
    return percent_decode(value);
  }
  return {};
}

base::Status time_params(std::string_view query, std::optional<Millis>& since,
                         std::optional<Millis>& until) {
  for (const char* name : {"since", "until"}) {
    bool found = false;
    const auto text = query_param(query, name, found);
    if (!found) continue;
    const auto t = parse_time(text);
    if (!t) {
      return bad(std::string(name) +
                     " must be an RFC 3339 time (2026-11-30T12:00:00Z), a date (2026-11-30) or "
                     "Unix seconds",
                 name);
    }
    (std::string_view(name) == "since" ? since : until) = *t;
  }
  return base::Ok{};
}

}  // namespace

base::Result<KeyChanges> parse_key_changes(std::string_view body, bool create, int max_depth) {
  json::parse_options opts;
  opts.max_depth = static_cast<std::size_t>(max_depth);
  json::error_code ec;
  const auto doc = json::parse(json::string_view(body.data(), body.size()), ec, {}, opts);
  if (ec || !doc.is_object()) return bad("the body must be a JSON object");
  KeyChanges c;
  for (const auto& [k, v] : doc.get_object()) {
    if (k == "name") {
      const auto* s = v.if_string();
      if (!s || s->empty() || s->size() > 200)
        return bad("name must be a non-empty string of at most 200 characters", "name");
      c.name = std::string(*s);
    } else if (k == "models") {
      const auto* a = v.if_array();
      if (!a)
        return bad("models must be an array of model names ([] allows every model)", "models");
      std::vector<std::string> models;
      for (const auto& m : *a) {
        const auto* s = m.if_string();
        if (!s || s->empty()) return bad("models must be an array of model names", "models");
        models.emplace_back(*s);
      }
      c.models = std::move(models);
    } else if (k == "rpm" || k == "tpm" || k == "max_parallel") {
      auto n = limit_value(v, k.data());
      if (!n) return std::move(n).error();
      (k == "rpm" ? c.rpm : k == "tpm" ? c.tpm : c.max_parallel) = *n;
    } else if (k == "budget") {
      auto b = budget_value(v);
      if (!b) return std::move(b).error();
      c.budget = *b;
    } else if (k == "expires_at") {
      if (v.is_null()) {
        c.expires_at = std::optional<Millis>();
      } else if (const auto* s = v.if_string(); s && parse_time(*s)) {
        c.expires_at = parse_time(*s);
      } else if (v.is_number() && v.to_number<double>() > 0) {
        c.expires_at = static_cast<Millis>(v.to_number<double>() * 1000);
      } else {
        return bad("expires_at must be an RFC 3339 time, Unix seconds or null", "expires_at");
      }
    } else if (k == "metadata") {
      if (!v.is_object()) return bad("metadata must be a JSON object", "metadata");
      c.metadata = json::serialize(v);
    } else if (k == "log_bodies") {
      if (!v.is_bool()) return bad("log_bodies must be true or false", "log_bodies");
      c.log_bodies = v.get_bool();
    } else {
      return bad("unknown member '" + utf8_safe(k) +
                     "' (allowed: name, models, rpm, tpm, max_parallel, budget, expires_at, "
                     "metadata, log_bodies)",
                 std::string(utf8_safe(k)));
    }
  }
  if (create && !c.name) return bad("name is required", "name");
  return c;
}

std::string key_body(const storage::KeyRecord& key, const std::string* secret,
                     std::optional<double> spent_usd) {
  json::object o;
  o["id"] = key.id;
  o["name"] = utf8_safe(key.name);
  o["prefix"] = key.prefix;
  if (secret) o["secret"] = *secret;
  json::array models;
  for (const auto& m : key.models) models.emplace_back(utf8_safe(m));
  o["models"] = std::move(models);
  auto opt = [](const std::optional<std::int64_t>& v) -> json::value {
    return v ? json::value(*v) : json::value(nullptr);
  };
  o["rpm"] = opt(key.rpm);
  o["tpm"] = opt(key.tpm);
  o["max_parallel"] = opt(key.max_parallel);
  if (key.budget) {
    json::object b;
    b["usd"] = key.budget->usd;
    b["period"] = storage::period_name(key.budget->period);
    if (spent_usd) {
      b["spent_usd"] = *spent_usd;
      b["remaining_usd"] = std::max(0.0, key.budget->usd - *spent_usd);
    }
    o["budget"] = std::move(b);
  } else {
    o["budget"] = nullptr;
  }
  o["expires_at"] = time_value(key.expires_at);
  json::error_code ec;
  auto metadata = json::parse(key.metadata, ec);
  o["metadata"] = ec ? json::value(json::object()) : std::move(metadata);
  o["log_bodies"] = key.log_bodies;
  o["created_at"] = format_time(key.created_at);
  o["updated_at"] = format_time(key.updated_at);
  o["revoked"] = key.revoked_at.has_value();
  o["revoked_at"] = time_value(key.revoked_at);
  return api::json_text(o);
}

std::string keys_body(const std::vector<storage::KeyRecord>& keys) {
  std::string out = "{\"object\":\"list\",\"data\":[";
  for (std::size_t i = 0; i < keys.size(); ++i) {
    if (i) out += ',';
    out += key_body(keys[i]);
  }
  out += "]}";
  return out;
}

base::Result<storage::AuditFilter> parse_audit_query(std::string_view query) {
  storage::AuditFilter f;
  if (auto s = time_params(query, f.since, f.until); !s) return std::move(s).error();
  bool found = false;
  if (auto v = query_param(query, "model", found); found) f.model = v;
  if (auto v = query_param(query, "key", found); found) f.key_id = v;
  if (auto v = query_param(query, "client_request_id", found); found) f.client_request_id = v;
  if (auto v = query_param(query, "status", found); found) {
    int status = 0;
    if (!digits(v, 0, v.size(), status) || status < 100 || status > 599) {
      return bad("status must be an HTTP status (100-599)", "status");
    }
    f.status = status;
  }
  if (auto v = query_param(query, "limit", found); found) {
    int limit = 0;
    if (!digits(v, 0, v.size(), limit) || limit < 1 || limit > 10'000) {
      return bad("limit must be between 1 and 10000", "limit");
    }
    f.limit = limit;
  }
  return f;
}

base::Result<SpendQuery> parse_spend_query(std::string_view query) {
  SpendQuery q;
  if (auto s = time_params(query, q.since, q.until); !s) return std::move(s).error();
  bool found = false;
  if (auto v = query_param(query, "by", found); found) {
    if (v == "model") {
      q.by = storage::SpendBy::kModel;
    } else if (v == "key") {
      q.by = storage::SpendBy::kKey;
    } else if (v == "provider") {
      q.by = storage::SpendBy::kProvider;
    } else if (v == "day") {
      q.by = storage::SpendBy::kDay;
    } else {
      return bad("by must be model, key, provider or day", "by");
    }
  }
  return q;
}

std::optional<Millis> parse_time(std::string_view t) {
  if (t.empty()) return std::nullopt;
  if (t.find('-') == std::string_view::npos) {
    // Unix seconds.
    std::int64_t s = 0;
    auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), s);
    if (ec != std::errc{} || p != t.data() + t.size() || s < 0 || s > 253'402'300'799) {
      return std::nullopt;
    }
    return s * 1000;
  }
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, sec = 0;
  if (t.size() < 10 || t[4] != '-' || t[7] != '-' || !digits(t, 0, 4, y) || !digits(t, 5, 2, mo) ||
      !digits(t, 8, 2, d)) {
    return std::nullopt;
  }
  const std::chrono::year_month_day ymd{std::chrono::year(y), std::chrono::month(mo),
                                        std::chrono::day(d)};
  if (!ymd.ok()) return std::nullopt;
  Millis ms = 0, offset = 0;
  if (t.size() > 10) {
    if ((t[10] != 'T' && t[10] != 't' && t[10] != ' ') || t.size() < 20 || t[13] != ':' ||
        t[16] != ':' || !digits(t, 11, 2, h) || !digits(t, 14, 2, mi) || !digits(t, 17, 2, sec) ||
        h > 23 || mi > 59 || sec > 60) {
      return std::nullopt;
    }
    std::size_t i = 19;
    if (i < t.size() && t[i] == '.') {
      ++i;
      int scale = 100;
      while (i < t.size() && t[i] >= '0' && t[i] <= '9') {
        ms += (t[i] - '0') * scale;
        scale /= 10;
        ++i;
      }
    }
    const auto zone = t.substr(i);
    if (zone == "Z" || zone == "z") {
      offset = 0;
    } else if (zone.size() == 6 && (zone[0] == '+' || zone[0] == '-') && zone[3] == ':') {
      int oh = 0, om = 0;
      if (!digits(zone, 1, 2, oh) || !digits(zone, 4, 2, om)) return std::nullopt;
      offset = (oh * 60 + om) * 60'000LL * (zone[0] == '+' ? 1 : -1);
    } else {
      return std::nullopt;
    }
  }
  const auto days = std::chrono::sys_days(ymd).time_since_epoch().count();
  return days * 86'400'000LL + ((h * 60LL + mi) * 60 + sec) * 1000 + ms - offset;
}

std::string format_time(Millis ms) {
  const auto days = std::chrono::floor<std::chrono::days>(std::chrono::milliseconds(ms));
  const std::chrono::year_month_day ymd{std::chrono::sys_days(days)};
  const auto rest = ms - std::chrono::duration_cast<std::chrono::milliseconds>(days).count();
  char out[64];
  std::snprintf(out, sizeof out, "%04d-%02u-%02uT%02lld:%02lld:%02lld.%03lldZ",
                static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()),
                static_cast<unsigned>(ymd.day()), static_cast<long long>(rest / 3'600'000),
                static_cast<long long>(rest / 60'000 % 60),
                static_cast<long long>(rest / 1000 % 60), static_cast<long long>(rest % 1000));
  return out;
}

}  // namespace shepherd::admin
