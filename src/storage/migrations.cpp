#include "storage/migrations.hpp"

#include <array>
#include <string>

namespace shepherd::storage {

namespace {

// Shipped migrations are never edited: a store that applied one keeps what it created.
constexpr std::array<Migration, 5> kMigrations{{
    {1, "virtual keys", R"sql(
CREATE TABLE store_meta (
  name TEXT NOT NULL PRIMARY KEY,
  value {int} NOT NULL
){strict};
INSERT INTO store_meta (name, value) VALUES ('keys_version', 0);
CREATE TABLE virtual_keys (
  id TEXT NOT NULL PRIMARY KEY,
  name TEXT NOT NULL,
  prefix TEXT NOT NULL,
  hash TEXT NOT NULL UNIQUE,
  models TEXT NOT NULL,
  rpm {int},
  tpm {int},
  max_parallel {int},
  budget_usd {real},
  budget_period TEXT CHECK (budget_period IN ('day', 'week', 'month', 'total')),
  expires_at {int},
  metadata TEXT NOT NULL,
  log_bodies {bool} NOT NULL,
  created_at {int} NOT NULL,
  updated_at {int} NOT NULL,
  revoked_at {int},
  CHECK ((budget_usd IS NULL) = (budget_period IS NULL))
){strict};
CREATE INDEX virtual_keys_created ON virtual_keys (created_at, id);
)sql"},
    {2, "audit records and daily key spend", R"sql(
CREATE TABLE audit_requests (
  request_id TEXT NOT NULL PRIMARY KEY,
  arrived_at {int} NOT NULL,
  key_id TEXT NOT NULL,
  model TEXT NOT NULL,
  deployment TEXT NOT NULL,
  provider TEXT NOT NULL,
  attempts {int} NOT NULL,
  status {int} NOT NULL,
  error_class TEXT NOT NULL,
  prompt_tokens {int} NOT NULL,
  completion_tokens {int} NOT NULL,
  cached_tokens {int} NOT NULL,
  reasoning_tokens {int} NOT NULL,
  cost_usd {real} NOT NULL,
  list_cost_usd {real} NOT NULL,
  usage_estimated {bool} NOT NULL,
  latency_us {int} NOT NULL,
  ttft_us {int},
  client_address TEXT NOT NULL,
  streamed {bool} NOT NULL,
  dialect TEXT NOT NULL,
  request_body TEXT,
  response_body TEXT
){keyed_strict};
-- One B-tree per insert besides the time index: the table is clustered on request_id, which
-- starts with the time, so inserts append; filters by model, key and status read the time range
-- (each further index cost the audit writer about a microsecond per request:
-- docs/benchmarks.md, "Governance's cost").
CREATE INDEX audit_requests_time ON audit_requests (arrived_at);
CREATE TABLE key_spend_daily (
  key_id TEXT NOT NULL,
  day {int} NOT NULL,
  cost_usd {real} NOT NULL,
  requests {int} NOT NULL,
  PRIMARY KEY (key_id, day)
){strict};
)sql"},
    // A request id starts with its arrival time (sql_common.hpp, id_floor()), so the primary key
    // serves time ranges too, and the audit writer maintains one B-tree per record, not two: about
    // a microsecond per request (docs/benchmarks.md, "Governance's cost").
    {3, "time ranges of audit records read through the request id", R"sql(
DROP INDEX IF EXISTS audit_requests_time;
)sql"},
    // The X-Request-Id a client sent, kept beside Shepherd's own (which stays the key: a client's
    // ids need not be unique). No index: found within a time range or by a full scan.
    {4, "the client's own request id", R"sql(
ALTER TABLE audit_requests ADD COLUMN client_request_id TEXT;
)sql"},
    // SQLite keeps audit records in blocks of a batch each (storage/sqlite/audit_block.hpp): one
    // row insert per batch instead of one B-tree insert per record. SqliteStore::migrate() moves
    // the rows of audit_requests into blocks; the empty table stays, for a process of an earlier
    // build that writes rows during an upgrade (each append moves them). last_id orders the blocks
    // newest first for Store::requests(); the other columns pick blocks for a range. Indexes cost
    // a B-tree insert per batch, not per record.
    {5, "audit records in blocks (SQLite)", R"sql(
CREATE TABLE audit_blocks (
  first_id TEXT NOT NULL,
  last_id TEXT NOT NULL,
  min_time INTEGER NOT NULL,
  max_time INTEGER NOT NULL,
  records INTEGER NOT NULL,
  data BLOB NOT NULL
) STRICT;
CREATE INDEX audit_blocks_last ON audit_blocks (last_id);
-- Retention finds the blocks it may cut by their earliest arrival.
CREATE INDEX audit_blocks_min_time ON audit_blocks (min_time);
)sql",
     true},
}};

constexpr bool numbered_in_order() {
  for (std::size_t i = 0; i < kMigrations.size(); ++i) {
    if (kMigrations[i].version != static_cast<int>(i) + 1) return false;
  }
  return true;
}
static_assert(numbered_in_order(), "migration versions are 1, 2, ... in order");

constexpr std::string_view kMigrationsTable = R"sql(
CREATE TABLE IF NOT EXISTS schema_migrations (
  version {int} NOT NULL PRIMARY KEY,
  applied_at {int} NOT NULL
){strict})sql";

std::string substitute(std::string_view sql, SqlDialect dialect) {
  const bool sqlite = dialect == SqlDialect::kSqlite;
  struct Name {
    std::string_view placeholder;
    std::string_view sqlite;
    std::string_view postgres;
  };
  static constexpr std::array<Name, 5> kNames{{
      {"{int}", "INTEGER", "BIGINT"},
      {"{real}", "REAL", "DOUBLE PRECISION"},
      {"{bool}", "INTEGER", "BOOLEAN"},
      {"{strict}", " STRICT", ""},
      // A table clustered on its primary key: one B-tree per row, not a rowid table plus the
      // key's index (PostgreSQL tables are heaps; the option has no equivalent there).
      {"{keyed_strict}", " WITHOUT ROWID, STRICT", ""},
  }};
  std::string out;
  out.reserve(sql.size() + 64);
  std::size_t i = 0;
  while (i < sql.size()) {
    bool replaced = false;
    if (sql[i] == '{') {
      for (const auto& n : kNames) {
        if (sql.substr(i, n.placeholder.size()) == n.placeholder) {
          out += sqlite ? n.sqlite : n.postgres;
          i += n.placeholder.size();
          replaced = true;
          break;
        }
      }
    }
    if (!replaced) out += sql[i++];
  }
  return out;
}

}  // namespace

std::span<const Migration> migrations() { return kMigrations; }

int latest_schema_version() { return kMigrations.back().version; }

std::string migration_sql(const Migration& m, SqlDialect dialect) {
  if (m.sqlite_only && dialect != SqlDialect::kSqlite) return {};
  return substitute(m.sql, dialect);
}

std::string migrations_table_sql(SqlDialect dialect) {
  return substitute(kMigrationsTable, dialect);
}

base::Result<std::span<const Migration>> pending_migrations(int current, int target) {
  const int latest = latest_schema_version();
  if (current > latest) {
    auto e = base::make_error(
        base::ErrorCode::kUnavailable,
        "storage: the store's schema is version " + std::to_string(current) +
            ", newer than this build of Shepherd knows (" + std::to_string(latest) +
            "); run the newer Shepherd, or restore a backup from before the upgrade");
    return e;
  }
  if (target > latest) target = latest;
  if (current >= target) return std::span<const Migration>{};
  // Version v is at index v - 1 (numbered_in_order()).
  return std::span<const Migration>(kMigrations).subspan(current, target - current);
}

}  // namespace shepherd::storage
