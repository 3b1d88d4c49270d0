#include "storage/audit_writer.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <boost/json.hpp>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "storage/record_json.hpp"

namespace shepherd::storage {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// What every FakeStore opened by one opener shares: the "database", and switches to make it
// fail or stall.
struct FakeDatabase {
  std::mutex mutex;
  std::condition_variable changed;
  std::map<std::string, AuditRecord> records;
  std::vector<std::size_t> append_sizes;  // one per successful append
  std::size_t appends_started = 0;
  std::size_t duplicates = 0;  // records passed to a successful append whose id was stored
  std::size_t opens = 0;
  int open_failures_left = 0;  // that many opens fail, then they succeed
  bool fail_opens = false;
  bool fail_appends = false;
  bool block_appends = false;         // an append waits until this is cleared
  int successes_before_failing = -1;  // >= 0: after that many more appends, fail_appends is set
  base::ErrorCode fail_code = base::ErrorCode::kUnavailable;  // of a failed append
  std::set<std::string> poison;  // ids the store never takes: a batch holding one fails
  std::vector<Millis> prunes;

  // Waits (bounded) until `done` holds; false on timeout.
  bool wait(const std::function<bool()>& done) {
    std::unique_lock lock(mutex);
    return changed.wait_for(lock, 10s, done);
  }
  void set(const std::function<void()>& change) {
    {
      std::lock_guard lock(mutex);
      change();
    }
    changed.notify_all();
  }
  std::size_t stored() {
    std::lock_guard lock(mutex);
    return records.size();
  }
};

class FakeStore : public Store {
 public:
  explicit FakeStore(std::shared_ptr<FakeDatabase> db) : db_(std::move(db)) {}

  const char* backend() const override { return "fake"; }
  int schema_version() override { return 1; }
  base::Status insert_key(const KeyRecord&) override { return unused(); }
  base::Status update_key(const KeyRecord&) override { return unused(); }
  base::Result<std::optional<KeyRecord>> find_key(const std::string&) override { return unused(); }
  base::Result<std::vector<KeyRecord>> keys() override { return unused(); }
  base::Result<std::int64_t> keys_version() override { return unused(); }
  base::Result<std::vector<AuditRecord>> requests(const AuditFilter&) override { return unused(); }
  base::Result<std::vector<SpendRow>> spend(SpendBy, std::optional<Millis>,
                                            std::optional<Millis>) override {
    return unused();
  }
  base::Result<double> key_spend(const std::string&, Millis) override { return unused(); }

  using Store::append;
  base::Result<std::int64_t> append(std::span<const AuditRecord> records, Stored) override {
    std::unique_lock lock(db_->mutex);
    ++db_->appends_started;
    db_->changed.notify_all();
    db_->changed.wait(lock, [&] { return !db_->block_appends; });
    if (db_->successes_before_failing >= 0 && db_->successes_before_failing-- == 0) {
      db_->fail_appends = true;
    }
    if (db_->fail_appends) return base::make_error(db_->fail_code, "fake store: append failed");
    for (const auto& r : records) {
      if (db_->poison.count(r.request_id)) {
        return base::make_error(base::ErrorCode::kInternal, "fake store: value out of range");
      }
    }
    std::int64_t written = 0;
    for (const auto& r : records) {
      if (db_->records.emplace(r.request_id, r).second) {
        ++written;
      } else {
        ++db_->duplicates;
      }
    }
    db_->append_sizes.push_back(records.size());
    db_->changed.notify_all();
    return written;
  }

  base::Result<std::int64_t> prune(Millis before) override {
    std::lock_guard lock(db_->mutex);
    db_->prunes.push_back(before);
    db_->changed.notify_all();
    return std::int64_t{0};
  }

 private:
  static base::Error unused() {
    return base::make_error(base::ErrorCode::kInternal, "not used by the audit writer");
  }
  std::shared_ptr<FakeDatabase> db_;
};

AuditWriterOptions::Opener opener(std::shared_ptr<FakeDatabase> db) {
  return [db]() -> base::Result<std::unique_ptr<Store>> {
    std::lock_guard lock(db->mutex);
    ++db->opens;
    db->changed.notify_all();
    if (db->fail_opens || db->open_failures_left > 0) {
      if (db->open_failures_left > 0) --db->open_failures_left;
      return base::make_error(base::ErrorCode::kUnavailable, "fake store: cannot open");
    }
    return std::unique_ptr<Store>(std::make_unique<FakeStore>(db));
  };
}

AuditRecord record(const std::string& id) {
  AuditRecord r;
  r.request_id = id;
  r.time = 1'700'000'000'000;
  r.model = "gpt-4o-mini";
  r.status = 200;
  r.prompt_tokens = 12;
  return r;
}

// Polls observable state until `done` holds, for at most ten seconds.
bool eventually(const std::function<bool()>& done) {
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

class AuditWriterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string templ = (fs::temp_directory_path() / "shepherd-audit-XXXXXX").string();
    ASSERT_NE(::mkdtemp(templ.data()), nullptr);
    dir_ = templ;
    spool_path_ = (dir_ / "audit.spool").string();
  }
  void TearDown() override { fs::remove_all(dir_); }

  AuditWriterOptions options() {
    AuditWriterOptions o;
    o.open_store = opener(db_);
    o.spool_path = spool_path_;
    o.flush_interval = 5ms;
    o.reopen_backoff = 1ms;
    o.reopen_backoff_max = 4ms;
    return o;
  }

  std::size_t spool_lines() const {
    std::ifstream in(spool_path_, std::ios::binary);
    std::string text{std::istreambuf_iterator<char>(in), {}};
    return static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));
  }

  std::shared_ptr<FakeDatabase> db_ = std::make_shared<FakeDatabase>();
  fs::path dir_;
  std::string spool_path_;
};

TEST_F(AuditWriterTest, EveryRecordFromManyThreadsIsWrittenExactlyOnce) {
  AuditWriter writer(options());
  constexpr int kThreads = 4, kEach = 5000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&writer, t] {
      for (int i = 0; i < kEach; ++i) {
        EXPECT_TRUE(writer.submit(record("t" + std::to_string(t) + "-" + std::to_string(i))));
      }
    });
  }
  for (auto& t : threads) t.join();
  writer.stop();

  EXPECT_EQ(db_->stored(), std::size_t{kThreads * kEach});
  EXPECT_EQ(db_->duplicates, 0u);
  const auto s = writer.stats();
  EXPECT_EQ(s.written_total, std::uint64_t{kThreads * kEach});
  EXPECT_EQ(s.dropped_total, 0u);
  EXPECT_EQ(s.queue_depth, 0u);
  EXPECT_EQ(s.spooled, 0u);
  EXPECT_FALSE(fs::exists(spool_path_));
}

TEST_F(AuditWriterTest, AFullBatchIsWrittenWithoutWaitingForTheIntervalInBatchesOfMaxBatch) {
  auto o = options();
  o.flush_interval = std::chrono::hours(1);
  o.max_batch = 100;
  AuditWriter writer(std::move(o));
  for (int i = 0; i < 250; ++i) ASSERT_TRUE(writer.submit(record("r" + std::to_string(i))));
  // The interval is an hour: only a full batch wakes the writer.
  ASSERT_TRUE(db_->wait([&] { return db_->records.size() >= 100; }));
  writer.stop();
  EXPECT_EQ(db_->stored(), 250u);
  std::size_t largest = 0;
  for (auto size : db_->append_sizes) {
    EXPECT_LE(size, 100u);
    largest = std::max(largest, size);
  }
  EXPECT_EQ(largest, 100u);
}

TEST_F(AuditWriterTest, StopWritesEverythingQueued) {
  auto o = options();
  o.flush_interval = std::chrono::hours(1);
  AuditWriter writer(std::move(o));
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(writer.submit(record("r" + std::to_string(i))));
  EXPECT_EQ(db_->stored(), 0u);
  writer.stop();
  EXPECT_EQ(db_->stored(), 10u);
  EXPECT_EQ(db_->append_sizes, (std::vector<std::size_t>{10}));
  writer.stop();  // idempotent
  EXPECT_FALSE(writer.submit(record("late")));
  EXPECT_EQ(writer.stats().dropped_total, 1u);
}

TEST_F(AuditWriterTest, AFullQueueDropsAndCountsWhileTheStoreIsSlow) {
  auto o = options();
  o.queue_capacity = 10;
  o.max_batch = 1000;
  AuditWriter writer(std::move(o));
  db_->set([&] { db_->block_appends = true; });
  ASSERT_TRUE(writer.submit(record("first")));
  // The writer has taken "first" and is stuck in the store: the queue fills up.
  ASSERT_TRUE(db_->wait([&] { return db_->appends_started >= 1; }));
  for (int i = 0; i < 10; ++i) EXPECT_TRUE(writer.submit(record("r" + std::to_string(i))));
  for (int i = 10; i < 15; ++i) EXPECT_FALSE(writer.submit(record("r" + std::to_string(i))));
  auto s = writer.stats();
  EXPECT_EQ(s.queue_depth, 10u);
  EXPECT_EQ(s.dropped_total, 5u);

  db_->set([&] { db_->block_appends = false; });
  writer.stop();
  EXPECT_EQ(db_->stored(), 11u);
  s = writer.stats();
  EXPECT_EQ(s.written_total, 11u);
  EXPECT_EQ(s.dropped_total, 5u);
}

TEST_F(AuditWriterTest, AFailingStoreSpoolsAndTheSpoolIsReplayedOnceItWorks) {
  AuditWriter writer(options());
  db_->set([&] { db_->fail_appends = true; });
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(writer.submit(record("r" + std::to_string(i))));
  ASSERT_TRUE(eventually([&] { return writer.stats().spooled == 20; }));
  auto s = writer.stats();
  EXPECT_TRUE(s.store_failing);
  EXPECT_GE(s.store_errors_total, 1u);
  EXPECT_EQ(s.written_total, 0u);
  EXPECT_EQ(spool_lines(), 20u);
  EXPECT_EQ(db_->stored(), 0u);

  db_->set([&] { db_->fail_appends = false; });
  ASSERT_TRUE(eventually([&] { return writer.stats().spooled == 0; }));
  ASSERT_TRUE(eventually([&] { return !writer.stats().store_failing; }));
  EXPECT_EQ(db_->stored(), 20u);
  EXPECT_EQ(writer.stats().written_total, 20u);
  EXPECT_EQ(fs::file_size(spool_path_), 0u);

  // Working again: new records go straight to the store.
  ASSERT_TRUE(writer.submit(record("after")));
  writer.stop();
  EXPECT_EQ(db_->stored(), 21u);
  EXPECT_EQ(db_->duplicates, 0u);
  EXPECT_EQ(writer.stats().dropped_total, 0u);
}

TEST_F(AuditWriterTest, ARecordTheStoreNeverTakesIsDroppedAndTheOthersWritten) {
  auto o = options();
  o.flush_interval = std::chrono::hours(1);
  db_->poison = {"r3"};
  AuditWriter writer(std::move(o));
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(writer.submit(record("r" + std::to_string(i))));
  writer.stop();
  EXPECT_EQ(db_->stored(), 9u);
  EXPECT_EQ(db_->records.count("r3"), 0u);
  // The batch, then each record alone.
  EXPECT_EQ(db_->appends_started, 11u);
  const auto s = writer.stats();
  EXPECT_EQ(s.written_total, 9u);
  EXPECT_EQ(s.dropped_total, 1u);
  EXPECT_EQ(s.spooled, 0u);
  EXPECT_FALSE(s.store_failing);
  EXPECT_EQ(s.store_errors_total, 0u);
}

TEST_F(AuditWriterTest, AStoreThatTakesNoRecordIsFailingWhateverItsError) {
  // As when a table is missing: every append fails, but not with kUnavailable.
  db_->fail_appends = true;
  db_->fail_code = base::ErrorCode::kInternal;
  auto o = options();
  o.flush_interval = std::chrono::hours(1);
  AuditWriter writer(std::move(o));
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(writer.submit(record("r" + std::to_string(i))));
  writer.stop();
  const auto s = writer.stats();
  EXPECT_EQ(s.spooled, 4u);
  EXPECT_EQ(s.dropped_total, 0u);
  EXPECT_TRUE(s.store_failing);
  EXPECT_EQ(spool_lines(), 4u);
}

TEST_F(AuditWriterTest, AReplayInterruptedByTheStoreWritesNothingTwice) {
  auto o = options();
  o.max_batch = 5;
  AuditWriter writer(std::move(o));
  db_->set([&] { db_->fail_appends = true; });
  for (int i = 0; i < 12; ++i) ASSERT_TRUE(writer.submit(record("r" + std::to_string(i))));
  ASSERT_TRUE(eventually([&] { return writer.stats().spooled == 12; }));

  // The store takes the first batch of the replay, then fails again.
  std::size_t started = 0;
  db_->set([&] {
    started = db_->appends_started;
    db_->fail_appends = false;
    db_->successes_before_failing = 1;
  });
  ASSERT_TRUE(db_->wait([&] { return db_->appends_started >= started + 2; }));
  EXPECT_EQ(db_->stored(), 5u);
  EXPECT_EQ(writer.stats().spooled, 12u);

  db_->set([&] { db_->fail_appends = false; });
  ASSERT_TRUE(eventually([&] { return writer.stats().spooled == 0; }));
  writer.stop();
  EXPECT_EQ(db_->stored(), 12u);
  // The first five went to the store twice; the store kept one of each.
  EXPECT_EQ(db_->duplicates, 5u);
  EXPECT_EQ(writer.stats().written_total, 12u);
}

TEST_F(AuditWriterTest, ASpoolWithATornLastLineIsReplayedAtStart) {
  {
    std::ofstream out(spool_path_, std::ios::binary);
    for (const char* id : {"old-1", "old-2", "old-3"}) {
      out << boost::json::serialize(to_json(record(id))) << '\n';
    }
    out << R"({"request_id":"old-4","time":17000)";
  }
  AuditWriter writer(options());
  ASSERT_TRUE(eventually([&] { return writer.stats().spooled == 0; }));
  EXPECT_EQ(writer.stats().written_total, 3u);
  EXPECT_EQ(fs::file_size(spool_path_), 0u);
  writer.stop();
  EXPECT_EQ(db_->stored(), 3u);
  EXPECT_EQ(db_->records.count("old-3"), 1u);
}

TEST_F(AuditWriterTest, AnOpenerFailingAtStartIsRetriedAndTheRecordsKept) {
  db_->open_failures_left = 3;
  AuditWriter writer(options());
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(writer.submit(record("r" + std::to_string(i))));
  ASSERT_TRUE(eventually([&] { return writer.stats().written_total == 5; }));
  writer.stop();
  EXPECT_EQ(db_->stored(), 5u);
  EXPECT_EQ(db_->opens, 4u);
  const auto s = writer.stats();
  EXPECT_EQ(s.store_errors_total, 3u);
  EXPECT_FALSE(s.store_failing);
  EXPECT_EQ(s.spooled, 0u);
  EXPECT_EQ(s.dropped_total, 0u);
}

TEST_F(AuditWriterTest, StopWhileTheStoreIsDownLeavesTheRecordsForTheNextStart) {
  db_->fail_opens = true;
  {
    AuditWriter writer(options());
    for (int i = 0; i < 7; ++i) ASSERT_TRUE(writer.submit(record("r" + std::to_string(i))));
    writer.stop();
    const auto s = writer.stats();
    EXPECT_EQ(s.spooled, 7u);
    EXPECT_TRUE(s.store_failing);
    EXPECT_EQ(s.dropped_total, 0u);
  }
  EXPECT_EQ(spool_lines(), 7u);
  EXPECT_EQ(db_->stored(), 0u);

  db_->fail_opens = false;
  AuditWriter next(options());
  EXPECT_TRUE(eventually([&] { return next.stats().written_total == 7; }));
  next.stop();
  EXPECT_EQ(db_->stored(), 7u);
  EXPECT_EQ(next.stats().spooled, 0u);
  EXPECT_EQ(fs::file_size(spool_path_), 0u);
}

TEST_F(AuditWriterTest, RecordsAreDroppedAndCountedWhenTheSpoolCannotBeWritten) {
  db_->fail_opens = true;
  auto o = options();
  o.spool_path = "/dev/full";  // every write fails with ENOSPC, as on a full disk
  AuditWriter writer(std::move(o));
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(writer.submit(record("r" + std::to_string(i))));
  writer.stop();
  const auto s = writer.stats();
  EXPECT_EQ(s.dropped_total, 5u);
  EXPECT_EQ(s.spooled, 0u);
}

TEST_F(AuditWriterTest, WithoutASpoolRecordsTheStoreRefusesAreDropped) {
  db_->fail_opens = true;
  auto o = options();
  o.spool_path.clear();
  AuditWriter writer(std::move(o));
  ASSERT_TRUE(writer.submit(record("r")));
  writer.stop();
  EXPECT_EQ(writer.stats().dropped_total, 1u);
}

TEST_F(AuditWriterTest, PrunesPastTheRetentionWhenTheStoreOpens) {
  auto o = options();
  o.retention = std::chrono::hours(24);
  o.wall_clock = [] { return Millis{1'700'000'000'000}; };
  AuditWriter writer(std::move(o));
  ASSERT_TRUE(db_->wait([&] { return !db_->prunes.empty(); }));
  writer.stop();
  // Once at start; the next is an hour later.
  EXPECT_EQ(db_->prunes, (std::vector<Millis>{1'700'000'000'000 - 24 * 3600 * 1000}));
}

TEST_F(AuditWriterTest, ZeroRetentionNeverPrunes) {
  auto o = options();
  o.retention = 0ms;
  AuditWriter writer(std::move(o));
  ASSERT_TRUE(writer.submit(record("r")));
  ASSERT_TRUE(eventually([&] { return writer.stats().written_total == 1; }));
  writer.stop();
  EXPECT_TRUE(db_->prunes.empty());
}

TEST_F(AuditWriterTest, RejectsOptionsThatCannotWork) {
  AuditWriterOptions no_opener;
  EXPECT_THROW(AuditWriter{no_opener}, std::invalid_argument);
  auto zero_batch = options();
  zero_batch.max_batch = 0;
  EXPECT_THROW(AuditWriter{zero_batch}, std::invalid_argument);
}

}  // namespace
}  // namespace shepherd::storage
