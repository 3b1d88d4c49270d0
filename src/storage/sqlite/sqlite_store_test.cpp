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
            "1,2,3,4");
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

TEST(SqliteStore, InMemoryStoreWorks) {
  auto store = open_store("sqlite::memory:");
  ASSERT_TRUE(store.ok()) << store.error().message;
  const auto r = contract::record("req_1", contract::kMonday, "key_a", "m", 1.5);
  ASSERT_TRUE((*store)->append(std::vector{r}).ok());
  EXPECT_EQ(*(*store)->key_spend("key_a", 0), 1.5);
}

}  // namespace
}  // namespace shepherd::storage
