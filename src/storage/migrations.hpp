// The store's schema, as a list of versioned migrations. Both backends apply the same list when a
// store is opened, in one transaction, and record each version applied in
// schema_migrations(version, applied_at); a store is therefore at version N exactly when
// migrations 1..N were applied. The SQL is written once: only the names of types that differ
// between SQLite and PostgreSQL are placeholders (migration_sql()).
//
// Tables (version 2):
//   store_meta(name, value)        counters; 'keys_version' advances with every key change
//   virtual_keys                   one row per KeyRecord; the hash as 64 lowercase hex digits,
//                                  models as a JSON array, the budget as budget_usd and
//                                  budget_period ('day' | 'week' | 'month' | 'total'), both NULL
//                                  when the key has none
//   audit_requests                 one row per AuditRecord, keyed by request_id; `time` is the
//                                  column arrived_at
//   key_spend_daily(key_id, day, cost_usd, requests)
//                                  what each key spent per UTC day (day: Unix ms of 00:00 UTC),
//                                  kept apart from audit_requests so that pruning never shortens
//                                  a budget's memory
//
// Pure: no I/O. Adding a migration: append it to the list in migrations.cpp (never edit one that
// has shipped), and kSchemaVersion follows.
#pragma once

#include <span>
#include <string>
#include <string_view>

#include "base/result.hpp"

namespace shepherd::storage {

enum class SqlDialect { kSqlite, kPostgres };

struct Migration {
  int version;
  const char* summary;
  // Statements separated by ';'. Type names that differ are written {int} (64-bit integer),
  // {real} (double), {bool}, and every CREATE TABLE ends with {strict} (SQLite checks the
  // declared types of STRICT tables; PostgreSQL always does).
  std::string_view sql;
  // A change to SQLite's layout alone: PostgreSQL records the version and runs nothing.
  bool sqlite_only = false;
};

// Every migration, versions 1, 2, ... in order.
std::span<const Migration> migrations();

// The version a store has once every migration is applied.
int latest_schema_version();

// `m`'s SQL for `dialect`, placeholders replaced; empty when `m` is not for `dialect`.
std::string migration_sql(const Migration& m, SqlDialect dialect);

// Creates schema_migrations when it is missing; run first in the migrating transaction.
std::string migrations_table_sql(SqlDialect dialect);

// The migrations that take a store at `current` to `target` (at most latest_schema_version()).
// An error (kUnavailable, not retryable) when `current` is newer than this build knows: a newer
// Shepherd upgraded the store, and this one would misread it.
base::Result<std::span<const Migration>> pending_migrations(int current, int target);

}  // namespace shepherd::storage
