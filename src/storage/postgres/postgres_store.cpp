#include "storage/postgres/postgres_store.hpp"

#include <libpq-fe.h>

#include <array>
#include <charconv>
#include <chrono>
#include <cstring>
#include <limits>

#include "storage/migrations.hpp"
#include "storage/postgres/postgres_connection.hpp"

namespace shepherd::storage {

namespace {

using base::ErrorCode;
using postgres::Params;
using postgres::Reader;
using postgres::Transaction;

// Any constant will do: it names the lock that serialises migrations across instances.
constexpr const char* kMigrationLock = "SELECT pg_advisory_xact_lock(7310869354301256802)";

// append() sends records in statements of 64 rows (a round trip each), then 8, then 1: a batch
// of 1000 takes 15 + 5 round trips, and only three statements are prepared.
constexpr std::array<int, 3> kChunkRows{64, 8, 1};

Millis now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::int64_t affected_rows(pg_result* r) {
  const char* n = PQcmdTuples(r);
  std::int64_t out = 0;
  std::from_chars(n, n + std::strlen(n), out);
  return out;
}

}  // namespace

PostgresStore::PostgresStore(std::unique_ptr<postgres::Connection> c) : c_(std::move(c)) {}
PostgresStore::~PostgresStore() = default;

base::Result<std::unique_ptr<PostgresStore>> PostgresStore::open(const std::string& url) {
  return open(url, latest_schema_version());
}

base::Result<std::unique_ptr<PostgresStore>> PostgresStore::open(const std::string& url,
                                                                 int target_version) {
  auto c = postgres::Connection::connect(url);
  if (!c) return std::move(c).error();
  std::unique_ptr<PostgresStore> store(new PostgresStore(std::move(*c)));
  if (auto s = store->migrate(target_version); !s) return std::move(s).error();
  return store;
}

base::Status PostgresStore::migrate(int target_version) {
  Transaction tx(*c_);
  if (auto s = tx.begin(); !s) return s;
  for (const std::string& sql :
       {std::string(kMigrationLock), migrations_table_sql(SqlDialect::kPostgres)}) {
    if (auto r = c_->exec(sql); !r) return std::move(r).error();
  }
  auto r = c_->exec("SELECT COALESCE(MAX(version), 0) FROM schema_migrations");
  if (!r) return std::move(r).error();
  Reader row(r->get(), 0);
  const auto current = static_cast<int>(row.int64(0));

  auto pending = pending_migrations(current, target_version);
  if (!pending) return std::move(pending).error();
  for (const auto& m : *pending) {
    // A migration for SQLite's layout only is recorded here without a statement.
    if (const auto sql = migration_sql(m, SqlDialect::kPostgres); !sql.empty()) {
      if (auto applied = c_->exec(sql); !applied) {
        auto e = std::move(applied).error();
        e.message += " (migration " + std::to_string(m.version) + ")";
        return e;
      }
    }
    Params p;
    p.int64(m.version);
    p.int64(now_ms());
    auto recorded = c_->run(
        "migration", "INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)", p);
    if (!recorded) return std::move(recorded).error();
  }
  if (auto s = tx.commit(); !s) return s;
  version_ = pending->empty() ? current : pending->back().version;
  return base::Ok{};
}

base::Status PostgresStore::write_key(const KeyRecord& key, sql::Statement statement) {
  if (auto s = c_->ready(); !s) return s;
  Transaction tx(*c_);
  if (auto s = tx.begin(); !s) return s;
  Params p;
  sql::bind_key(key, p);
  auto r = c_->run(statement, p);
  if (!r) {
    auto e = std::move(r).error();
    if (e.code == ErrorCode::kConflict) {
      e.message = e.detail.find("virtual_keys_hash") != std::string::npos
                      ? "storage: another key has the same secret as key " + key.id
                      : "storage: a key with id " + key.id + " exists already";
    }
    return e;
  }
  if (statement == sql::Statement::kUpdateKey && affected_rows(r->get()) == 0) {
    return base::make_error(ErrorCode::kNotFound, "storage: there is no key " + key.id);
  }
  if (auto bumped = c_->run(sql::Statement::kBumpKeysVersion, Params{}); !bumped) {
    return std::move(bumped).error();
  }
  return tx.commit();
}

base::Status PostgresStore::insert_key(const KeyRecord& key) {
  return write_key(key, sql::Statement::kInsertKey);
}

base::Status PostgresStore::update_key(const KeyRecord& key) {
  return write_key(key, sql::Statement::kUpdateKey);
}

base::Result<std::optional<KeyRecord>> PostgresStore::find_key(const std::string& id) {
  if (auto s = c_->ready(); !s) return std::move(s).error();
  std::string scratch;
  Params params;
  params.text(sql::clean_text(id, scratch));
  auto r = c_->run(sql::Statement::kFindKey, params);
  if (!r) return std::move(r).error();
  if (PQntuples(r->get()) == 0) return std::optional<KeyRecord>{};
  Reader row(r->get(), 0);
  auto key = sql::read_key(row);
  if (!key) return std::move(key).error();
  return std::optional<KeyRecord>(std::move(*key));
}

base::Result<std::vector<KeyRecord>> PostgresStore::keys() {
  if (auto s = c_->ready(); !s) return std::move(s).error();
  auto r = c_->run(sql::Statement::kListKeys, Params{});
  if (!r) return std::move(r).error();
  std::vector<KeyRecord> out;
  const int n = PQntuples(r->get());
  out.reserve(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) {
    Reader row(r->get(), i);
    auto key = sql::read_key(row);
    if (!key) return std::move(key).error();
    out.push_back(std::move(*key));
  }
  return out;
}

base::Result<std::int64_t> PostgresStore::keys_version() {
  if (auto s = c_->ready(); !s) return std::move(s).error();
  auto r = c_->run(sql::Statement::kKeysVersion, Params{});
  if (!r) return std::move(r).error();
  if (PQntuples(r->get()) != 1) {
    return base::make_error(ErrorCode::kInternal, "storage: the keys version is missing");
  }
  Reader row(r->get(), 0);
  return row.int64(0);
}

// PostgreSQL looks every record up (ON CONFLICT DO NOTHING) whatever `stored` says: the primary
// key's index is maintained anyway.
base::Result<std::int64_t> PostgresStore::append(std::span<const AuditRecord> records, Stored) {
  if (records.empty()) return std::int64_t{0};
  if (auto s = c_->ready(); !s) return std::move(s).error();
  static const std::array<std::string, kChunkRows.size()> kChunkSql = [] {
    std::array<std::string, kChunkRows.size()> sql;
    for (std::size_t i = 0; i < kChunkRows.size(); ++i) {
      sql[i] = sql::insert_audit_sql(kChunkRows[i], true);
    }
    return sql;
  }();
  Transaction tx(*c_);
  if (auto s = tx.begin(); !s) return std::move(s).error();
  std::int64_t written = 0;
  sql::KeySpendBatch spend;
  std::size_t next = 0;
  while (next < records.size()) {
    std::size_t chunk = 0;
    while (static_cast<std::size_t>(kChunkRows[chunk]) > records.size() - next) ++chunk;
    const auto rows = static_cast<std::size_t>(kChunkRows[chunk]);
    Params p;
    for (std::size_t i = 0; i < rows; ++i) sql::bind_audit(records[next + i], p);
    next += rows;
    auto r = c_->run(sql::statement_name('a', rows), kChunkSql[chunk], p);
    if (!r) return std::move(r).error();
    // RETURNING lists the rows inserted; a request_id stored already (or twice in the batch)
    // returns nothing more and counts nothing more.
    const int n = PQntuples(r->get());
    for (int i = 0; i < n; ++i) {
      Reader row(r->get(), i);
      spend.add(row.text(0), row.int64(1), row.real(2));
      if (!row.ok()) {
        return base::make_error(ErrorCode::kInternal, "storage: unreadable appended record");
      }
    }
    written += n;
  }
  for (const auto& [key_day, sums] : spend.days()) {
    Params p;
    p.text(key_day.first);
    p.int64(key_day.second);
    p.real(sums.first);
    p.int64(sums.second);
    if (auto r = c_->run(sql::Statement::kAddKeySpend, p); !r) return std::move(r).error();
  }
  if (auto s = tx.commit(); !s) return std::move(s).error();
  return written;
}

base::Result<std::vector<AuditRecord>> PostgresStore::requests(const AuditFilter& filter) {
  if (auto s = c_->ready(); !s) return std::move(s).error();
  const unsigned mask = sql::filter_mask(filter);
  Params p;
  sql::bind_filter(filter, p);
  auto r = c_->run(sql::statement_name('r', mask), sql::requests_sql(mask), p);
  if (!r) return std::move(r).error();
  std::vector<AuditRecord> out;
  const int n = PQntuples(r->get());
  out.reserve(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) {
    Reader row(r->get(), i);
    auto record = sql::read_audit(row);
    if (!record) return std::move(record).error();
    out.push_back(std::move(*record));
  }
  return out;
}

base::Result<std::vector<SpendRow>> PostgresStore::spend(SpendBy by, std::optional<Millis> since,
                                                         std::optional<Millis> until) {
  if (auto s = c_->ready(); !s) return std::move(s).error();
  Params p;
  sql::bind_time_range(since, until, p);
  auto r = c_->run(sql::spend_statement(by), p);
  if (!r) return std::move(r).error();
  sql::SpendFold fold(by);
  const int n = PQntuples(r->get());
  for (int i = 0; i < n; ++i) {
    Reader row(r->get(), i);
    fold.add(row);
    if (!row.ok()) {
      return base::make_error(ErrorCode::kInternal, "storage: unreadable values in spend");
    }
  }
  return fold.finish();
}

base::Result<double> PostgresStore::key_spend(const std::string& key_id, Millis since) {
  if (auto s = c_->ready(); !s) return std::move(s).error();
  std::string scratch;
  Params p;
  p.text(sql::clean_text(key_id, scratch));
  p.int64(sql::utc_day_start(since));
  auto r = c_->run(sql::Statement::kKeySpend, p);
  if (!r) return std::move(r).error();
  Reader row(r->get(), 0);
  const double spent = row.real(0);
  if (!row.ok()) return base::make_error(ErrorCode::kInternal, "storage: unreadable key spend");
  return spent;
}

base::Result<std::int64_t> PostgresStore::prune(Millis before) {
  if (auto s = c_->ready(); !s) return std::move(s).error();
  Params p;
  sql::bind_time_range(std::nullopt, before, p);
  auto r = c_->run(sql::Statement::kPrune, p);
  if (!r) return std::move(r).error();
  return affected_rows(r->get());
}

}  // namespace shepherd::storage
