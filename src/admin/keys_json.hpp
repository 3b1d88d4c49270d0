// The admin API's bodies for virtual keys, audit records and spend, as pure functions: parsing
// what an operator sends (POST and PATCH /admin/keys, the query of GET /admin/requests and
// /admin/spend) and writing what the API answers. Never writes a key's hash; the secret only in
// the answer that creates the key.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.hpp"
#include "storage/records.hpp"

namespace shepherd::admin {

using storage::KeyChanges;

// Parses a JSON body: {name, models, rpm, tpm, max_parallel, budget: {usd, period}, expires_at
// (RFC 3339 or Unix seconds), metadata: {...}, log_bodies}. `create`: name is required. Errors
// (kBadRequest) name the member; unknown members are refused.
base::Result<KeyChanges> parse_key_changes(std::string_view body, bool create, int max_depth);

// The key as the API shows it: id, name, prefix, models, limits, budget, expires_at, metadata,
// log_bodies, created_at, updated_at, revoked(_at). With `secret`: the one answer that carries
// it. With `spent_usd`: the budget's current period's spend and what remains.
std::string key_body(const storage::KeyRecord& key, const std::string* secret = nullptr,
                     std::optional<double> spent_usd = std::nullopt);
std::string keys_body(const std::vector<storage::KeyRecord>& keys);

// The query of GET /admin/requests: since, until (RFC 3339, YYYY-MM-DD, or Unix seconds), model,
// key, status, limit (1..10000, default 100). Errors name the parameter.
base::Result<storage::AuditFilter> parse_audit_query(std::string_view query);
std::string requests_body(const std::vector<storage::AuditRecord>& records);

// The query of GET /admin/spend: by (model|key|provider|day, default model), since, until.
struct SpendQuery {
  storage::SpendBy by = storage::SpendBy::kModel;
  std::optional<storage::Millis> since, until;
};
base::Result<SpendQuery> parse_spend_query(std::string_view query);
// Rows with savings against list prices, totals, and a monthly projection: the cost of the
// period's requests scaled to 30 days of the period they span (since..until, or the records'
// first to last day when the query leaves them open).
std::string spend_body(const SpendQuery& query, const std::vector<storage::SpendRow>& rows,
                       storage::Millis now);

// A time as the query parameters take it: RFC 3339 ("2026-11-30T12:00:00Z", offsets allowed),
// a date ("2026-11-30", midnight UTC) or Unix seconds.
std::optional<storage::Millis> parse_time(std::string_view text);
// Unix ms as RFC 3339 UTC with milliseconds.
std::string format_time(storage::Millis ms);

}  // namespace shepherd::admin
