#include "storage/audit_spool.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "storage/record_json.hpp"

namespace shepherd::storage {
namespace {

namespace fs = std::filesystem;

AuditRecord record(int i) {
  AuditRecord r;
  r.request_id = "req_" + std::to_string(i);
  r.time = 1'700'000'000'000 + i;
  r.model = "model-" + std::to_string(i % 3);
  r.status = 200;
  r.response_body = "answer " + std::to_string(i) + " \xE2\x9C\x93";
  return r;
}

std::vector<AuditRecord> records(int from, int to) {
  std::vector<AuditRecord> out;
  for (int i = from; i < to; ++i) out.push_back(record(i));
  return out;
}

std::string line_of(const AuditRecord& r) { return boost::json::serialize(to_json(r)) + "\n"; }

class AuditSpoolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string templ = (fs::temp_directory_path() / "shepherd-spool-XXXXXX").string();
    ASSERT_NE(::mkdtemp(templ.data()), nullptr);
    dir_ = templ;
    path_ = (dir_ / "audit.spool").string();
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string contents() const {
    std::ifstream in(path_, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), {}};
  }
  void write_file(const std::string& text) const { std::ofstream(path_, std::ios::binary) << text; }
  // Every record replay() gives, in order.
  std::vector<std::string> replay_ids(AuditSpool& spool, AuditSpool::ReplayReport& report,
                                      std::size_t max_batch = 100) {
    std::vector<std::string> ids;
    auto st = spool.replay(
        max_batch,
        [&](std::span<const AuditRecord> batch) -> base::Status {
          EXPECT_LE(batch.size(), max_batch);
          for (const auto& r : batch) ids.push_back(r.request_id);
          return base::Ok{};
        },
        report);
    EXPECT_TRUE(st.ok());
    return ids;
  }

  fs::path dir_;
  std::string path_;
};

TEST_F(AuditSpoolTest, MissingFileIsAnEmptySpoolAndNothingIsCreated) {
  AuditSpool spool(path_);
  ASSERT_TRUE(spool.open().ok());
  EXPECT_TRUE(spool.empty());
  EXPECT_EQ(spool.records(), 0u);
  AuditSpool::ReplayReport report;
  EXPECT_TRUE(replay_ids(spool, report).empty());
  EXPECT_FALSE(fs::exists(path_));
}

TEST_F(AuditSpoolTest, AppendCreatesAPrivateFileOfJsonLines) {
  AuditSpool spool(path_);
  ASSERT_TRUE(spool.open().ok());
  const auto batch = records(0, 3);
  ASSERT_TRUE(spool.append(batch).ok());
  EXPECT_EQ(spool.records(), 3u);
  EXPECT_EQ(contents(), line_of(batch[0]) + line_of(batch[1]) + line_of(batch[2]));
  struct stat st {};
  ASSERT_EQ(::stat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST_F(AuditSpoolTest, ReplayGivesRecordsInOrderInBatches) {
  AuditSpool spool(path_);
  ASSERT_TRUE(spool.open().ok());
  ASSERT_TRUE(spool.append(records(0, 4)).ok());
  ASSERT_TRUE(spool.append(records(4, 7)).ok());
  std::vector<std::size_t> sizes;
  AuditSpool::ReplayReport report;
  auto st = spool.replay(
      3,
      [&](std::span<const AuditRecord> batch) -> base::Status {
        sizes.push_back(batch.size());
        return base::Ok{};
      },
      report);
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(sizes, (std::vector<std::size_t>{3, 3, 1}));
  EXPECT_EQ(report.replayed, 7u);
  EXPECT_EQ(report.unreadable, 0u);
  EXPECT_FALSE(report.torn_tail);
}

TEST_F(AuditSpoolTest, AFileFromAnEarlierRunIsCountedAndReplayed) {
  {
    AuditSpool spool(path_);
    ASSERT_TRUE(spool.append(records(0, 5)).ok());
  }
  AuditSpool spool(path_);
  ASSERT_TRUE(spool.open().ok());
  EXPECT_EQ(spool.records(), 5u);
  AuditSpool::ReplayReport report;
  EXPECT_EQ(replay_ids(spool, report),
            (std::vector<std::string>{"req_0", "req_1", "req_2", "req_3", "req_4"}));
}

TEST_F(AuditSpoolTest, ATornLastLineIsSkippedAndTheNextAppendStartsANewLine) {
  const std::string whole = line_of(record(0)) + line_of(record(1));
  const std::string third = line_of(record(2));
  write_file(whole + third.substr(0, third.size() / 2));

  AuditSpool spool(path_);
  ASSERT_TRUE(spool.open().ok());
  EXPECT_EQ(spool.records(), 2u);
  AuditSpool::ReplayReport report;
  EXPECT_EQ(replay_ids(spool, report), (std::vector<std::string>{"req_0", "req_1"}));
  EXPECT_TRUE(report.torn_tail);

  // Appended after the torn piece, the record is on a line of its own and reads back.
  ASSERT_TRUE(spool.append(records(3, 4)).ok());
  EXPECT_EQ(spool.records(), 3u);
  EXPECT_EQ(replay_ids(spool, report), (std::vector<std::string>{"req_0", "req_1", "req_3"}));
  EXPECT_FALSE(report.torn_tail);
  EXPECT_EQ(report.unreadable, 1u);  // the torn piece, now a whole line
}

TEST_F(AuditSpoolTest, UnreadableLinesAreSkippedAndCounted) {
  write_file(line_of(record(0)) + "not json\n\n" + R"({"request_id":""})" + "\n" +
             line_of(record(1)));
  AuditSpool spool(path_);
  ASSERT_TRUE(spool.open().ok());
  EXPECT_EQ(spool.records(), 2u);
  AuditSpool::ReplayReport report;
  EXPECT_EQ(replay_ids(spool, report), (std::vector<std::string>{"req_0", "req_1"}));
  EXPECT_EQ(report.unreadable, 2u);
}

TEST_F(AuditSpoolTest, LinesLongerThanOneReadAreWhole) {
  AuditRecord big = record(0);
  big.request_body = std::string(300'000, 'x');
  AuditSpool spool(path_);
  ASSERT_TRUE(spool.append(std::vector<AuditRecord>{big, record(1)}).ok());
  std::vector<AuditRecord> back;
  AuditSpool::ReplayReport report;
  ASSERT_TRUE(spool
                  .replay(
                      10,
                      [&](std::span<const AuditRecord> batch) -> base::Status {
                        back.insert(back.end(), batch.begin(), batch.end());
                        return base::Ok{};
                      },
                      report)
                  .ok());
  ASSERT_EQ(back.size(), 2u);
  EXPECT_EQ(back[0].request_body, big.request_body);
  EXPECT_EQ(back[1].request_id, "req_1");
}

TEST_F(AuditSpoolTest, ASinkErrorStopsTheReplayAndLeavesTheFile) {
  AuditSpool spool(path_);
  ASSERT_TRUE(spool.append(records(0, 6)).ok());
  const std::string before = contents();
  int calls = 0;
  AuditSpool::ReplayReport report;
  auto st = spool.replay(
      2,
      [&](std::span<const AuditRecord>) -> base::Status {
        if (++calls == 2) return base::make_error(base::ErrorCode::kUnavailable, "store down");
        return base::Ok{};
      },
      report);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().message, "store down");
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(report.replayed, 2u);
  EXPECT_EQ(contents(), before);
  EXPECT_EQ(spool.records(), 6u);
}

TEST_F(AuditSpoolTest, ClearEmptiesTheFile) {
  AuditSpool spool(path_);
  ASSERT_TRUE(spool.append(records(0, 3)).ok());
  ASSERT_TRUE(spool.clear().ok());
  EXPECT_TRUE(spool.empty());
  EXPECT_EQ(spool.records(), 0u);
  EXPECT_EQ(contents(), "");
  ASSERT_TRUE(spool.append(records(3, 4)).ok());
  EXPECT_EQ(contents(), line_of(record(3)));
}

TEST_F(AuditSpoolTest, AFailedAppendIsAnErrorAndCountsNothing) {
  // /dev/full takes no byte: every write fails with ENOSPC, as on a full disk.
  AuditSpool full("/dev/full");
  ASSERT_TRUE(full.open().ok());
  auto st = full.append(records(0, 2));
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, base::ErrorCode::kInternal);
  EXPECT_NE(st.error().message.find("/dev/full"), std::string::npos) << st.error().message;
  EXPECT_EQ(full.records(), 0u);

  AuditSpool nowhere((dir_ / "missing" / "audit.spool").string());
  EXPECT_FALSE(nowhere.append(records(0, 1)).ok());
  EXPECT_EQ(nowhere.records(), 0u);
}

}  // namespace
}  // namespace shepherd::storage
