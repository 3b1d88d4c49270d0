// Runs against a real PostgreSQL server: the one SHEPHERD_TEST_POSTGRES_URL names, or else one
// started for this run by tools/postgres.sh and stopped at the end. Never skipped: when no
// server can be had, every test fails with the script's output. Each test works in a schema of
// its own (search_path set through the URL's options), dropped afterwards.
#include "storage/postgres/postgres_store.hpp"

#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <vector>

#include "storage/migrations.hpp"
#include "storage/store_contract_test.hpp"

#ifndef SHEPHERD_SOURCE_DIR
#error "SHEPHERD_SOURCE_DIR must name the source tree (for tools/postgres.sh)"
#endif

namespace shepherd::storage {
namespace {

// Runs `command` through the shell; its exit status and what it wrote (stdout and stderr).
std::pair<int, std::string> run(const std::string& command) {
  std::string output;
  FILE* p = ::popen((command + " 2>&1").c_str(), "r");
  if (!p) return {-1, "popen failed"};
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) output.append(buf, n);
  const int status = ::pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, output};
}

class PostgresServer : public ::testing::Environment {
 public:
  void SetUp() override {
    if (const char* url = std::getenv("SHEPHERD_TEST_POSTGRES_URL"); url && *url) {
      url_ = url;
      return;
    }
    std::string dir = (std::filesystem::temp_directory_path() / "shepherd-pg-XXXXXX").string();
    if (!::mkdtemp(dir.data())) {
      fail("cannot make a temp folder for PostgreSQL");
      return;
    }
    dir_ = dir;
    const auto [status, output] = run(script() + " start '" + dir_ + "'");
    // The URL is the last line; the lines before are the server's progress.
    const auto end = output.find_last_not_of('\n');
    const auto newline = end == std::string::npos ? end : output.rfind('\n', end);
    const auto start = newline == std::string::npos ? 0 : newline + 1;
    const auto url = end == std::string::npos ? "" : output.substr(start, end + 1 - start);
    if (status != 0 || url.rfind("postgres://", 0) != 0) {
      fail("tools/postgres.sh could not start a PostgreSQL server:\n" + output);
      TearDown();
      return;
    }
    url_ = url;
  }

  void TearDown() override {
    if (dir_.empty()) return;
    const auto [status, output] = run(script() + " stop '" + dir_ + "'");
    EXPECT_EQ(status, 0) << output;
    dir_.clear();
  }

  // The server's URL; empty when there is none, and then failure() says why.
  const std::string& url() const { return url_; }
  const std::string& failure() const { return failure_; }

 private:
  static std::string script() { return "'" SHEPHERD_SOURCE_DIR "/tools/postgres.sh'"; }

  // Not a fatal failure: that would mark every test skipped; each one fails instead.
  void fail(const std::string& why) {
    failure_ = why;
    ADD_FAILURE() << why;
  }

  std::string dir_;
  std::string url_;
  std::string failure_;
};

PostgresServer* server =
    static_cast<PostgresServer*>(::testing::AddGlobalTestEnvironment(new PostgresServer));

// `url` with one more query parameter.
std::string with_parameter(const std::string& url, const std::string& parameter) {
  return url + (url.find('?') == std::string::npos ? "?" : "&") + parameter;
}

struct ConnDeleter {
  void operator()(PGconn* c) const { PQfinish(c); }
};

// A connection of the test's own, for what no Store does.
class Admin {
 public:
  Admin() : conn_(PQconnectdb(server->url().c_str())) {
    if (PQstatus(conn_.get()) != CONNECTION_OK) {
      throw std::runtime_error(std::string("admin connection: ") + PQerrorMessage(conn_.get()));
    }
    // DROP SCHEMA ... CASCADE lists what it drops as notices; libpq would print them.
    PQsetNoticeProcessor(
        conn_.get(), [](void*, const char*) {}, nullptr);
  }
  // Runs `sql` with text parameters; the first value of the first row ("" if none).
  std::string run(const std::string& sql, const std::vector<std::string>& params = {}) {
    std::vector<const char*> values;
    for (const auto& p : params) values.push_back(p.c_str());
    PGresult* r = PQexecParams(conn_.get(), sql.c_str(), static_cast<int>(values.size()), nullptr,
                               values.data(), nullptr, nullptr, 0);
    const auto status = PQresultStatus(r);
    std::string out = status == PGRES_TUPLES_OK && PQntuples(r) > 0 ? PQgetvalue(r, 0, 0) : "";
    std::string error = PQresultErrorMessage(r);
    PQclear(r);
    if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) {
      throw std::runtime_error(sql + ": " + error);
    }
    return out;
  }

 private:
  std::unique_ptr<PGconn, ConnDeleter> conn_;
};

class PostgresBackend final : public contract::StoreBackend {
 public:
  std::string name() const override { return "Postgres"; }
  std::string fresh_url() override {
    if (server->url().empty())
      throw std::runtime_error("no PostgreSQL server: " + server->failure());
    if (!admin_) admin_ = std::make_unique<Admin>();
    const std::string schema =
        "shepherd_test_" + std::to_string(::getpid()) + "_" + std::to_string(++n_);
    admin_->run("CREATE SCHEMA " + schema);
    schemas_.push_back(schema);
    return with_parameter(server->url(), "options=-c%20search_path%3D" + schema);
  }
  base::Result<std::unique_ptr<Store>> open_at_version(const std::string& url,
                                                       int version) override {
    auto store = PostgresStore::open(url, version);
    if (!store) return std::move(store).error();
    return std::unique_ptr<Store>(std::move(*store));
  }
  void clean_up() override {
    for (const auto& s : schemas_) admin_->run("DROP SCHEMA " + s + " CASCADE");
    schemas_.clear();
  }

 private:
  std::unique_ptr<Admin> admin_;
  std::vector<std::string> schemas_;
  int n_ = 0;
};

PostgresBackend backend;

}  // namespace

namespace contract {
INSTANTIATE_TEST_SUITE_P(Postgres, StoreContract, ::testing::Values(&backend), backend_name);
}

namespace {

// The server's URL with the same user and another password.
std::string with_password(const std::string& password) {
  const std::string& url = server->url();
  const auto authority = url.find("://") + 3;
  const auto at = url.find('@', authority);
  if (at == std::string::npos) {
    return url.substr(0, authority) + "shepherd:" + password + "@" + url.substr(authority);
  }
  const auto user_end = std::min(url.find(':', authority), at);
  return url.substr(0, user_end) + ":" + password + url.substr(at);
}

class PostgresStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(server->url().empty()) << "no PostgreSQL server: " << server->failure();
  }
  void TearDown() override { backend.clean_up(); }
};

TEST_F(PostgresStoreTest, LostConnectionIsRetryableAndTheNextCallReconnects) {
  const auto url = with_parameter(backend.fresh_url(), "application_name=shepherd_lost_test");
  auto store = open_store(url);
  ASSERT_TRUE(store.ok()) << store.error().message;
  ASSERT_TRUE((*store)->keys_version().ok());

  // Waits (up to 10 s) until the server has ended the store's session.
  Admin admin;
  EXPECT_EQ(admin.run("SELECT bool_and(pg_terminate_backend(pid, 10000)) FROM pg_stat_activity "
                      "WHERE application_name = $1",
                      {"shepherd_lost_test"}),
            "t");
  auto lost = (*store)->keys_version();
  ASSERT_FALSE(lost.ok());
  EXPECT_EQ(lost.error().code, base::ErrorCode::kUnavailable);
  EXPECT_TRUE(lost.error().retryable);
  EXPECT_EQ(lost.error().message.find(server->url()), std::string::npos);

  // The next call reconnects, and the statements are prepared again for the new session.
  auto again = (*store)->keys_version();
  ASSERT_TRUE(again.ok()) << again.error().message;
  auto appended = (*store)->append(
      std::vector{contract::record("req_after_reconnect", contract::kMonday, "key_a", "m", 2)});
  ASSERT_TRUE(appended.ok()) << appended.error().message;
  EXPECT_EQ(*(*store)->key_spend("key_a", 0), 2.0);
}

TEST_F(PostgresStoreTest, WrongPasswordFailsWithoutShowingAnyPassword) {
  const std::string canary = "wrong-canary-password-4f9e";
  auto store = open_store(with_password(canary));
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.error().code, base::ErrorCode::kUnavailable);
  for (const auto& text : {store.error().message, store.error().detail}) {
    EXPECT_EQ(text.find(canary), std::string::npos) << text;
  }
  EXPECT_NE(store.error().message.find("***"), std::string::npos) << store.error().message;
}

TEST_F(PostgresStoreTest, UnreadableUrlIsABadRequestWithoutThePassword) {
  auto store = open_store("postgres://shepherd:canary%zzsecret@127.0.0.1:1/shepherd");
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.error().code, base::ErrorCode::kBadRequest);
  EXPECT_EQ(store.error().message.find("canary"), std::string::npos) << store.error().message;
}

TEST_F(PostgresStoreTest, UnreachableServerIsRetryable) {
  // Port 1 on the loopback: nothing listens there, so the connection is refused at once.
  auto store = open_store("postgres://shepherd:canary-pw@127.0.0.1:1/shepherd");
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.error().code, base::ErrorCode::kUnavailable);
  EXPECT_TRUE(store.error().retryable);
  EXPECT_EQ(store.error().message.find("canary-pw"), std::string::npos) << store.error().message;
}

TEST_F(PostgresStoreTest, RefusesAStoreUpgradedByANewerBuild) {
  const auto url = backend.fresh_url();
  ASSERT_TRUE(open_store(url).ok());
  const auto schema = url.substr(url.rfind("%3D") + 3);
  Admin admin;
  admin.run("INSERT INTO " + schema + ".schema_migrations (version, applied_at) VALUES ($1, 0)",
            {std::to_string(latest_schema_version() + 1)});
  auto store = open_store(url);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.error().code, base::ErrorCode::kUnavailable);
  EXPECT_NE(store.error().message.find("newer"), std::string::npos) << store.error().message;
}

}  // namespace
}  // namespace shepherd::storage
