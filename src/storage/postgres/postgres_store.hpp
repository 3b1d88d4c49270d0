// The PostgreSQL store: one libpq connection (postgres:// or postgresql:// URI; connect_timeout
// is 5 s unless the URI sets one).
//
// Every statement is prepared once per session (on first use) and run with text parameters; the
// key hash is stored as 64 hex digits in TEXT, as in SQLite, so that both backends share one
// schema and one code path for keys. A lost connection fails the call that finds it with a
// retryable kUnavailable; the next call reconnects. Several Shepherd instances may share the
// database: migrations run under a transaction-scoped advisory lock, so that instances starting
// together apply them once.
#pragma once

#include <memory>
#include <string>

#include "storage/sql_common.hpp"
#include "storage/store.hpp"

namespace shepherd::storage {

namespace postgres {
class Connection;
}

class PostgresStore final : public Store {
 public:
  // Connects to `url` and applies the migrations up to `target_version` (only tests stop short
  // of the latest). Errors name the URL without its password.
  static base::Result<std::unique_ptr<PostgresStore>> open(const std::string& url,
                                                           int target_version);
  static base::Result<std::unique_ptr<PostgresStore>> open(const std::string& url);
  ~PostgresStore() override;

  const char* backend() const override { return "postgres"; }
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
  explicit PostgresStore(std::unique_ptr<postgres::Connection> c);

  base::Status migrate(int target_version);
  // insert_key() and update_key(): `statement` on `key`, and the keys version advanced.
  base::Status write_key(const KeyRecord& key, sql::Statement statement);

  std::unique_ptr<postgres::Connection> c_;
  int version_ = 0;
};

}  // namespace shepherd::storage
