// One libpq connection as PostgresStore uses it: connected with a default connect timeout,
// statements prepared once per session, values sent as text parameters, and libpq's failures
// mapped to Errors that never contain the password. Used on one thread at a time, like the store
// that owns it; every call blocks.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "base/result.hpp"
#include "storage/sql_common.hpp"

struct pg_conn;
struct pg_result;

namespace shepherd::storage::postgres {

struct ResultDeleter {
  void operator()(pg_result* r) const;
};
using PgResult = std::unique_ptr<pg_result, ResultDeleter>;

// Text parameters of one statement, in order. Numbers are written so that they read back equal
// (shortest round-trip form for doubles).
class Params final : public sql::ParamSink {
 public:
  void null() override;
  void int64(std::int64_t v) override;
  void real(double v) override;
  void boolean(bool v) override;
  void text(std::string_view v) override;

  int size() const { return static_cast<int>(values_.size()); }
  // Pointers into the values (nullptr for NULL), valid while this object is unchanged.
  std::vector<const char*> pointers() const;

 private:
  std::vector<std::string> values_;
  std::vector<bool> nulls_;
};

// One row of a result. Values are PostgreSQL's text output.
class Reader final : public sql::RowSource {
 public:
  Reader(const pg_result* r, int row) : r_(r), row_(row) {}

  bool is_null(int col) override;
  std::int64_t int64(int col) override;
  double real(int col) override;
  bool boolean(int col) override;
  std::string text(int col) override;
  bool ok() const override { return ok_; }

 private:
  const pg_result* r_;
  int row_;
  bool ok_ = true;
};

class Connection {
 public:
  // Used when the URL sets no connect_timeout.
  static constexpr int kConnectTimeoutSeconds = 5;

  // Connects to the PostgreSQL connection URI `url`. kBadRequest for a URL libpq cannot read;
  // kUnavailable (retryable) when the server cannot be reached or refuses the login.
  static base::Result<std::unique_ptr<Connection>> connect(const std::string& url);
  ~Connection();

  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Called before each store operation. A connection found lost by an earlier call is
  // re-established here (its prepared statements are gone with the old session and are prepared
  // again on next use); kUnavailable, retryable, when that fails.
  base::Status ready();

  // Runs constant SQL (no values), possibly several statements.
  base::Result<PgResult> exec(const std::string& sql);
  // Runs the statement prepared under `name` (preparing `sql` first if this session has not).
  base::Result<PgResult> run(const std::string& name, const std::string& sql, const Params& params);
  base::Result<PgResult> run(sql::Statement s, const Params& params);

  // An Error for a failed result (or, with none, the connection's last error), while doing
  // `what`: retryable kUnavailable when the connection is lost or the server is shutting down,
  // out of resources or gave up on a deadlock or serialisation conflict; kConflict for a unique
  // violation; kInternal otherwise. The message names the URL without its password.
  base::Error error(const pg_result* r, const std::string& what) const;

  // For the connection's owner: the transaction state is not idle.
  bool in_transaction() const;

 private:
  Connection(pg_conn* conn, std::string redacted_url, std::string password);

  base::Status set_up_session();
  // `text` with every occurrence of the password replaced, for messages.
  std::string scrub(std::string text) const;

  pg_conn* conn_;
  std::string redacted_url_;
  std::string password_;
  std::unordered_set<std::string> prepared_;
};

// A transaction: BEGIN now, ROLLBACK unless committed.
class Transaction {
 public:
  explicit Transaction(Connection& c) : c_(c) {}
  ~Transaction();
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;

  base::Status begin();
  base::Status commit();

 private:
  Connection& c_;
  bool open_ = false;
};

// The SQLSTATE of a failed result ("" when none), and the constraint it names.
std::string sqlstate(const pg_result* r);
std::string constraint_name(const pg_result* r);

}  // namespace shepherd::storage::postgres
