// One SQLite connection as SqliteStore uses it: opened and set up for sharing the file between
// processes, with a cache of prepared statements and SQLite's result codes mapped to Errors.
// Used on one thread at a time, like the store that owns it.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "base/result.hpp"
#include "storage/sql_common.hpp"

struct sqlite3;
struct sqlite3_stmt;

namespace shepherd::storage::sqlite {

class Connection {
 public:
  // How long a writer waits for another connection's write lock before giving up.
  static constexpr std::chrono::milliseconds kBusyTimeout{5000};

  // Opens `path` (":memory:": a private in-memory database) and sets the connection up: WAL
  // journal, synchronous=NORMAL, foreign keys, the busy timeout. The file is created when
  // missing; its folder must exist (kUnavailable naming it otherwise).
  static base::Result<std::unique_ptr<Connection>> open(const std::string& path);
  ~Connection();

  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  sqlite3* db() const { return db_; }
  const std::string& path() const { return path_; }

  // The statement for `sql`, prepared on first use and cached under `key` for the connection's
  // life. The caller steps it inside a StatementUse.
  base::Result<sqlite3_stmt*> prepare(const std::string& key, const std::string& sql);
  base::Result<sqlite3_stmt*> prepare(sql::Statement s);

  // Runs constant SQL (no values), possibly several statements.
  base::Status exec(const std::string& sql);

  // The rows the last INSERT, UPDATE or DELETE changed.
  std::int64_t changes() const;

  // An Error for result code `rc` of the last call, while doing `what`: kConflict for a violated
  // constraint; kUnavailable, retryable, for a lock still held after the busy timeout, a full
  // disk or an I/O error; kUnavailable for a file that cannot be opened, written or read as a
  // database; kInternal otherwise.
  base::Error error(int rc, const std::string& what) const;

 private:
  Connection(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}

  sqlite3* db_;
  std::string path_;
  std::unordered_map<std::string, sqlite3_stmt*> statements_;
};

// Resets a cached statement when the call that used it ends, whatever the outcome, so that it
// holds no lock and is ready for the next call.
class StatementUse {
 public:
  explicit StatementUse(sqlite3_stmt* s) : s_(s) {}
  ~StatementUse();
  StatementUse(const StatementUse&) = delete;
  StatementUse& operator=(const StatementUse&) = delete;

 private:
  sqlite3_stmt* s_;
};

// A writing transaction: BEGIN IMMEDIATE takes the write lock at once (waiting up to the busy
// timeout), so that it never fails half-way for want of a lock. Rolled back unless committed.
class WriteTransaction {
 public:
  explicit WriteTransaction(Connection& c) : c_(c) {}
  ~WriteTransaction();
  WriteTransaction(const WriteTransaction&) = delete;
  WriteTransaction& operator=(const WriteTransaction&) = delete;

  base::Status begin();
  base::Status commit();

 private:
  base::Status run(const char* key, const char* sql, const char* what);

  Connection& c_;
  bool open_ = false;
};

// Binds parameters 1, 2, ... of a statement in order; the first failure is kept in rc().
class Binder final : public sql::ParamSink {
 public:
  explicit Binder(sqlite3_stmt* s) : s_(s) {}

  void null() override;
  void int64(std::int64_t v) override;
  void real(double v) override;
  void boolean(bool v) override;
  void text(std::string_view v) override;
  void text_ref(std::string_view v) override;
  // A blob bound without a copy: `v` must outlive the statement's execution.
  void blob_ref(std::string_view v);

  int rc() const { return rc_; }

 private:
  void check(int rc);

  sqlite3_stmt* s_;
  int i_ = 0;
  int rc_ = 0;
};

// The current row of a statement that returned SQLITE_ROW.
class Reader final : public sql::RowSource {
 public:
  explicit Reader(sqlite3_stmt* s) : s_(s) {}

  bool is_null(int col) override;
  std::int64_t int64(int col) override;
  double real(int col) override;
  bool boolean(int col) override;
  std::string text(int col) override;
  bool ok() const override { return true; }

 private:
  sqlite3_stmt* s_;
};

}  // namespace shepherd::storage::sqlite
