// What Shepherd keeps durably: virtual keys and one audit record per request, and the shapes in
// which the admin API and the CLI read them back. Plain data; no I/O.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace shepherd::storage {

// Times are Unix milliseconds (UTC) throughout the store.
using Millis = std::int64_t;

// A budget's accounting period. Periods start at 00:00 UTC: a day, a week from Monday, a month
// from its first day; kTotal never resets.
enum class BudgetPeriod { kDay, kWeek, kMonth, kTotal };

// "day", "week", "month", "total": the names the config, the API and the store use.
inline const char* period_name(BudgetPeriod p) {
  switch (p) {
    case BudgetPeriod::kDay:
      return "day";
    case BudgetPeriod::kWeek:
      return "week";
    case BudgetPeriod::kMonth:
      return "month";
    case BudgetPeriod::kTotal:
      break;
  }
  return "total";
}
inline std::optional<BudgetPeriod> parse_period(std::string_view s) {
  if (s == "day") return BudgetPeriod::kDay;
  if (s == "week") return BudgetPeriod::kWeek;
  if (s == "month") return BudgetPeriod::kMonth;
  if (s == "total") return BudgetPeriod::kTotal;
  return std::nullopt;
}

struct Budget {
  double usd = 0;
  BudgetPeriod period = BudgetPeriod::kMonth;
};

// A virtual key as stored. The secret itself is never stored: only its HMAC-SHA256 under the
// server's key secret, and a short prefix to show in lists ("sk-shep-3fA9").
struct KeyRecord {
  std::string id;  // "key_" + 16 hex digits; never secret
  std::string name;
  std::string prefix;
  std::array<unsigned char, 32> hash{};  // HMAC-SHA256(server secret, secret)
  std::vector<std::string> models;       // allowed model names; empty: every model
  std::optional<std::int64_t> rpm;       // requests per minute
  std::optional<std::int64_t> tpm;       // tokens per minute
  std::optional<std::int64_t> max_parallel;
  std::optional<Budget> budget;
  std::optional<Millis> expires_at;
  std::string metadata = "{}";  // a JSON object (owner, team, ...), as given
  bool log_bodies = false;      // audit this key's request and response bodies
  Millis created_at = 0;
  Millis updated_at = 0;
  std::optional<Millis> revoked_at;  // set: the key is refused
};

// One request, as the record stage saw it. Keyed by request_id (Shepherd's own: the X-Request-Id
// the client got, unless it sent its own, and always X-Shepherd-Request-Id), which is unique
// across instances and sorts in time order: writing a record twice keeps one.
struct AuditRecord {
  std::string request_id;
  Millis time = 0;         // when the request arrived
  std::string key_id;      // a virtual key's id, "static:N" for server.api_keys[N], "" in open mode
  std::string model;       // as the client named it
  std::string deployment;  // the deployment that answered (or last tried); "" when none was
  std::string provider;
  std::int32_t attempts = 0;
  std::int32_t status = 0;  // the HTTP status the client got (200 for streams that started)
  std::string error_class;  // "" on success; else a short code ("upstream_timeout", ...)
  std::int64_t prompt_tokens = 0;
  std::int64_t completion_tokens = 0;
  std::int64_t cached_tokens = 0;
  std::int64_t reasoning_tokens = 0;
  double cost_usd = 0;
  double list_cost_usd = 0;      // the same tokens at the deployment's list price (savings)
  bool usage_estimated = false;  // tokens estimated by Shepherd, not reported by the upstream
  std::int64_t latency_us = 0;   // arrival to the last byte sent
  std::optional<std::int64_t> ttft_us;  // arrival to the first byte of the answer (streams)
  std::string client_address;
  bool streamed = false;
  std::string dialect;                       // "openai", "anthropic", "responses", ...
  std::optional<std::string> request_body;   // only when bodies are audited; secrets redacted
  std::optional<std::string> response_body;  // ditto
  // The client's own X-Request-Id, when it sent a well-formed one: what the client got back as
  // X-Request-Id (request_id then came in X-Shepherd-Request-Id).
  std::optional<std::string> client_request_id;
};

// GET /admin/requests and `shepherd audit`: every field optional; records come newest first.
struct AuditFilter {
  std::optional<Millis> since;  // time >= since
  std::optional<Millis> until;  // time < until
  std::optional<std::string> model;
  std::optional<std::string> key_id;
  std::optional<std::int32_t> status;
  std::optional<std::string> client_request_id;
  std::int64_t limit = 100;  // at most 10000
};

// GET /admin/spend and `shepherd cost`: one row per group.
enum class SpendBy { kModel, kKey, kProvider, kDay };

struct SpendRow {
  std::string group;  // the model, key id, provider, or the day as YYYY-MM-DD (UTC)
  std::int64_t requests = 0;
  std::int64_t errors = 0;  // records with an error_class
  std::int64_t prompt_tokens = 0;
  std::int64_t completion_tokens = 0;
  double cost_usd = 0;
  double list_cost_usd = 0;
  double avg_latency_ms = 0;
  double p99_latency_ms = 0;  // nearest-rank 99th percentile of latency_us, in ms
};

// A change to a virtual key, from an admin request or the CLI's flags: absent members stay as they
// are (update) or take their defaults (create). A member given as null clears it.
struct KeyChanges {
  std::optional<std::string> name;
  std::optional<std::vector<std::string>> models;
  std::optional<std::optional<std::int64_t>> rpm, tpm, max_parallel;
  std::optional<std::optional<Budget>> budget;
  std::optional<std::optional<Millis>> expires_at;
  std::optional<std::string> metadata;  // a JSON object's text
  std::optional<bool> log_bodies;

  // Applies the changes to `key`.
  void apply(KeyRecord& key) const {
    if (name) key.name = *name;
    if (models) key.models = *models;
    if (rpm) key.rpm = *rpm;
    if (tpm) key.tpm = *tpm;
    if (max_parallel) key.max_parallel = *max_parallel;
    if (budget) key.budget = *budget;
    if (expires_at) key.expires_at = *expires_at;
    if (metadata) key.metadata = *metadata;
    if (log_bodies) key.log_bodies = *log_bodies;
  }
};

}  // namespace shepherd::storage
