// The audit writer over the real SQLite store: what the fake store in audit_writer_test.cpp
// stands for, checked once against the store it stands for.
#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>

#include "storage/audit_writer.hpp"
#include "storage/record_json.hpp"
#include "storage/sql_common.hpp"
#include "storage/store.hpp"

namespace shepherd::storage {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// A record named `name`, `offset_ms` after a fixed time; its request id has the shape of
// Shepherd's (the time, then the name), as the store's time ranges expect.
AuditRecord record(const std::string& name, Millis offset_ms = 0) {
  AuditRecord r;
  r.time = 1'700'000'000'000 + offset_ms;
  r.request_id = sql::id_floor(r.time) + name;
  r.key_id = "key_0123456789abcdef";
  r.model = "gpt-4o-mini";
  r.status = 200;
  r.prompt_tokens = 12;
  return r;
}

class AuditWriterSqliteTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string templ = (fs::temp_directory_path() / "shepherd-audit-sqlite-XXXXXX").string();
    ASSERT_NE(::mkdtemp(templ.data()), nullptr);
    dir_ = templ;
    spool_path_ = (dir_ / "audit.spool").string();
  }
  void TearDown() override { fs::remove_all(dir_); }

  fs::path dir_;
  std::string spool_path_;
};

TEST_F(AuditWriterSqliteTest, WritesEveryRecordOnceAndReplaysASpoolWithoutDuplicates) {
  const std::string url = "sqlite://" + (dir_ / "audit.db").string();
  {
    // A spool from an earlier run that stopped between storing two of its records and clearing
    // the spool: one record the store never saw, two it has.
    auto store = open_store(url);
    ASSERT_TRUE(store.ok()) << store.error().message;
    ASSERT_EQ((*store)->append(std::vector{record("r0", 0), record("r1", 1)}).value(), 2);
    std::ofstream out(spool_path_, std::ios::binary);
    for (const auto& r : {record("old-1"), record("r0", 0), record("r1", 1)}) {
      out << boost::json::serialize(to_json(r)) << '\n';
    }
  }
  AuditWriterOptions o;
  o.open_store = [url] { return open_store(url); };
  o.spool_path = spool_path_;
  o.flush_interval = 5ms;
  o.wall_clock = [] { return Millis{1'700'000'100'000}; };  // the records are within retention
  AuditWriter writer(std::move(o));
  for (int i = 2; i < 500; ++i) {
    AuditRecord r = record("r" + std::to_string(i), i);
    if (i == 7) {
      r.request_body = R"({"messages":[{"role":"user","content":"héllo 世界 🐑"}]})";
      r.ttft_us = 4321;
      r.cost_usd = 0.00125;
    }
    ASSERT_TRUE(writer.submit(std::move(r)));
  }
  writer.stop();
  const auto s = writer.stats();
  EXPECT_EQ(s.dropped_total, 0u);
  EXPECT_EQ(s.spooled, 0u);
  EXPECT_FALSE(s.store_failing);
  EXPECT_EQ(fs::file_size(spool_path_), 0u);

  auto store = open_store(url);
  ASSERT_TRUE(store.ok()) << store.error().message;
  AuditFilter all;
  all.limit = 10000;
  auto rows = (*store)->requests(all);
  ASSERT_TRUE(rows.ok()) << rows.error().message;
  EXPECT_EQ(rows->size(), 501u);
  std::set<std::string> ids;
  for (const auto& r : *rows) ids.insert(r.request_id);
  EXPECT_EQ(ids.size(), 501u);
  EXPECT_EQ(ids.count(record("old-1").request_id), 1u);
  AuditFilter one;
  one.since = record("r7", 7).time;
  one.until = *one.since + 1;
  auto seventh = (*store)->requests(one);
  ASSERT_TRUE(seventh.ok());
  ASSERT_EQ(seventh->size(), 1u);
  EXPECT_EQ((*seventh)[0].request_id, record("r7", 7).request_id);
  EXPECT_EQ((*seventh)[0].request_body,
            R"({"messages":[{"role":"user","content":"héllo 世界 🐑"}]})");
  EXPECT_EQ((*seventh)[0].ttft_us, 4321);
  EXPECT_EQ((*seventh)[0].cost_usd, 0.00125);
}

}  // namespace
}  // namespace shepherd::storage
