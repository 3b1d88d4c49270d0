#include "storage/sql_common.hpp"

#include <algorithm>
#include <boost/json.hpp>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>

#include "base/text.hpp"

namespace shepherd::storage::sql {

namespace json = boost::json;

namespace {

constexpr Millis kDayMs = 86'400'000;
constexpr std::int64_t kMaxLimit = 10'000;

constexpr std::string_view kKeyColumnList =
    "id, name, prefix, hash, models, rpm, tpm, max_parallel, budget_usd, budget_period, "
    "expires_at, metadata, log_bodies, created_at, updated_at, revoked_at";
constexpr int kKeyColumnCount = 16;

constexpr std::string_view kAuditColumnList =
    "request_id, arrived_at, key_id, model, deployment, provider, attempts, status, error_class, "
    "prompt_tokens, completion_tokens, cached_tokens, reasoning_tokens, cost_usd, list_cost_usd, "
    "usage_estimated, latency_us, ttft_us, client_address, streamed, dialect, request_body, "
    "response_body, client_request_id";

// Filter bits, in the order of their parameters.
constexpr unsigned kSince = 1;
constexpr unsigned kUntil = 2;
constexpr unsigned kModel = 4;
constexpr unsigned kKeyId = 8;
constexpr unsigned kStatus = 16;
constexpr unsigned kClientId = 32;

void text_param(ParamSink& p, std::string_view v) {
  std::string scratch;
  p.text(clean_text(v, scratch));
}

// `v` by reference when it is clean (the common case), else its cleaned copy, by value.
void text_ref_param(ParamSink& p, std::string_view v) {
  std::string scratch;
  const auto clean = clean_text(v, scratch);
  if (clean.data() == v.data()) {
    p.text_ref(v);
  } else {
    p.text(clean);
  }
}

template <typename T>
void optional_int(ParamSink& p, const std::optional<T>& v) {
  if (v) {
    p.int64(*v);
  } else {
    p.null();
  }
}

std::optional<std::int64_t> read_optional_int(RowSource& row, int col) {
  if (row.is_null(col)) return std::nullopt;
  return row.int64(col);
}

std::string hash_hex(const std::array<unsigned char, 32>& hash) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(hash.size() * 2);
  for (unsigned char b : hash) {
    out += kDigits[b >> 4];
    out += kDigits[b & 0xF];
  }
  return out;
}

bool parse_hash_hex(std::string_view hex, std::array<unsigned char, 32>& hash) {
  if (hex.size() != hash.size() * 2) return false;
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  for (std::size_t i = 0; i < hash.size(); ++i) {
    const int hi = nibble(hex[2 * i]);
    const int lo = nibble(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    hash[i] = static_cast<unsigned char>(hi << 4 | lo);
  }
  return true;
}

std::string models_json(const std::vector<std::string>& models) {
  json::array a;
  a.reserve(models.size());
  std::string scratch;
  for (const auto& m : models) a.emplace_back(clean_text(m, scratch));
  return json::serialize(a);
}

std::optional<std::vector<std::string>> parse_models_json(std::string_view text) {
  boost::system::error_code ec;
  const json::value v = json::parse(text, ec);
  if (ec || !v.is_array()) return std::nullopt;
  std::vector<std::string> models;
  for (const auto& m : v.get_array()) {
    if (!m.is_string()) return std::nullopt;
    models.emplace_back(m.get_string());
  }
  return models;
}

base::Error unreadable(const std::string& what) {
  return base::make_error(base::ErrorCode::kInternal, "storage: unreadable " + what);
}

// The length of the well-formed UTF-8 sequence starting at text[i], or 0 when there is none
// there. NUL counts as malformed: PostgreSQL's text cannot hold it.
std::size_t sequence_length(std::string_view text, std::size_t i) {
  if (text[i] == '\0') return 0;
  const auto [cp, len] = base::decode_utf8(text, i);
  return cp == base::kInvalidCodePoint ? 0 : len;
}

}  // namespace

std::string statement_sql(Statement s) {
  const std::string keys(kKeyColumnList);
  switch (s) {
    case Statement::kInsertKey: {
      std::string sql = "INSERT INTO virtual_keys (" + keys + ") VALUES (";
      for (int i = 1; i <= kKeyColumnCount; ++i) {
        sql += (i > 1 ? ", $" : "$") + std::to_string(i);
      }
      return sql + ")";
    }
    case Statement::kUpdateKey:
      return "UPDATE virtual_keys SET name = $2, prefix = $3, hash = $4, models = $5, rpm = $6, "
             "tpm = $7, max_parallel = $8, budget_usd = $9, budget_period = $10, "
             "expires_at = $11, metadata = $12, log_bodies = $13, created_at = $14, "
             "updated_at = $15, revoked_at = $16 WHERE id = $1";
    case Statement::kFindKey:
      return "SELECT " + keys + " FROM virtual_keys WHERE id = $1";
    case Statement::kListKeys:
      return "SELECT " + keys + " FROM virtual_keys ORDER BY created_at, id";
    case Statement::kBumpKeysVersion:
      return "UPDATE store_meta SET value = value + 1 WHERE name = 'keys_version'";
    case Statement::kKeysVersion:
      return "SELECT value FROM store_meta WHERE name = 'keys_version'";
    case Statement::kInsertAudit:
      return insert_audit_sql(1, false);
    case Statement::kAddKeySpend:
      return "INSERT INTO key_spend_daily (key_id, day, cost_usd, requests) "
             "VALUES ($1, $2, $3, $4) ON CONFLICT (key_id, day) DO UPDATE SET "
             "cost_usd = key_spend_daily.cost_usd + excluded.cost_usd, "
             "requests = key_spend_daily.requests + excluded.requests";
    case Statement::kKeySpend:
      return "SELECT COALESCE(SUM(cost_usd), 0) FROM key_spend_daily "
             "WHERE key_id = $1 AND day >= $2";
    case Statement::kPrune:
      return "DELETE FROM audit_requests WHERE request_id >= $1 AND request_id < $2 AND "
             "arrived_at >= $3 AND arrived_at < $4";
    case Statement::kSpendByModel:
    case Statement::kSpendByKey:
    case Statement::kSpendByProvider:
    case Statement::kSpendByDay: {
      // kDay groups by arrived_at, which the fold reads anyway.
      const char* group = s == Statement::kSpendByModel      ? "model"
                          : s == Statement::kSpendByKey      ? "key_id"
                          : s == Statement::kSpendByProvider ? "provider"
                                                             : "''";
      return std::string("SELECT ") + group +
             ", arrived_at, latency_us, CASE WHEN error_class = '' THEN 0 ELSE 1 END, "
             "prompt_tokens, completion_tokens, cost_usd, list_cost_usd FROM audit_requests "
             "WHERE request_id >= $1 AND request_id < $2 AND arrived_at >= $3 AND arrived_at < $4";
    }
  }
  return {};
}

std::string statement_name(char kind, std::size_t n) {
  // Appended rather than "s" + std::to_string(n), which GCC 12 warns about (-Wrestrict, a false
  // positive: GCC bug 105329).
  std::string name(1, kind);
  name += std::to_string(n);
  return name;
}

Statement spend_statement(SpendBy by) {
  switch (by) {
    case SpendBy::kModel:
      return Statement::kSpendByModel;
    case SpendBy::kKey:
      return Statement::kSpendByKey;
    case SpendBy::kProvider:
      return Statement::kSpendByProvider;
    case SpendBy::kDay:
      return Statement::kSpendByDay;
  }
  return Statement::kSpendByModel;
}

std::string sqlite_sql(std::string_view sql) {
  std::string out(sql);
  for (std::size_t i = 0; i + 1 < out.size(); ++i) {
    if (out[i] == '$' && out[i + 1] >= '0' && out[i + 1] <= '9') out[i] = '?';
  }
  return out;
}

std::string insert_audit_sql(int rows, bool returning) {
  std::string sql = "INSERT INTO audit_requests (" + std::string(kAuditColumnList) + ") VALUES ";
  int n = 0;
  for (int r = 0; r < rows; ++r) {
    sql += r ? ", (" : "(";
    for (int c = 0; c < kAuditColumns; ++c) {
      sql += (c ? ", $" : "$") + std::to_string(++n);
    }
    sql += ")";
  }
  sql += " ON CONFLICT (request_id) DO NOTHING";
  if (returning) sql += " RETURNING key_id, arrived_at, cost_usd";
  return sql;
}

unsigned filter_mask(const AuditFilter& filter) {
  unsigned mask = 0;
  if (filter.since) mask |= kSince;
  if (filter.until) mask |= kUntil;
  if (filter.model) mask |= kModel;
  if (filter.key_id) mask |= kKeyId;
  if (filter.status) mask |= kStatus;
  if (filter.client_request_id) mask |= kClientId;
  return mask;
}

std::string requests_sql(unsigned mask) {
  std::string sql = "SELECT " + std::string(kAuditColumnList) + " FROM audit_requests";
  int n = 0;
  auto condition = [&](unsigned bit, const char* test) {
    if (!(mask & bit)) return;
    sql += n ? " AND " : " WHERE ";
    sql += test;
    sql += " $" + std::to_string(++n);
  };
  condition(kSince, "request_id >=");
  condition(kSince, "arrived_at >=");
  condition(kUntil, "request_id <");
  condition(kUntil, "arrived_at <");
  condition(kModel, "model =");
  condition(kKeyId, "key_id =");
  condition(kStatus, "status =");
  condition(kClientId, "client_request_id =");
  // Newest first is the primary key's order (id_floor()).
  return sql + " ORDER BY request_id DESC LIMIT $" + std::to_string(n + 1);
}

std::string id_floor(Millis t) {
  // 12 hex digits hold times up to the year 10889. Past that, an id that sorts after all of them
  // in any collation ('g' follows the hex digits; PostgreSQL may not compare bytes).
  constexpr Millis kLast = (Millis{1} << 48) - 1;
  if (t > kLast) return "req_g";
  auto ms = static_cast<std::uint64_t>(std::max<Millis>(t, 0));
  std::string id = "req_000000000000";
  for (std::size_t i = id.size(); i-- > 4; ms >>= 4) id[i] = "0123456789abcdef"[ms & 0xf];
  return id;
}

namespace {

Millis saturating_add(Millis t, Millis d) {
  if (d > 0 && t > std::numeric_limits<Millis>::max() - d)
    return std::numeric_limits<Millis>::max();
  if (d < 0 && t < std::numeric_limits<Millis>::min() - d)
    return std::numeric_limits<Millis>::min();
  return t + d;
}

}  // namespace

std::string first_id_since(Millis since) { return id_floor(saturating_add(since, -kIdSlack)); }

std::string id_bound_until(Millis until) { return id_floor(saturating_add(until, kIdSlack)); }

void bind_time_range(std::optional<Millis> since, std::optional<Millis> until, ParamSink& p) {
  const Millis from = since.value_or(std::numeric_limits<Millis>::min());
  const Millis to = until.value_or(std::numeric_limits<Millis>::max());
  p.text(first_id_since(from));
  p.text(id_bound_until(to));
  p.int64(from);
  p.int64(to);
}

void bind_filter(const AuditFilter& filter, ParamSink& p) {
  if (filter.since) {
    p.text(first_id_since(*filter.since));
    p.int64(*filter.since);
  }
  if (filter.until) {
    p.text(id_bound_until(*filter.until));
    p.int64(*filter.until);
  }
  if (filter.model) text_param(p, *filter.model);
  if (filter.key_id) text_param(p, *filter.key_id);
  if (filter.status) p.int64(*filter.status);
  if (filter.client_request_id) text_param(p, *filter.client_request_id);
  p.int64(clamp_limit(filter.limit));
}

void bind_key(const KeyRecord& key, ParamSink& p) {
  text_param(p, key.id);
  text_param(p, key.name);
  text_param(p, key.prefix);
  p.text(hash_hex(key.hash));
  p.text(models_json(key.models));
  optional_int(p, key.rpm);
  optional_int(p, key.tpm);
  optional_int(p, key.max_parallel);
  if (key.budget) {
    p.real(finite_or_zero(key.budget->usd));
    p.text(period_name(key.budget->period));
  } else {
    p.null();
    p.null();
  }
  optional_int(p, key.expires_at);
  text_param(p, key.metadata);
  p.boolean(key.log_bodies);
  p.int64(key.created_at);
  p.int64(key.updated_at);
  optional_int(p, key.revoked_at);
}

base::Result<KeyRecord> read_key(RowSource& row) {
  KeyRecord k;
  k.id = row.text(0);
  k.name = row.text(1);
  k.prefix = row.text(2);
  if (!parse_hash_hex(row.text(3), k.hash)) return unreadable("hash of key " + k.id);
  auto models = parse_models_json(row.text(4));
  if (!models) return unreadable("models of key " + k.id);
  k.models = std::move(*models);
  k.rpm = read_optional_int(row, 5);
  k.tpm = read_optional_int(row, 6);
  k.max_parallel = read_optional_int(row, 7);
  if (!row.is_null(8) && !row.is_null(9)) {
    const auto period = parse_period(row.text(9));
    if (!period) return unreadable("budget period of key " + k.id);
    k.budget = Budget{row.real(8), *period};
  }
  k.expires_at = read_optional_int(row, 10);
  k.metadata = row.text(11);
  k.log_bodies = row.boolean(12);
  k.created_at = row.int64(13);
  k.updated_at = row.int64(14);
  k.revoked_at = read_optional_int(row, 15);
  if (!row.ok()) return unreadable("values of key " + k.id);
  return k;
}

void bind_audit(const AuditRecord& r, ParamSink& p) {
  text_ref_param(p, r.request_id);
  p.int64(r.time);
  text_ref_param(p, r.key_id);
  text_ref_param(p, r.model);
  text_ref_param(p, r.deployment);
  text_ref_param(p, r.provider);
  p.int64(r.attempts);
  p.int64(r.status);
  text_ref_param(p, r.error_class);
  p.int64(r.prompt_tokens);
  p.int64(r.completion_tokens);
  p.int64(r.cached_tokens);
  p.int64(r.reasoning_tokens);
  p.real(finite_or_zero(r.cost_usd));
  p.real(finite_or_zero(r.list_cost_usd));
  p.boolean(r.usage_estimated);
  p.int64(r.latency_us);
  optional_int(p, r.ttft_us);
  text_ref_param(p, r.client_address);
  p.boolean(r.streamed);
  text_ref_param(p, r.dialect);
  if (r.request_body) {
    text_ref_param(p, *r.request_body);
  } else {
    p.null();
  }
  if (r.response_body) {
    text_ref_param(p, *r.response_body);
  } else {
    p.null();
  }
  if (r.client_request_id) {
    text_ref_param(p, *r.client_request_id);
  } else {
    p.null();
  }
}

base::Result<AuditRecord> read_audit(RowSource& row) {
  AuditRecord r;
  r.request_id = row.text(0);
  r.time = row.int64(1);
  r.key_id = row.text(2);
  r.model = row.text(3);
  r.deployment = row.text(4);
  r.provider = row.text(5);
  r.attempts = static_cast<std::int32_t>(row.int64(6));
  r.status = static_cast<std::int32_t>(row.int64(7));
  r.error_class = row.text(8);
  r.prompt_tokens = row.int64(9);
  r.completion_tokens = row.int64(10);
  r.cached_tokens = row.int64(11);
  r.reasoning_tokens = row.int64(12);
  r.cost_usd = row.real(13);
  r.list_cost_usd = row.real(14);
  r.usage_estimated = row.boolean(15);
  r.latency_us = row.int64(16);
  r.ttft_us = read_optional_int(row, 17);
  r.client_address = row.text(18);
  r.streamed = row.boolean(19);
  r.dialect = row.text(20);
  if (!row.is_null(21)) r.request_body = row.text(21);
  if (!row.is_null(22)) r.response_body = row.text(22);
  if (!row.is_null(23)) r.client_request_id = row.text(23);
  if (!row.ok()) return unreadable("values of audit record " + r.request_id);
  return r;
}

std::int64_t clamp_limit(std::int64_t limit) {
  return std::clamp<std::int64_t>(limit, 0, kMaxLimit);
}

Millis utc_day_start(Millis t) {
  Millis day = t / kDayMs;
  if (t % kDayMs < 0) --day;  // floor, for times before 1970
  return day * kDayMs;
}

std::string utc_date(Millis t) {
  const std::chrono::sys_days day{std::chrono::days{utc_day_start(t) / kDayMs}};
  const std::chrono::year_month_day ymd{day};
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02u", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()));
  return buf;
}

std::string_view clean_text(std::string_view text, std::string& scratch) {
  std::size_t i = 0;
  // Eight bytes at a time while they are ASCII without a NUL: no byte has its top bit set, and
  // none is zero (the classic test: a zero byte borrows in w - 0x01..01 where w had a 0 bit).
  constexpr std::uint64_t kOnes = 0x0101010101010101, kTops = 0x8080808080808080;
  for (std::uint64_t w; i + 8 <= text.size(); i += 8) {
    std::memcpy(&w, text.data() + i, 8);
    if ((w & kTops) != 0 || ((w - kOnes) & ~w & kTops) != 0) break;
  }
  while (i < text.size()) {
    // ASCII other than NUL, the common case, without the call.
    if (static_cast<unsigned char>(text[i]) - 1u < 0x7Fu) {
      ++i;
      continue;
    }
    const std::size_t n = sequence_length(text, i);
    if (n == 0) break;
    i += n;
  }
  if (i == text.size()) return text;
  scratch.assign(text.substr(0, i));
  while (i < text.size()) {
    const std::size_t n = sequence_length(text, i);
    if (n == 0) {
      scratch += "\xEF\xBF\xBD";
      ++i;
    } else {
      scratch.append(text.substr(i, n));
      i += n;
    }
  }
  return scratch;
}

double finite_or_zero(double v) { return std::isfinite(v) ? v : 0; }

void KeySpendBatch::add(std::string_view key_id, Millis time, double cost_usd) {
  if (key_id.empty()) return;
  const std::pair<std::string_view, Millis> key{key_id, utc_day_start(time)};
  // Consecutive records mostly share a key and a day.
  auto it = last_;
  if (it == days_.end() || it->first.second != key.second || it->first.first != key_id) {
    it = days_.find(key);
    if (it == days_.end())
      it = days_.emplace(std::pair{std::string(key_id), key.second}, Sums{}).first;
    last_ = it;
  }
  it->second.first += cost_usd;
  ++it->second.second;
}

void SpendFold::add(RowSource& row) {
  const Millis time = row.int64(1);
  add(by_ == SpendBy::kDay ? utc_date(time) : row.text(0), row.int64(2), row.int64(3) != 0,
      row.int64(4), row.int64(5), row.real(6), row.real(7));
}

void SpendFold::add(const AuditRecord& r) {
  const std::string_view group = by_ == SpendBy::kModel ? std::string_view(r.model)
                                 : by_ == SpendBy::kKey ? std::string_view(r.key_id)
                                                        : std::string_view(r.provider);
  add(by_ == SpendBy::kDay ? utc_date(r.time) : std::string(group), r.latency_us,
      !r.error_class.empty(), r.prompt_tokens, r.completion_tokens, r.cost_usd, r.list_cost_usd);
}

void SpendFold::add(std::string group, std::int64_t latency_us, bool error,
                    std::int64_t prompt_tokens, std::int64_t completion_tokens, double cost_usd,
                    double list_cost_usd) {
  auto& g = groups_[std::move(group)];
  ++g.row.requests;
  g.row.errors += error ? 1 : 0;
  g.row.prompt_tokens += prompt_tokens;
  g.row.completion_tokens += completion_tokens;
  g.row.cost_usd += cost_usd;
  g.row.list_cost_usd += list_cost_usd;
  g.latency_sum_us += latency_us;
  g.latencies_us.push_back(latency_us);
}

std::vector<SpendRow> SpendFold::finish() {
  auto groups = std::move(groups_);
  groups_.clear();
  std::vector<SpendRow> rows;
  rows.reserve(groups.size());
  for (auto& [name, g] : groups) {
    SpendRow row = std::move(g.row);
    row.group = name;
    const auto n = static_cast<std::int64_t>(g.latencies_us.size());
    if (n > 0) {
      row.avg_latency_ms = static_cast<double>(g.latency_sum_us) / static_cast<double>(n) / 1000;
      // Nearest rank: the smallest latency with at least 99 % of the records at or below it,
      // the ceil(0.99 n)-th in ascending order; computed in integers to avoid 0.99's rounding.
      const std::int64_t rank = (99 * n + 99) / 100;
      auto nth = g.latencies_us.begin() + (rank - 1);
      std::nth_element(g.latencies_us.begin(), nth, g.latencies_us.end());
      row.p99_latency_ms = static_cast<double>(*nth) / 1000;
    }
    rows.push_back(std::move(row));
  }
  if (by_ == SpendBy::kDay) return rows;  // the map kept YYYY-MM-DD ascending
  std::stable_sort(rows.begin(), rows.end(),
                   [](const SpendRow& a, const SpendRow& b) { return a.cost_usd > b.cost_usd; });
  return rows;
}

}  // namespace shepherd::storage::sql
