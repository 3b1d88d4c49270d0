// The SQLite store: one connection to a database file (or a private in-memory database).
//
// Several processes may share the file (the CLI writes keys while a server runs): the database
// runs in WAL mode, so readers never wait for the writer, and every writing transaction begins
// IMMEDIATE, taking the write lock up front and waiting for it up to
// sqlite::Connection::kBusyTimeout; past that, the call fails with a retryable kUnavailable.
// synchronous=NORMAL: a committed transaction survives a crash of the process; a power loss may
// drop the last ones, never corrupt the file.
//
// Every statement is prepared once per connection (on first use) and reused.
#pragma once

#include <memory>
#include <string>

#include "storage/sql_common.hpp"
#include "storage/store.hpp"

struct sqlite3_stmt;

namespace shepherd::storage {

namespace sqlite {
class Connection;
}

// The file a sqlite:// URL names: "sqlite://PATH" with PATH relative to `base_dir` (or to the
// working directory when base_dir is empty), "sqlite:///ABS/PATH", or ":memory:" for
// "sqlite::memory:". kBadRequest for any other form.
base::Result<std::string> sqlite_path(const std::string& url, const std::string& base_dir);

class SqliteStore final : public Store {
 public:
  // Opens `path` (":memory:" for a private in-memory database; otherwise the file is created when
  // missing, but its folder must exist: kUnavailable naming it if not) and applies the
  // migrations up to `target_version` (only tests stop short of the latest).
  static base::Result<std::unique_ptr<SqliteStore>> open(const std::string& path,
                                                         int target_version);
  static base::Result<std::unique_ptr<SqliteStore>> open(const std::string& path);
  ~SqliteStore() override;

  const char* backend() const override { return "sqlite"; }
  int schema_version() override { return version_; }

  base::Status insert_key(const KeyRecord& key) override;
  base::Status update_key(const KeyRecord& key) override;
  base::Result<std::optional<KeyRecord>> find_key(const std::string& id) override;
  base::Result<std::vector<KeyRecord>> keys() override;
  base::Result<std::int64_t> keys_version() override;

  using Store::append;
  base::Result<std::int64_t> append(std::span<const AuditRecord> records, Stored stored) override;
  base::Result<std::vector<AuditRecord>> requests(const AuditFilter& filter) override;
  base::Result<std::vector<SpendRow>> spend(SpendBy by, std::optional<Millis> since,
                                            std::optional<Millis> until) override;
  base::Result<double> key_spend(const std::string& key_id, Millis since) override;
  base::Result<std::int64_t> prune(Millis before) override;

 private:
  explicit SqliteStore(std::unique_ptr<sqlite::Connection> c);

  base::Status migrate(int target_version);
  // insert_key() and update_key(): `statement` on `key`, and the keys version advanced.
  base::Status write_key(const KeyRecord& key, sql::Statement statement);

  // Moves the rows of audit_requests (written by builds before migration 5) into blocks: at
  // migration 5, and at every append, for a process of an earlier build still writing rows.
  base::Status move_audit_rows_to_blocks();
  // Writes `records` as one block: a new row, or the row `rowid` replaced.
  base::Status write_block(std::span<const AuditRecord> records,
                           std::optional<std::int64_t> rowid = std::nullopt);
  // append(Stored::kMaybe): the records whose ids are not stored yet, first occurrences only.
  base::Result<std::vector<AuditRecord>> unstored(std::span<const AuditRecord> records);
  static std::string_view blob(sqlite3_stmt* s, int col);
  base::Error unreadable_block() const;

  std::unique_ptr<sqlite::Connection> c_;
  int version_ = 0;
  std::string block_;  // the block being written; its storage is reused
};

}  // namespace shepherd::storage
