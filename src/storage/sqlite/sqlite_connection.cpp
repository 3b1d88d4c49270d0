#include "storage/sqlite/sqlite_connection.hpp"

#include <sqlite3.h>

#include <filesystem>
#include <mutex>

namespace shepherd::storage::sqlite {

namespace {

using base::ErrorCode;

// SQLITE_TRANSIENT without its C cast: SQLite copies the value before the bind call returns.
const sqlite3_destructor_type kCopy =
    reinterpret_cast<sqlite3_destructor_type>(static_cast<std::intptr_t>(-1));

// SQLite counts every allocation for sqlite3_status() under a process-wide mutex; nothing reads
// the counts, and on the append path the mutex cost a few per cent. Only possible before SQLite
// initialises (otherwise a harmless SQLITE_MISUSE).
void configure_sqlite() {
  static std::once_flag once;
  std::call_once(once, [] { sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0); });
}

}  // namespace

base::Result<std::unique_ptr<Connection>> Connection::open(const std::string& path) {
  configure_sqlite();
  if (path != ":memory:") {
    // SQLite would only say "unable to open database file". The folder is not created: a typo
    // in the config should not scatter databases.
    const auto folder = std::filesystem::absolute(std::filesystem::path(path)).parent_path();
    std::error_code ec;
    if (!std::filesystem::is_directory(folder, ec)) {
      return base::make_error(ErrorCode::kUnavailable, "storage: the folder " + folder.string() +
                                                           " of the SQLite database " + path +
                                                           " does not exist");
    }
  }
  sqlite3* db = nullptr;
  // Not SQLITE_OPEN_URI: the path is a file name, whatever it looks like.
  const int rc = sqlite3_open_v2(
      path.c_str(), &db,
      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE,
      nullptr);
  // Owned from here: SQLite hands out a connection even when opening failed.
  std::unique_ptr<Connection> c(new Connection(db, path));
  if (rc != SQLITE_OK) return c->error(rc, "cannot open the database");
  sqlite3_busy_timeout(db, static_cast<int>(kBusyTimeout.count()));
  for (const char* pragma : {
           "PRAGMA foreign_keys = ON",
           // Persistent in the file; a no-op once set; ignored in memory.
           "PRAGMA journal_mode = WAL",
           "PRAGMA synchronous = NORMAL",
           // A checkpoint (two fsyncs) every 4000 pages of WAL rather than 1000: a batch of 1000
           // audit records writes about 300 pages, and bench_audit_store spends half as long in
           // fsync. The WAL file grows to about 16 MB.
           "PRAGMA wal_autocheckpoint = 4000",
       }) {
    if (auto s = c->exec(pragma); !s) return std::move(s).error();
  }
  return c;
}

Connection::~Connection() {
  for (auto& [key, stmt] : statements_) sqlite3_finalize(stmt);
  sqlite3_close_v2(db_);
}

base::Result<sqlite3_stmt*> Connection::prepare(const std::string& key, const std::string& sql) {
  if (auto it = statements_.find(key); it != statements_.end()) return it->second;
  sqlite3_stmt* stmt = nullptr;
  const int rc = sqlite3_prepare_v3(db_, sql.c_str(), static_cast<int>(sql.size()) + 1,
                                    SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
  if (rc != SQLITE_OK) {
    sqlite3_finalize(stmt);
    return error(rc, "cannot prepare a statement");
  }
  statements_.emplace(key, stmt);
  return stmt;
}

base::Result<sqlite3_stmt*> Connection::prepare(sql::Statement s) {
  const auto key = sql::statement_name('s', static_cast<std::size_t>(s));
  if (auto it = statements_.find(key); it != statements_.end()) return it->second;
  return prepare(key, sql::sqlite_sql(sql::statement_sql(s)));
}

base::Status Connection::exec(const std::string& sql) {
  const int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) return error(rc, "cannot run " + sql.substr(0, 60));
  return base::Ok{};
}

std::int64_t Connection::changes() const { return sqlite3_changes64(db_); }

base::Error Connection::error(int rc, const std::string& what) const {
  // sqlite3_errmsg() describes the last failed call on this connection: the caller's.
  const char* text = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
  auto e = base::make_error(ErrorCode::kInternal,
                            "storage: " + what + " (SQLite database " + path_ + "): " + text,
                            "sqlite result code " + std::to_string(rc));
  switch (rc & 0xFF) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_FULL:
    case SQLITE_IOERR:
    case SQLITE_NOMEM:
      e.code = ErrorCode::kUnavailable;
      e.retryable = true;
      break;
    case SQLITE_CANTOPEN:
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_AUTH:
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      e.code = ErrorCode::kUnavailable;
      break;
    case SQLITE_CONSTRAINT:
      e.code = ErrorCode::kConflict;
      break;
    default:
      break;
  }
  return e;
}

StatementUse::~StatementUse() { sqlite3_reset(s_); }

WriteTransaction::~WriteTransaction() {
  // A failed statement may have rolled the transaction back already (SQLITE_FULL, ...).
  if (open_ && !sqlite3_get_autocommit(c_.db())) {
    sqlite3_exec(c_.db(), "ROLLBACK", nullptr, nullptr, nullptr);
  }
}

base::Status WriteTransaction::begin() {
  return run("begin", "BEGIN IMMEDIATE", "cannot start a transaction");
}

base::Status WriteTransaction::commit() {
  auto s = run("commit", "COMMIT", "cannot commit");
  if (s) open_ = false;
  return s;
}

base::Status WriteTransaction::run(const char* key, const char* sql, const char* what) {
  auto stmt = c_.prepare(key, sql);
  if (!stmt) return std::move(stmt).error();
  StatementUse use(*stmt);
  const int rc = sqlite3_step(*stmt);
  if (rc != SQLITE_DONE) return c_.error(rc, what);
  open_ = true;
  return base::Ok{};
}

void Binder::null() { check(sqlite3_bind_null(s_, ++i_)); }
void Binder::int64(std::int64_t v) { check(sqlite3_bind_int64(s_, ++i_, v)); }
void Binder::real(double v) { check(sqlite3_bind_double(s_, ++i_, v)); }
void Binder::boolean(bool v) { check(sqlite3_bind_int(s_, ++i_, v ? 1 : 0)); }
void Binder::text(std::string_view v) {
  // A null pointer would bind NULL, not the empty string.
  const char* data = v.data() ? v.data() : "";
  check(sqlite3_bind_text64(s_, ++i_, data, v.size(), kCopy, SQLITE_UTF8));
}
void Binder::text_ref(std::string_view v) {
  const char* data = v.data() ? v.data() : "";
  check(sqlite3_bind_text64(s_, ++i_, data, v.size(), SQLITE_STATIC, SQLITE_UTF8));
}
void Binder::blob_ref(std::string_view v) {
  const char* data = v.data() ? v.data() : "";
  check(sqlite3_bind_blob64(s_, ++i_, data, v.size(), SQLITE_STATIC));
}
void Binder::check(int rc) {
  if (rc != SQLITE_OK && rc_ == SQLITE_OK) rc_ = rc;
}

bool Reader::is_null(int col) { return sqlite3_column_type(s_, col) == SQLITE_NULL; }
std::int64_t Reader::int64(int col) { return sqlite3_column_int64(s_, col); }
double Reader::real(int col) { return sqlite3_column_double(s_, col); }
bool Reader::boolean(int col) { return sqlite3_column_int(s_, col) != 0; }
std::string Reader::text(int col) {
  const auto* p = sqlite3_column_text(s_, col);
  if (!p) return {};
  return std::string(reinterpret_cast<const char*>(p),
                     static_cast<std::size_t>(sqlite3_column_bytes(s_, col)));
}

}  // namespace shepherd::storage::sqlite
