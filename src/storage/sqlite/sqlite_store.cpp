#include "storage/sqlite/sqlite_store.hpp"

#include <sqlite3.h>

#include <chrono>
#include <filesystem>
#include <limits>

#include "storage/migrations.hpp"
#include "storage/sqlite/sqlite_connection.hpp"

namespace shepherd::storage {

namespace {

using base::ErrorCode;
using sqlite::Binder;
using sqlite::Reader;
using sqlite::StatementUse;
using sqlite::WriteTransaction;

constexpr std::string_view kScheme = "sqlite://";
constexpr std::string_view kMemory = "sqlite::memory:";

Millis now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

base::Result<std::string> sqlite_path(const std::string& url, const std::string& base_dir) {
  if (url == kMemory) return std::string(":memory:");
  if (url.rfind(kScheme, 0) != 0 || url.size() == kScheme.size()) {
    return base::make_error(ErrorCode::kBadRequest,
                            "storage: expected sqlite://PATH (relative to the config's folder), "
                            "sqlite:///ABSOLUTE/PATH or sqlite::memory:");
  }
  std::filesystem::path path(url.substr(kScheme.size()));
  if (path.is_relative() && !base_dir.empty()) path = std::filesystem::path(base_dir) / path;
  return path.string();
}

SqliteStore::SqliteStore(std::unique_ptr<sqlite::Connection> c) : c_(std::move(c)) {}
SqliteStore::~SqliteStore() = default;

base::Result<std::unique_ptr<SqliteStore>> SqliteStore::open(const std::string& path) {
  return open(path, latest_schema_version());
}

base::Result<std::unique_ptr<SqliteStore>> SqliteStore::open(const std::string& path,
                                                             int target_version) {
  auto c = sqlite::Connection::open(path);
  if (!c) return std::move(c).error();
  std::unique_ptr<SqliteStore> store(new SqliteStore(std::move(*c)));
  if (auto s = store->migrate(target_version); !s) return std::move(s).error();
  return store;
}

base::Status SqliteStore::migrate(int target_version) {
  // The write lock serialises processes opening a new file together: the later one finds the
  // migrations applied. These statements run once, so they are not cached.
  WriteTransaction tx(*c_);
  if (auto s = tx.begin(); !s) return s;
  if (auto s = c_->exec(migrations_table_sql(SqlDialect::kSqlite)); !s) return s;

  struct Finalize {
    void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
  };
  sqlite3_stmt* raw = nullptr;
  int rc = sqlite3_prepare_v2(c_->db(), "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
                              -1, &raw, nullptr);
  std::unique_ptr<sqlite3_stmt, Finalize> read(raw);
  if (rc != SQLITE_OK || (rc = sqlite3_step(raw)) != SQLITE_ROW) {
    return c_->error(rc, "cannot read the schema version");
  }
  const int current = sqlite3_column_int(raw, 0);
  read.reset();

  auto pending = pending_migrations(current, target_version);
  if (!pending) {
    auto e = std::move(pending).error();
    e.message += " (SQLite database " + c_->path() + ")";
    return e;
  }
  rc = sqlite3_prepare_v2(c_->db(),
                          "INSERT INTO schema_migrations (version, applied_at) VALUES (?1, ?2)", -1,
                          &raw, nullptr);
  std::unique_ptr<sqlite3_stmt, Finalize> record(raw);
  if (rc != SQLITE_OK) return c_->error(rc, "cannot record a migration");
  for (const auto& m : *pending) {
    if (auto s = c_->exec(migration_sql(m, SqlDialect::kSqlite)); !s) {
      auto e = std::move(s).error();
      e.message += " (migration " + std::to_string(m.version) + ")";
      return e;
    }
    StatementUse use(raw);
    sqlite3_bind_int(raw, 1, m.version);
    sqlite3_bind_int64(raw, 2, now_ms());
    if (rc = sqlite3_step(raw); rc != SQLITE_DONE) {
      return c_->error(rc, "cannot record a migration");
    }
  }
  if (auto s = tx.commit(); !s) return s;
  version_ = pending->empty() ? current : pending->back().version;
  return base::Ok{};
}

base::Status SqliteStore::write_key(const KeyRecord& key, sql::Statement statement) {
  auto write = c_->prepare(statement);
  if (!write) return std::move(write).error();
  auto bump = c_->prepare(sql::Statement::kBumpKeysVersion);
  if (!bump) return std::move(bump).error();
  WriteTransaction tx(*c_);
  if (auto s = tx.begin(); !s) return s;
  {
    StatementUse use(*write);
    Binder b(*write);
    sql::bind_key(key, b);
    if (b.rc() != SQLITE_OK) return c_->error(b.rc(), "cannot bind a key");
    const int rc = sqlite3_step(*write);
    if ((rc & 0xFF) == SQLITE_CONSTRAINT) {
      const bool hash = std::string_view(sqlite3_errmsg(c_->db())).find("virtual_keys.hash") !=
                        std::string_view::npos;
      return base::make_error(ErrorCode::kConflict,
                              hash ? "storage: another key has the same secret as key " + key.id
                                   : "storage: a key with id " + key.id + " exists already");
    }
    if (rc != SQLITE_DONE) return c_->error(rc, "cannot write key " + key.id);
    if (statement == sql::Statement::kUpdateKey && c_->changes() == 0) {
      return base::make_error(ErrorCode::kNotFound, "storage: there is no key " + key.id);
    }
  }
  StatementUse use(*bump);
  if (const int rc = sqlite3_step(*bump); rc != SQLITE_DONE) {
    return c_->error(rc, "cannot advance the keys version");
  }
  return tx.commit();
}

base::Status SqliteStore::insert_key(const KeyRecord& key) {
  return write_key(key, sql::Statement::kInsertKey);
}

base::Status SqliteStore::update_key(const KeyRecord& key) {
  return write_key(key, sql::Statement::kUpdateKey);
}

base::Result<std::optional<KeyRecord>> SqliteStore::find_key(const std::string& id) {
  auto find = c_->prepare(sql::Statement::kFindKey);
  if (!find) return std::move(find).error();
  StatementUse use(*find);
  Binder b(*find);
  std::string scratch;
  b.text(sql::clean_text(id, scratch));
  if (b.rc() != SQLITE_OK) return c_->error(b.rc(), "cannot bind a key id");
  const int rc = sqlite3_step(*find);
  if (rc == SQLITE_DONE) return std::optional<KeyRecord>{};
  if (rc != SQLITE_ROW) return c_->error(rc, "cannot read a key");
  Reader row(*find);
  auto key = sql::read_key(row);
  if (!key) return std::move(key).error();
  return std::optional<KeyRecord>(std::move(*key));
}

base::Result<std::vector<KeyRecord>> SqliteStore::keys() {
  auto list = c_->prepare(sql::Statement::kListKeys);
  if (!list) return std::move(list).error();
  StatementUse use(*list);
  std::vector<KeyRecord> out;
  int rc;
  while ((rc = sqlite3_step(*list)) == SQLITE_ROW) {
    Reader row(*list);
    auto key = sql::read_key(row);
    if (!key) return std::move(key).error();
    out.push_back(std::move(*key));
  }
  if (rc != SQLITE_DONE) return c_->error(rc, "cannot list keys");
  return out;
}

base::Result<std::int64_t> SqliteStore::keys_version() {
  auto read = c_->prepare(sql::Statement::kKeysVersion);
  if (!read) return std::move(read).error();
  StatementUse use(*read);
  const int rc = sqlite3_step(*read);
  if (rc != SQLITE_ROW) return c_->error(rc, "cannot read the keys version");
  return static_cast<std::int64_t>(sqlite3_column_int64(*read, 0));
}

base::Result<std::int64_t> SqliteStore::append(std::span<const AuditRecord> records) {
  if (records.empty()) return std::int64_t{0};
  auto insert = c_->prepare(sql::Statement::kInsertAudit);
  if (!insert) return std::move(insert).error();
  auto add_spend = c_->prepare(sql::Statement::kAddKeySpend);
  if (!add_spend) return std::move(add_spend).error();
  WriteTransaction tx(*c_);
  if (auto s = tx.begin(); !s) return std::move(s).error();
  std::int64_t written = 0;
  sql::KeySpendBatch spend;
  std::string scratch;
  for (const auto& r : records) {
    StatementUse use(*insert);
    Binder b(*insert);
    sql::bind_audit(r, b);
    if (b.rc() != SQLITE_OK) return c_->error(b.rc(), "cannot bind an audit record");
    const int rc = sqlite3_step(*insert);
    if (rc != SQLITE_DONE) return c_->error(rc, "cannot append audit records");
    // ON CONFLICT DO NOTHING changed no row: the request_id is stored already, and its cost was
    // counted when it was.
    if (c_->changes() == 0) continue;
    ++written;
    spend.add(sql::clean_text(r.key_id, scratch), r.time, sql::finite_or_zero(r.cost_usd));
  }
  for (const auto& [key_day, sums] : spend.days()) {
    StatementUse use(*add_spend);
    Binder b(*add_spend);
    b.text(key_day.first);
    b.int64(key_day.second);
    b.real(sums.first);
    b.int64(sums.second);
    if (b.rc() != SQLITE_OK) return c_->error(b.rc(), "cannot bind key spend");
    if (const int rc = sqlite3_step(*add_spend); rc != SQLITE_DONE) {
      return c_->error(rc, "cannot add key spend");
    }
  }
  if (auto s = tx.commit(); !s) return std::move(s).error();
  return written;
}

base::Result<std::vector<AuditRecord>> SqliteStore::requests(const AuditFilter& filter) {
  const unsigned mask = sql::filter_mask(filter);
  auto query =
      c_->prepare(sql::statement_name('r', mask), sql::sqlite_sql(sql::requests_sql(mask)));
  if (!query) return std::move(query).error();
  StatementUse use(*query);
  Binder b(*query);
  sql::bind_filter(filter, b);
  if (b.rc() != SQLITE_OK) return c_->error(b.rc(), "cannot bind a filter");
  std::vector<AuditRecord> out;
  int rc;
  while ((rc = sqlite3_step(*query)) == SQLITE_ROW) {
    Reader row(*query);
    auto record = sql::read_audit(row);
    if (!record) return std::move(record).error();
    out.push_back(std::move(*record));
  }
  if (rc != SQLITE_DONE) return c_->error(rc, "cannot read audit records");
  return out;
}

base::Result<std::vector<SpendRow>> SqliteStore::spend(SpendBy by, std::optional<Millis> since,
                                                       std::optional<Millis> until) {
  auto query = c_->prepare(sql::spend_statement(by));
  if (!query) return std::move(query).error();
  StatementUse use(*query);
  Binder b(*query);
  sql::bind_time_range(since, until, b);
  if (b.rc() != SQLITE_OK) return c_->error(b.rc(), "cannot bind a time range");
  sql::SpendFold fold(by);
  int rc;
  while ((rc = sqlite3_step(*query)) == SQLITE_ROW) {
    Reader row(*query);
    fold.add(row);
  }
  if (rc != SQLITE_DONE) return c_->error(rc, "cannot read spend");
  return fold.finish();
}

base::Result<double> SqliteStore::key_spend(const std::string& key_id, Millis since) {
  auto query = c_->prepare(sql::Statement::kKeySpend);
  if (!query) return std::move(query).error();
  StatementUse use(*query);
  Binder b(*query);
  std::string scratch;
  b.text(sql::clean_text(key_id, scratch));
  b.int64(sql::utc_day_start(since));
  if (b.rc() != SQLITE_OK) return c_->error(b.rc(), "cannot bind a key id");
  const int rc = sqlite3_step(*query);
  if (rc != SQLITE_ROW) return c_->error(rc, "cannot read key spend");
  return sqlite3_column_double(*query, 0);
}

base::Result<std::int64_t> SqliteStore::prune(Millis before) {
  auto del = c_->prepare(sql::Statement::kPrune);
  if (!del) return std::move(del).error();
  StatementUse use(*del);
  Binder b(*del);
  sql::bind_time_range(std::nullopt, before, b);
  if (b.rc() != SQLITE_OK) return c_->error(b.rc(), "cannot bind a time");
  const int rc = sqlite3_step(*del);
  if (rc != SQLITE_DONE) return c_->error(rc, "cannot prune audit records");
  return c_->changes();
}

}  // namespace shepherd::storage
