#include "storage/sqlite/sqlite_store.hpp"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <stdlib.h>

#include <filesystem>
#include <limits>

#include "storage/migrations.hpp"
#include "storage/store_contract_test.hpp"

namespace shepherd::storage {
namespace {

namespace fs = std::filesystem;

TEST(IdFloor, IsTheSmallestRequestIdOfItsMillisecond) {
  EXPECT_EQ(sql::id_floor(0), "req_000000000000");
  EXPECT_EQ(sql::id_floor(-5), "req_000000000000");
  EXPECT_EQ(sql::id_floor(0x18c2f3a4b5dLL), "req_018c2f3a4b5d");
  const std::string id = "req_018c2f3a4b5d" + std::string(16, '0');
  EXPECT_LE(sql::id_floor(0x18c2f3a4b5dLL), id);
  EXPECT_GT(sql::id_floor(0x18c2f3a4b5eLL), id);
  // Past 12 hex digits: above every id.
  EXPECT_GT(sql::id_floor(std::numeric_limits<Millis>::max()), "req_ffffffffffff" + id.substr(16));
}

// The eight-bytes-at-a-time scan must find a NUL or a non-ASCII byte at any position.
TEST(CleanText, ReplacesEachBadByteWhereverItIs) {
  std::string scratch;
  const std::string ascii(40, 'a');
  EXPECT_EQ(sql::clean_text(ascii, scratch).data(), ascii.data());  // clean: not copied
  for (std::size_t at = 0; at < ascii.size(); ++at) {
    for (const char bad : {'\0', '\xff', '\x80'}) {
      std::string text = ascii;
      text[at] = bad;
      const std::string expected = ascii.substr(0, at) + "\xEF\xBF\xBD" + ascii.substr(at + 1);
      EXPECT_EQ(sql::clean_text(text, scratch), expected) << "at " << at;
    }
    // Valid UTF-8 anywhere stays as it is.
    std::string utf8 = ascii;
    utf8.replace(at, 1, "\xC3\xA9");
    EXPECT_EQ(sql::clean_text(utf8, scratch).data(), utf8.data()) << "at " << at;
  }
}

// A temp folder per test.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "shepherd-sqlite-XXXXXX").string();
    if (!::mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

class SqliteBackend final : public contract::StoreBackend {
 public:
  std::string name() const override { return "Sqlite"; }
  std::string fresh_url() override {
    if (!dir_) dir_ = std::make_unique<TempDir>();
    // sqlite:///ABSOLUTE/PATH
    return "sqlite://" + (dir_->path() / ("store-" + std::to_string(++n_) + ".db")).string();
  }
  base::Result<std::unique_ptr<Store>> open_at_version(const std::string& url,
                                                       int version) override {
    auto path = sqlite_path(url, {});
    if (!path) return std::move(path).error();
    auto store = SqliteStore::open(*path, version);
    if (!store) return std::move(store).error();
    return std::unique_ptr<Store>(std::move(*store));
  }
  void clean_up() override { dir_.reset(); }

 private:
  std::unique_ptr<TempDir> dir_;
  int n_ = 0;
};

SqliteBackend backend;

// Runs `sql` on the database file directly, as another program would.
void run_sql(const fs::path& file, const std::string& sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(file.c_str(), &db), SQLITE_OK);
  char* error = nullptr;
  const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error);
  EXPECT_EQ(rc, SQLITE_OK) << (error ? error : "");
  sqlite3_free(error);
  sqlite3_close(db);
}

std::string query_text(const fs::path& file, const std::string& sql) {
  sqlite3* db = nullptr;
  if (sqlite3_open(file.c_str(), &db) != SQLITE_OK) return "cannot open";
  sqlite3_stmt* stmt = nullptr;
  std::string out = "no row";
  if (sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr) == SQLITE_OK &&
      sqlite3_step(stmt) == SQLITE_ROW) {
    out = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
  }
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return out;
}

}  // namespace

namespace contract {
INSTANTIATE_TEST_SUITE_P(Sqlite, StoreContract, ::testing::Values(&backend), backend_name);
}

namespace {

TEST(SqliteUrl, RelativePathsAreRelativeToTheConfigFolder) {
  EXPECT_EQ(*sqlite_path("sqlite://shepherd.db", "/etc/shepherd"), "/etc/shepherd/shepherd.db");
  EXPECT_EQ(*sqlite_path("sqlite://data/s.db", "/etc/shepherd"), "/etc/shepherd/data/s.db");
  EXPECT_EQ(*sqlite_path("sqlite://s.db", ""), "s.db");
  EXPECT_EQ(*sqlite_path("sqlite:///var/lib/s.db", "/etc/shepherd"), "/var/lib/s.db");
  EXPECT_EQ(*sqlite_path("sqlite::memory:", "/etc/shepherd"), ":memory:");

  TempDir dir;
  auto store = open_store("sqlite://relative.db", dir.path().string());
  ASSERT_TRUE(store.ok()) << store.error().message;
  EXPECT_STREQ((*store)->backend(), "sqlite");
  EXPECT_TRUE(fs::exists(dir.path() / "relative.db"));
}

TEST(SqliteUrl, OtherFormsAreRefusedListingTheAcceptedOnes) {
  for (const std::string url : {"sqlite://", "sqlite:shepherd.db", "sqlite:/x.db"}) {
    auto store = open_store(url, "/tmp");
    ASSERT_FALSE(store.ok()) << url;
    EXPECT_EQ(store.error().code, base::ErrorCode::kBadRequest);
    EXPECT_NE(store.error().message.find("sqlite::memory:"), std::string::npos);
  }
}

TEST(OpenStore, UnknownSchemeListsAcceptedFormsWithoutThePassword) {
  auto store = open_store("mysql://admin:hunter2-canary@db:3306/shepherd");
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.error().code, base::ErrorCode::kBadRequest);
  const auto& m = store.error().message;
  EXPECT_NE(m.find("sqlite://PATH"), std::string::npos) << m;
  EXPECT_NE(m.find("postgres://"), std::string::npos) << m;
  EXPECT_EQ(m.find("hunter2-canary"), std::string::npos) << m;
}

TEST(RedactUrl, HidesPasswordsOnly) {
  EXPECT_EQ(redact_url("postgres://shepherd:s3cret@db.local:5432/shepherd"),
            "postgres://shepherd:***@db.local:5432/shepherd");
  EXPECT_EQ(redact_url("postgresql://shepherd@db.local/shepherd?sslmode=require"),
            "postgresql://shepherd@db.local/shepherd?sslmode=require");
  EXPECT_EQ(redact_url("postgres://db/x?sslmode=require&password=s3cret&connect_timeout=2"),
            "postgres://db/x?sslmode=require&password=***&connect_timeout=2");
  EXPECT_EQ(redact_url("postgres://u:pa/ss@word@db/x?PassWord=s3cret"),
            "postgres://u:***@db/x?PassWord=***");
  EXPECT_EQ(redact_url("host=db user=u password=s3cret dbname=x"),
            "host=db user=u password=*** dbname=x");
  EXPECT_EQ(redact_url("sqlite://data/a:b@c.db"), "sqlite://data/a:b@c.db");
}

TEST(SqliteStore, MissingFolderIsAnErrorNamingItAndIsNotCreated) {
  TempDir dir;
  auto store = open_store("sqlite://missing/sub/s.db", dir.path().string());
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.error().code, base::ErrorCode::kUnavailable);
  EXPECT_NE(store.error().message.find((dir.path() / "missing" / "sub").string()),
            std::string::npos)
      << store.error().message;
  EXPECT_FALSE(fs::exists(dir.path() / "missing"));
}

TEST(SqliteStore, FileUsesTheWriteAheadLog) {
  TempDir dir;
  auto store = open_store("sqlite://wal.db", dir.path().string());
  ASSERT_TRUE(store.ok()) << store.error().message;
  EXPECT_EQ(query_text(dir.path() / "wal.db", "PRAGMA journal_mode"), "wal");
}

TEST(SqliteStore, RecordsEachMigrationApplied) {
  TempDir dir;
  ASSERT_TRUE(open_store("sqlite://m.db", dir.path().string()).ok());
  EXPECT_EQ(query_text(dir.path() / "m.db", "SELECT group_concat(version) FROM schema_migrations"),
            "1,2,3,4,5");
}

TEST(SqliteStore, RefusesAStoreUpgradedByANewerBuild) {
  TempDir dir;
  ASSERT_TRUE(open_store("sqlite://newer.db", dir.path().string()).ok());
  const int newer = latest_schema_version() + 1;
  run_sql(dir.path() / "newer.db", "INSERT INTO schema_migrations (version, applied_at) VALUES (" +
                                       std::to_string(newer) + ", 0)");
  auto store = open_store("sqlite://newer.db", dir.path().string());
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.error().code, base::ErrorCode::kUnavailable);
  EXPECT_NE(store.error().message.find("newer"), std::string::npos) << store.error().message;
}

TEST(SqliteStore, NotADatabaseIsAnError) {
  TempDir dir;
  {
    std::FILE* f = std::fopen((dir.path() / "junk.db").c_str(), "w");
    ASSERT_NE(f, nullptr);
    std::fputs("this is not a database, just some text long enough to have a header", f);
    std::fclose(f);
  }
  auto store = open_store("sqlite://junk.db", dir.path().string());
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.error().code, base::ErrorCode::kUnavailable);
  EXPECT_NE(store.error().message.find("junk.db"), std::string::npos) << store.error().message;
}

TEST(SqliteStore, MigrationFiveMovesAuditRowsIntoBlocks) {
  TempDir dir;
  const auto file = dir.path() / "v4.db";
  {
    auto v4 = SqliteStore::open(file.string(), 4);
    ASSERT_TRUE(v4.ok()) << v4.error().message;
  }
  // Rows as a build at version 4 wrote them: one per record.
  run_sql(file,
          "INSERT INTO audit_requests (request_id, arrived_at, key_id, model, deployment, "
          "provider, attempts, status, error_class, prompt_tokens, completion_tokens, "
          "cached_tokens, reasoning_tokens, cost_usd, list_cost_usd, usage_estimated, latency_us, "
          "ttft_us, client_address, streamed, dialect, request_body, response_body, "
          "client_request_id) VALUES "
          "('req_1', 1000, 'key_a', 'gpt-4.1', 'relay/gpt-4.1', 'relay', 2, 200, '', 10, 20, 3, "
          "4, 0.5, 1.0, 1, 7000, 900, '127.0.0.1', 1, 'anthropic', '{}', NULL, 'client-1'), "
          "('req_2', 2000, '', 'm', '', '', 0, 429, 'rate_limited', 0, 0, 0, 0, 0, 0, 0, 10, "
          "NULL, '::1', 0, 'openai', NULL, NULL, NULL)");
  auto store = SqliteStore::open(file.string());
  ASSERT_TRUE(store.ok()) << store.error().message;
  EXPECT_EQ(query_text(file, "SELECT count(*) FROM audit_requests"), "0");
  EXPECT_EQ(query_text(file, "SELECT sum(records) FROM audit_blocks"), "2");
  AuditFilter all;
  auto back = (*store)->requests(all);
  ASSERT_TRUE(back.ok()) << back.error().message;
  ASSERT_EQ(back->size(), 2u);
  const AuditRecord& r = (*back)[1];
  EXPECT_EQ(r.request_id, "req_1");
  EXPECT_EQ(r.time, 1000);
  EXPECT_EQ(r.key_id, "key_a");
  EXPECT_EQ(r.deployment, "relay/gpt-4.1");
  EXPECT_EQ(r.attempts, 2);
  EXPECT_EQ(r.cached_tokens, 3);
  EXPECT_EQ(r.list_cost_usd, 1.0);
  EXPECT_TRUE(r.usage_estimated);
  EXPECT_EQ(r.ttft_us, 900);
  EXPECT_TRUE(r.streamed);
  EXPECT_EQ(r.dialect, "anthropic");
  EXPECT_EQ(r.request_body, "{}");
  EXPECT_EQ(r.response_body, std::nullopt);
  EXPECT_EQ(r.client_request_id, "client-1");
  EXPECT_EQ((*back)[0].error_class, "rate_limited");
  EXPECT_EQ((*back)[0].ttft_us, std::nullopt);
}

// During an upgrade the old process, of a build before migration 5, writes rows: the new one
// moves them into blocks as it appends.
TEST(SqliteStore, AppendMovesRowsAnEarlierBuildWroteIntoBlocks) {
  TempDir dir;
  const auto file = dir.path() / "upgrade.db";
  auto store = SqliteStore::open(file.string());
  ASSERT_TRUE(store.ok()) << store.error().message;
  run_sql(file,
          "INSERT INTO audit_requests (request_id, arrived_at, key_id, model, deployment, "
          "provider, attempts, status, error_class, prompt_tokens, completion_tokens, "
          "cached_tokens, reasoning_tokens, cost_usd, list_cost_usd, usage_estimated, latency_us, "
          "ttft_us, client_address, streamed, dialect) VALUES ('req_0000000003e8old', 1000, "
          "'key_a', 'm', "
          "'d', 'p', 1, 200, '', 1, 2, 0, 0, 0.25, 0.5, 0, 10, NULL, '::1', 0, 'openai')");
  const auto fresh = contract::record("req_new", 2000);
  ASSERT_EQ((*store)->append(std::vector{fresh}, Store::Stored::kNone).value(), 1);
  EXPECT_EQ(query_text(file, "SELECT count(*) FROM audit_requests"), "0");
  auto back = (*store)->requests(AuditFilter{});
  ASSERT_TRUE(back.ok()) << back.error().message;
  ASSERT_EQ(back->size(), 2u);
  EXPECT_EQ((*back)[0].request_id, fresh.request_id);
  EXPECT_EQ((*back)[1].request_id, "req_0000000003e8old");
  EXPECT_EQ((*back)[1].cost_usd, 0.25);
}

TEST(SqliteStore, InMemoryStoreWorks) {
  auto store = open_store("sqlite::memory:");
  ASSERT_TRUE(store.ok()) << store.error().message;
  const auto r = contract::record("req_1", contract::kMonday, "key_a", "m", 1.5);
  ASSERT_TRUE((*store)->append(std::vector{r}).ok());
  EXPECT_EQ(*(*store)->key_spend("key_a", 0), 1.5);
}

}  // namespace
}  // namespace shepherd::storage
