// What the two SQL backends share, so that they differ only in how they talk to their database:
// the text of every statement, how record fields are bound to parameters and read back from
// columns, and the aggregation behind Store::spend(). Pure: no I/O; used on the store's thread.
//
// Statements number their parameters $1, $2, ... (PostgreSQL's form; for SQLite, sqlite_sql()
// rewrites them as ?1, ?2, ...). Only constant SQL text is ever built here: every value reaches
// the database as a bound parameter.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/result.hpp"
#include "storage/records.hpp"

namespace shepherd::storage::sql {

// Where a statement's parameters go, in order. Text passed to text() is copied; text passed to
// text_ref() must stay valid until the statement has run (SQLite then binds it without a copy).
class ParamSink {
 public:
  virtual void null() = 0;
  virtual void int64(std::int64_t v) = 0;
  virtual void real(double v) = 0;
  virtual void boolean(bool v) = 0;
  virtual void text(std::string_view v) = 0;
  virtual void text_ref(std::string_view v) { text(v); }

 protected:
  ~ParamSink() = default;
};

// One row of a result; columns are numbered from 0. A value that cannot be read (a malformed
// number) reads as 0 and clears ok().
class RowSource {
 public:
  virtual bool is_null(int col) = 0;
  virtual std::int64_t int64(int col) = 0;
  virtual double real(int col) = 0;
  virtual bool boolean(int col) = 0;
  virtual std::string text(int col) = 0;
  virtual bool ok() const = 0;

 protected:
  ~RowSource() = default;
};

// The fixed statements. Each is prepared once per connection.
enum class Statement {
  kInsertKey,        // bind_key()
  kUpdateKey,        // bind_key(); changes nothing when the id is unknown
  kFindKey,          // $1 id; key columns (read_key())
  kListKeys,         // key columns, oldest first
  kBumpKeysVersion,  // advances 'keys_version'
  kKeysVersion,      // one row: the value of 'keys_version'
  kInsertAudit,      // bind_audit(); inserts nothing when the request_id is stored already
  kAddKeySpend,      // $1 key_id, $2 day, $3 cost_usd, $4 requests: adds to the day's row
  kKeySpend,         // $1 key_id, $2 first day: one row, the sum of cost_usd
  kPrune,            // bind_time_range(nullopt, before)
  kSpendByModel,     // bind_time_range(since, until): spend columns (SpendFold)
  kSpendByKey,
  kSpendByProvider,
  kSpendByDay,
};

std::string statement_sql(Statement s);
// The name a statement is prepared under: `kind` ('s' for a Statement, 'r' for a requests query,
// 'a' for a multi-row insert) and its number.
std::string statement_name(char kind, std::size_t n);
Statement spend_statement(SpendBy by);

// `sql` with each $N parameter written ?N, SQLite's numbered form.
std::string sqlite_sql(std::string_view sql);

// kInsertAudit for `rows` records in one statement (parameters of record i start at
// i * kAuditColumns + 1), optionally RETURNING key_id, arrived_at, cost_usd of each row inserted.
inline constexpr int kAuditColumns = 24;
std::string insert_audit_sql(int rows, bool returning);

// A request id starts with the time it arrived: "req_" and the Unix time in milliseconds as 12
// lower-case hex digits (pipeline/context.cpp), then 16 more. The audit table has no index on
// arrived_at: a time range reads a range of the primary key, from id_floor(since - kIdSlack) to
// id_floor(until + kIdSlack), and tests arrived_at exactly within it. The slack covers ids made
// a little before their arrived_at (by builds before ids and arrived_at shared one reading).
inline constexpr Millis kIdSlack = 60'000;
// The smallest id of time `t` (clamped to 0; past the 12 digits, one above every id).
std::string id_floor(Millis t);
// The id range of records that arrived from `since` on: ids >= first_id_since(since); of those
// that arrived before `until`: ids < id_bound_until(until).
std::string first_id_since(Millis since);
std::string id_bound_until(Millis until);
// Four parameters: the id range, then the arrived_at range [since, until), each end open when
// not given.
void bind_time_range(std::optional<Millis> since, std::optional<Millis> until, ParamSink& params);

// The query behind Store::requests() for the filter fields `filter` sets (filter_mask()), and its
// parameters. Newest first; the records are read with read_audit().
unsigned filter_mask(const AuditFilter& filter);
std::string requests_sql(unsigned mask);
void bind_filter(const AuditFilter& filter, ParamSink& params);

void bind_key(const KeyRecord& key, ParamSink& params);
base::Result<KeyRecord> read_key(RowSource& row);
// Binds `record`'s text by reference (text_ref()): it must outlive the statement's execution.
void bind_audit(const AuditRecord& record, ParamSink& params);
base::Result<AuditRecord> read_audit(RowSource& row);

// AuditFilter::limit as the query uses it: at most 10000, and 0 for a negative limit.
std::int64_t clamp_limit(std::int64_t limit);

// 00:00 UTC of the day holding `t`.
Millis utc_day_start(Millis t);
// The UTC day holding `t` as YYYY-MM-DD.
std::string utc_date(Millis t);

// `text` when it is valid UTF-8 without NUL bytes (what PostgreSQL's text accepts); otherwise a
// copy in `scratch` with each NUL and each invalid sequence replaced by U+FFFD, so that a record
// carrying a client's malformed bytes is stored, not refused (the same on both backends).
std::string_view clean_text(std::string_view text, std::string& scratch);

// A number that is not finite is stored as 0: SQLite would store NaN as NULL and break the
// NOT NULL constraint, refusing the whole batch.
double finite_or_zero(double v);

// What the records inserted by one append() add to key_spend_daily, one entry per key and day.
class KeySpendBatch {
 public:
  using Sums = std::pair<double, std::int64_t>;  // cost, requests
  // Orders (key_id, day) pairs, and finds them by string_view without building a string.
  struct Less {
    using is_transparent = void;
    template <typename A, typename B>
    bool operator()(const A& a, const B& b) const {
      const std::string_view ka(a.first), kb(b.first);
      return ka < kb || (ka == kb && a.second < b.second);
    }
  };
  using Days = std::map<std::pair<std::string, Millis>, Sums, Less>;

  KeySpendBatch() = default;
  // Not copied: last_ points into days_.
  KeySpendBatch(const KeySpendBatch&) = delete;
  KeySpendBatch& operator=(const KeySpendBatch&) = delete;

  void add(std::string_view key_id, Millis time, double cost_usd);
  // (key_id, day) -> sums.
  const Days& days() const { return days_; }

 private:
  Days days_;
  Days::iterator last_ = days_.end();  // the entry added to last
};

// Store::spend() from the rows of a spend statement, or from records.
class SpendFold {
 public:
  explicit SpendFold(SpendBy by) : by_(by) {}

  void add(RowSource& row);
  // A record read back whole (SQLite's blocks).
  void add(const AuditRecord& record);
  // The groups ordered as Store::spend() promises.
  std::vector<SpendRow> finish();

 private:
  void add(std::string group, std::int64_t latency_us, bool error, std::int64_t prompt_tokens,
           std::int64_t completion_tokens, double cost_usd, double list_cost_usd);

  struct Group {
    SpendRow row;
    std::int64_t latency_sum_us = 0;
    std::vector<std::int64_t> latencies_us;
  };

  SpendBy by_;
  std::map<std::string, Group> groups_;
};

}  // namespace shepherd::storage::sql
