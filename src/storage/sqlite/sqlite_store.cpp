#include "storage/sqlite/sqlite_store.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <limits>
#include <unordered_map>

#include "storage/migrations.hpp"
#include "storage/sqlite/audit_block.hpp"
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
    if (m.version == 5) {
      if (auto s = move_audit_rows_to_blocks(); !s) return s;
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

base::Status SqliteStore::move_audit_rows_to_blocks() {
  // Newest first is the query's order; blocks take records in any order.
  auto rows = c_->prepare("b_legacy", sql::sqlite_sql(sql::requests_sql(0)));
  if (!rows) return std::move(rows).error();
  constexpr std::size_t kBlock = 512;
  std::vector<AuditRecord> batch;
  std::size_t moved = 0;
  {
    StatementUse use(*rows);
    sqlite3_bind_int64(*rows, 1, -1);  // no limit
    int rc;
    while ((rc = sqlite3_step(*rows)) == SQLITE_ROW) {
      Reader row(*rows);
      auto record = sql::read_audit(row);
      if (!record) return std::move(record).error();
      batch.push_back(std::move(*record));
      if (batch.size() == kBlock) {
        if (auto s = write_block(batch); !s) return s;
        moved += batch.size();
        batch.clear();
      }
    }
    if (rc != SQLITE_DONE) return c_->error(rc, "cannot read audit records to move");
  }
  if (!batch.empty()) {
    if (auto s = write_block(batch); !s) return s;
    moved += batch.size();
  }
  if (moved == 0) return base::Ok{};
  auto clear = c_->prepare("b_legacy_clear", "DELETE FROM audit_requests");
  if (!clear) return std::move(clear).error();
  StatementUse use(*clear);
  if (const int rc = sqlite3_step(*clear); rc != SQLITE_DONE) {
    return c_->error(rc, "cannot clear moved audit records");
  }
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

base::Result<std::int64_t> SqliteStore::append(std::span<const AuditRecord> records,
                                               Stored stored) {
  if (records.empty()) return std::int64_t{0};
  auto add_spend = c_->prepare(sql::Statement::kAddKeySpend);
  if (!add_spend) return std::move(add_spend).error();
  WriteTransaction tx(*c_);
  if (auto s = tx.begin(); !s) return std::move(s).error();
  std::vector<AuditRecord> fresh;
  if (stored == Stored::kMaybe) {
    auto unseen = unstored(records);
    if (!unseen) return std::move(unseen).error();
    fresh = std::move(*unseen);
    records = fresh;
  }
  if (!records.empty()) {
    if (auto s = write_block(records); !s) return std::move(s).error();
  }
  // Records a process of an earlier build wrote as rows (it may run on during an upgrade); their
  // key spend was counted when they were written.
  if (auto s = move_audit_rows_to_blocks(); !s) return std::move(s).error();
  sql::KeySpendBatch spend;
  std::string scratch;
  for (const auto& r : records) {
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
  return static_cast<std::int64_t>(records.size());
}

base::Status SqliteStore::write_block(std::span<const AuditRecord> records,
                                      std::optional<std::int64_t> rowid) {
  auto write = rowid ? c_->prepare("b_rewrite",
                                   "UPDATE audit_blocks SET first_id = ?1, last_id = ?2, "
                                   "min_time = ?3, max_time = ?4, records = ?5, data = ?6 "
                                   "WHERE rowid = ?7")
                     : c_->prepare("b_insert",
                                   "INSERT INTO audit_blocks (first_id, last_id, min_time, "
                                   "max_time, records, data) VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
  if (!write) return std::move(write).error();
  block_.clear();
  sqlite::BlockBounds bounds;
  sqlite::encode_audit_block(records, block_, bounds);
  StatementUse use(*write);
  Binder b(*write);
  b.text_ref(bounds.first_id);
  b.text_ref(bounds.last_id);
  b.int64(bounds.min_time);
  b.int64(bounds.max_time);
  b.int64(bounds.records);
  b.blob_ref(block_);
  if (rowid) b.int64(*rowid);
  if (b.rc() != SQLITE_OK) return c_->error(b.rc(), "cannot bind an audit block");
  if (const int rc = sqlite3_step(*write); rc != SQLITE_DONE) {
    return c_->error(rc, "cannot write audit records");
  }
  return base::Ok{};
}

base::Result<std::vector<AuditRecord>> SqliteStore::unstored(std::span<const AuditRecord> records) {
  // The batch's ids, first occurrences only, and the range they span.
  std::unordered_map<std::string_view, bool> seen;  // id -> stored already
  std::vector<const AuditRecord*> unique;
  std::string scratch;
  for (const auto& r : records) {
    if (seen.emplace(r.request_id, false).second) unique.push_back(&r);
  }
  const auto [lo, hi] = std::minmax_element(
      unique.begin(), unique.end(),
      [](const AuditRecord* a, const AuditRecord* b) { return a->request_id < b->request_id; });
  auto blocks = c_->prepare("b_overlap",
                            "SELECT data FROM audit_blocks WHERE last_id >= ?1 AND first_id <= ?2");
  if (!blocks) return std::move(blocks).error();
  {
    StatementUse use(*blocks);
    Binder b(*blocks);
    b.text(sql::clean_text((*lo)->request_id, scratch));
    b.text(sql::clean_text((*hi)->request_id, scratch));
    if (b.rc() != SQLITE_OK) return c_->error(b.rc(), "cannot bind an id range");
    AuditRecord r;
    int rc;
    while ((rc = sqlite3_step(*blocks)) == SQLITE_ROW) {
      sqlite::AuditBlockReader reader(blob(*blocks, 0));
      while (reader.next(r)) {
        if (auto it = seen.find(r.request_id); it != seen.end()) it->second = true;
      }
      if (!reader.ok()) return unreadable_block();
    }
    if (rc != SQLITE_DONE) return c_->error(rc, "cannot read audit blocks");
  }
  std::vector<AuditRecord> out;
  for (const AuditRecord* r : unique) {
    if (!seen.find(r->request_id)->second) out.push_back(*r);
  }
  return out;
}

namespace {

// Which records a query reads: the conditions the PostgreSQL backend's SQL applies, tested on
// records read back from blocks.
struct Scope {
  std::optional<std::string> first_id;               // request_id >= first_id
  std::optional<std::string> id_bound;               // request_id < id_bound
  Millis from = std::numeric_limits<Millis>::min();  // time >= from
  Millis to = std::numeric_limits<Millis>::max();    // time < to

  // sql::bind_time_range()'s range: both id bounds, always.
  static Scope range(std::optional<Millis> since, std::optional<Millis> until) {
    Scope s;
    s.from = since.value_or(s.from);
    s.to = until.value_or(s.to);
    s.first_id = sql::first_id_since(s.from);
    s.id_bound = sql::id_bound_until(s.to);
    return s;
  }
  // A filter's range: id bounds only for the ends it sets.
  static Scope of(const AuditFilter& f) {
    Scope s;
    if (f.since) {
      s.from = *f.since;
      s.first_id = sql::first_id_since(*f.since);
    }
    if (f.until) {
      s.to = *f.until;
      s.id_bound = sql::id_bound_until(*f.until);
    }
    return s;
  }

  bool holds(const AuditRecord& r) const {
    return r.time >= from && r.time < to && (!first_id || r.request_id >= *first_id) &&
           (!id_bound || r.request_id < *id_bound);
  }
  // Binds the four parameters of kBlocksIn. An open lower end is "", below every id, so that the
  // last_id index serves a range either way.
  void bind(Binder& b) const {
    b.text(first_id ? std::string_view(*first_id) : std::string_view());
    if (id_bound) {
      b.text(*id_bound);
    } else {
      b.null();
    }
    b.int64(from);
    b.int64(to);
  }
};

// The blocks that may hold records of a Scope, newest last id first.
constexpr const char* kBlocksIn =
    "SELECT last_id, data, rowid FROM audit_blocks WHERE last_id >= ?1 AND "
    "(?2 IS NULL OR first_id < ?2) AND max_time >= ?3 AND min_time < ?4 ORDER BY last_id DESC";

// `f` with its text as stored (sql::clean_text()), as SQL compares a bound filter value.
AuditFilter cleaned(AuditFilter f) {
  std::string scratch;
  for (auto* text : {&f.model, &f.key_id, &f.client_request_id}) {
    if (*text) **text = std::string(sql::clean_text(**text, scratch));
  }
  return f;
}

// `f` (cleaned()) holds for `r`, times aside.
bool matches(const AuditFilter& f, const AuditRecord& r) {
  return (!f.model || r.model == *f.model) && (!f.key_id || r.key_id == *f.key_id) &&
         (!f.status || r.status == *f.status) &&
         (!f.client_request_id || r.client_request_id == *f.client_request_id);
}

}  // namespace

std::string_view SqliteStore::blob(sqlite3_stmt* s, int col) {
  const auto* data = static_cast<const char*>(sqlite3_column_blob(s, col));
  return {data, static_cast<std::size_t>(sqlite3_column_bytes(s, col))};
}

base::Error SqliteStore::unreadable_block() const {
  return base::make_error(
      ErrorCode::kInternal,
      "storage: an audit block is unreadable (SQLite database " + c_->path() + ")");
}

base::Result<std::vector<AuditRecord>> SqliteStore::requests(const AuditFilter& given) {
  const AuditFilter filter = cleaned(given);
  const auto limit = static_cast<std::size_t>(sql::clamp_limit(filter.limit));
  if (limit == 0) return std::vector<AuditRecord>{};
  auto query = c_->prepare("b_in", kBlocksIn);
  if (!query) return std::move(query).error();
  StatementUse use(*query);
  Binder b(*query);
  const Scope scope = Scope::of(filter);
  scope.bind(b);
  if (b.rc() != SQLITE_OK) return c_->error(b.rc(), "cannot bind a filter");
  // The newest `limit` records seen so far, in a heap whose top is the oldest of them. Blocks
  // come newest last id first, so once the heap is full, a block whose last id is older than the
  // top holds nothing newer, and neither does any block after it.
  std::vector<AuditRecord> kept;
  const auto newer = [](const AuditRecord& x, const AuditRecord& y) {
    return x.request_id > y.request_id;
  };
  AuditRecord r;
  int rc;
  while ((rc = sqlite3_step(*query)) == SQLITE_ROW) {
    const auto last_id =
        std::string_view(reinterpret_cast<const char*>(sqlite3_column_text(*query, 0)),
                         static_cast<std::size_t>(sqlite3_column_bytes(*query, 0)));
    if (kept.size() == limit && last_id < kept.front().request_id) break;
    sqlite::AuditBlockReader reader(blob(*query, 1));
    while (reader.next(r)) {
      if (!scope.holds(r) || !matches(filter, r)) continue;
      if (kept.size() == limit) {
        if (r.request_id < kept.front().request_id) continue;
        std::pop_heap(kept.begin(), kept.end(), newer);
        kept.back() = std::move(r);
      } else {
        kept.push_back(std::move(r));
      }
      std::push_heap(kept.begin(), kept.end(), newer);
    }
    if (!reader.ok()) return unreadable_block();
  }
  // SQLITE_ROW: stopped early.
  if (rc != SQLITE_DONE && rc != SQLITE_ROW) return c_->error(rc, "cannot read audit records");
  std::sort(kept.begin(), kept.end(), newer);
  return kept;
}

base::Result<std::vector<SpendRow>> SqliteStore::spend(SpendBy by, std::optional<Millis> since,
                                                       std::optional<Millis> until) {
  auto query = c_->prepare("b_in", kBlocksIn);
  if (!query) return std::move(query).error();
  StatementUse use(*query);
  Binder b(*query);
  const Scope scope = Scope::range(since, until);
  scope.bind(b);
  if (b.rc() != SQLITE_OK) return c_->error(b.rc(), "cannot bind a time range");
  sql::SpendFold fold(by);
  AuditRecord r;
  int rc;
  while ((rc = sqlite3_step(*query)) == SQLITE_ROW) {
    sqlite::AuditBlockReader reader(blob(*query, 1));
    while (reader.next(r)) {
      if (scope.holds(r)) fold.add(r);
    }
    if (!reader.ok()) return unreadable_block();
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
  const Scope scope = Scope::range(std::nullopt, before);
  // kBlocksIn's conditions, led by the one the min_time index serves: only old blocks are read.
  auto query = c_->prepare("b_straddle",
                           "SELECT last_id, data, rowid FROM audit_blocks WHERE min_time < ?4 AND "
                           "last_id >= ?1 AND (?2 IS NULL OR first_id < ?2) AND "
                           "max_time >= ?3");
  if (!query) return std::move(query).error();
  auto drop = c_->prepare("b_drop", "DELETE FROM audit_blocks WHERE rowid = ?1");
  if (!drop) return std::move(drop).error();
  // Blocks whose every record is in scope go without being read, found through the last_id index
  // ("+min_time" keeps the planner off the min_time index, whose range here is everything).
  constexpr const char* kWhole =
      "FROM audit_blocks WHERE first_id >= ?1 AND last_id < ?2 AND +min_time >= ?3 AND "
      "max_time < ?4";
  auto count_whole =
      c_->prepare("b_count_whole", std::string("SELECT COALESCE(SUM(records), 0) ") + kWhole);
  if (!count_whole) return std::move(count_whole).error();
  auto drop_whole = c_->prepare("b_drop_whole", std::string("DELETE ") + kWhole);
  if (!drop_whole) return std::move(drop_whole).error();
  WriteTransaction tx(*c_);
  if (auto s = tx.begin(); !s) return std::move(s).error();
  std::int64_t pruned = 0;
  for (sqlite3_stmt* statement : {*count_whole, *drop_whole}) {
    StatementUse use(statement);
    Binder b(statement);
    scope.bind(b);
    if (b.rc() != SQLITE_OK) return c_->error(b.rc(), "cannot bind a time");
    const int rc = sqlite3_step(statement);
    if (rc == SQLITE_ROW) {
      pruned = sqlite3_column_int64(statement, 0);
    } else if (rc != SQLITE_DONE) {
      return c_->error(rc, "cannot prune audit records");
    }
  }
  // Blocks that hold some records in scope: dropped, or written again with the rest.
  struct Change {
    std::int64_t rowid;
    std::vector<AuditRecord> rest;
  };
  std::vector<Change> changes;
  {
    StatementUse use(*query);
    Binder b(*query);
    scope.bind(b);
    if (b.rc() != SQLITE_OK) return c_->error(b.rc(), "cannot bind a time");
    AuditRecord r;
    int rc;
    while ((rc = sqlite3_step(*query)) == SQLITE_ROW) {
      sqlite::AuditBlockReader reader(blob(*query, 1));
      Change change{sqlite3_column_int64(*query, 2), {}};
      std::int64_t old = 0;
      while (reader.next(r)) {
        if (scope.holds(r)) {
          ++old;
        } else {
          change.rest.push_back(r);
        }
      }
      if (!reader.ok()) return unreadable_block();
      if (old == 0) continue;
      pruned += old;
      changes.push_back(std::move(change));
    }
    if (rc != SQLITE_DONE) return c_->error(rc, "cannot read audit blocks");
  }
  for (const auto& change : changes) {
    if (change.rest.empty()) {
      StatementUse use(*drop);
      sqlite3_bind_int64(*drop, 1, change.rowid);
      if (const int rc = sqlite3_step(*drop); rc != SQLITE_DONE) {
        return c_->error(rc, "cannot prune audit records");
      }
      continue;
    }
    if (auto s = write_block(change.rest, change.rowid); !s) return std::move(s).error();
  }
  if (auto s = tx.commit(); !s) return std::move(s).error();
  return pruned;
}

}  // namespace shepherd::storage
