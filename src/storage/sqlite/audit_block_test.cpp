#include "storage/sqlite/audit_block.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "storage/store_contract_test.hpp"

namespace shepherd::storage::sqlite {
namespace {

// The contract suite's record, with the given id and every counter set.
AuditRecord full(std::string id, Millis time) {
  AuditRecord r = contract::record("req_", time, "key_0123456789abcdef", "gpt-4.1", 0.001536);
  r.request_id = std::move(id);
  r.attempts = 2;
  r.cached_tokens = 7;
  r.reasoning_tokens = 3;
  return r;
}

std::vector<AuditRecord> read_all(std::string_view data, bool* ok = nullptr) {
  AuditBlockReader reader(data);
  std::vector<AuditRecord> out;
  AuditRecord r;
  while (reader.next(r)) out.push_back(r);
  if (ok) *ok = reader.ok();
  return out;
}

using contract::expect_same;

TEST(AuditBlock, RoundTripsEveryFieldAndSetsTheBounds) {
  std::vector<AuditRecord> records;
  records.push_back(full("req_0000000003e8b", 1000));
  auto second = full("req_0000000003e8a", 990);  // completed later, arrived earlier
  second.model = "claude-sonnet-4.5";
  second.error_class = "upstream_timeout";
  second.status = 504;
  second.usage_estimated = true;
  second.streamed = true;
  second.ttft_us = 1234;
  second.request_body = R"({"messages":[{"role":"user","content":"héllo 🐑"}]})";
  second.response_body = "";
  second.client_request_id = "client-7";
  records.push_back(second);
  auto third = full("req_0000000003e8c", 1'000'000'000'000'000);
  third.key_id.clear();
  third.prompt_tokens = -5;  // never written by Shepherd; still kept as given
  third.attempts = 0;
  records.push_back(third);

  std::string data;
  BlockBounds bounds;
  encode_audit_block(records, data, bounds);
  EXPECT_EQ(bounds.first_id, "req_0000000003e8a");
  EXPECT_EQ(bounds.last_id, "req_0000000003e8c");
  EXPECT_EQ(bounds.min_time, 990);
  EXPECT_EQ(bounds.max_time, 1'000'000'000'000'000);
  EXPECT_EQ(bounds.records, 3);

  bool ok = false;
  const auto back = read_all(data, &ok);
  EXPECT_TRUE(ok);
  ASSERT_EQ(back.size(), 3u);
  for (std::size_t i = 0; i < 3; ++i) expect_same(back[i], records[i]);
}

TEST(AuditBlock, RepeatedFieldsCostOneByteAndReadBackIntoFreshRecords) {
  std::vector<AuditRecord> records;
  for (int i = 0; i < 100; ++i)
    records.push_back(full("req_00000000" + std::to_string(1000 + i), 1000 + i));
  std::string data;
  BlockBounds bounds;
  encode_audit_block(records, data, bounds);
  // A record alone carries its seven texts (67 bytes here); repeated, each is one byte.
  std::string one;
  encode_audit_block(std::span(records).first(1), one, bounds);
  EXPECT_LT(data.size() - one.size(), 99 * (one.size() - 60));
  // Each record read into a new AuditRecord still gets the fields it repeats.
  AuditBlockReader reader(data);
  for (int i = 0; i < 100; ++i) {
    AuditRecord r;
    ASSERT_TRUE(reader.next(r));
    expect_same(r, records[static_cast<std::size_t>(i)]);
  }
  AuditRecord end;
  EXPECT_FALSE(reader.next(end));
  EXPECT_TRUE(reader.ok());
}

TEST(AuditBlock, StoresTextCleanedAndNumbersFinite) {
  auto r = full("req_1", 1);
  r.model = std::string("bad\xff model");
  r.request_body = std::string("a\0b", 3);
  r.cost_usd = NAN;
  r.list_cost_usd = INFINITY;
  std::string data;
  BlockBounds bounds;
  encode_audit_block(std::vector{r}, data, bounds);
  const auto back = read_all(data);
  ASSERT_EQ(back.size(), 1u);
  EXPECT_EQ(back[0].model, "bad\xEF\xBF\xBD model");
  EXPECT_EQ(back[0].request_body,
            "a\xEF\xBF\xBD"
            "b");
  EXPECT_EQ(back[0].cost_usd, 0.0);
  EXPECT_EQ(back[0].list_cost_usd, 0.0);
}

TEST(AuditBlock, EveryTruncationAndCorruptionIsRefusedWithoutACrash) {
  auto a = full("req_a", 5);
  a.request_body = "body";
  a.ttft_us = 9;
  std::string data;
  BlockBounds bounds;
  encode_audit_block(std::vector{a, full("req_b", 6)}, data, bounds);
  for (std::size_t n = 0; n < data.size(); ++n) {
    bool ok = true;
    const auto back = read_all(std::string_view(data).substr(0, n), &ok);
    EXPECT_FALSE(ok) << "a block cut to " << n << " bytes reads as whole";
    EXPECT_LT(back.size(), 2u);
  }
  // Every byte flipped in turn: the reader stops or reads something, within the bytes it has.
  for (std::size_t i = 0; i < data.size(); ++i) {
    std::string bad = data;
    bad[i] = static_cast<char>(bad[i] ^ 0xFF);
    (void)read_all(bad);
  }
  EXPECT_FALSE(AuditBlockReader("").ok());
  EXPECT_FALSE(AuditBlockReader("B\x02\x01").ok());  // a format this build does not know
  // A first record that "repeats" fields of a record before it is malformed.
  std::string repeats_nothing = data;
  const std::size_t key_at = 3 + 1 + a.request_id.size() + 1;  // magic, format, count, id, time
  ASSERT_LT(key_at, repeats_nothing.size());
  repeats_nothing[key_at] = 0;
  bool ok = true;
  EXPECT_TRUE(read_all(repeats_nothing, &ok).empty());
  EXPECT_FALSE(ok);
}

}  // namespace
}  // namespace shepherd::storage::sqlite
