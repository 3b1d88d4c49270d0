#include "storage/store_contract_test.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <thread>

#include "storage/migrations.hpp"

namespace shepherd::storage::contract {

using base::ErrorCode;

std::string backend_name(const ::testing::TestParamInfo<StoreBackend*>& info) {
  return info.param->name();
}

void PrintTo(StoreBackend* backend, std::ostream* os) { *os << backend->name(); }

void StoreContract::SetUp() {
  url_ = GetParam()->fresh_url();
  store_ = open(url_);
}

void StoreContract::TearDown() {
  store_.reset();
  GetParam()->clean_up();
}

std::unique_ptr<Store> StoreContract::open(const std::string& url) {
  auto store = open_store(url);
  if (!store) throw std::runtime_error("cannot open the store: " + store.error().message);
  return std::move(*store);
}

// --- Migrations.

TEST_P(StoreContract, OpensTwiceWithoutApplyingMigrationsAgain) {
  EXPECT_EQ(store_->schema_version(), latest_schema_version());
  ASSERT_TRUE(store_->insert_key(make_key("key_1", 1)).ok());
  store_.reset();
  auto again = open(url_);
  EXPECT_EQ(again->schema_version(), latest_schema_version());
  EXPECT_TRUE(ok(again->find_key("key_1")).has_value());
  EXPECT_EQ(ok(again->keys()).size(), 1u);
}

TEST_P(StoreContract, UpgradesAStoreCreatedAtVersionOne) {
  const auto url = GetParam()->fresh_url();
  {
    auto v1 = ok(GetParam()->open_at_version(url, 1));
    EXPECT_EQ(v1->schema_version(), 1);
    ASSERT_TRUE(v1->insert_key(full_key("key_old", 7)).ok());
  }
  auto upgraded = open(url);
  EXPECT_EQ(upgraded->schema_version(), latest_schema_version());
  auto key = ok(upgraded->find_key("key_old"));
  ASSERT_TRUE(key.has_value());
  expect_same(*key, full_key("key_old", 7));
  EXPECT_EQ(ok(upgraded->append(std::vector{record("req_1", kMonday, "key_old")})), 1);
  EXPECT_EQ(ok(upgraded->key_spend("key_old", 0)), 0.5);
}

TEST_P(StoreContract, StoresOpenedTogetherMigrateOnce) {
  const auto url = GetParam()->fresh_url();
  base::Result<std::unique_ptr<Store>> a = base::make_error(ErrorCode::kInternal, "not run");
  base::Result<std::unique_ptr<Store>> b = base::make_error(ErrorCode::kInternal, "not run");
  std::thread other([&] { a = open_store(url); });
  b = open_store(url);
  other.join();
  ASSERT_TRUE(a.ok()) << a.error().message;
  ASSERT_TRUE(b.ok()) << b.error().message;
  EXPECT_EQ((*a)->schema_version(), latest_schema_version());
  EXPECT_EQ((*b)->schema_version(), latest_schema_version());
  EXPECT_EQ(ok((*a)->keys_version()), ok((*b)->keys_version()));
}

// --- Virtual keys.

TEST_P(StoreContract, KeysRoundTripEveryField) {
  const auto full = full_key("key_full", 1);
  const auto bare = make_key("key_bare", 2);
  ASSERT_TRUE(store_->insert_key(full).ok());
  ASSERT_TRUE(store_->insert_key(bare).ok());
  expect_same(*ok(store_->find_key("key_full")), full);
  expect_same(*ok(store_->find_key("key_bare")), bare);
  EXPECT_FALSE(ok(store_->find_key("key_missing")).has_value());
}

TEST_P(StoreContract, ListsKeysOldestFirstRevokedIncluded) {
  auto revoked = make_key("key_c", 3, kMonday + 300);
  revoked.revoked_at = kMonday + 400;
  ASSERT_TRUE(store_->insert_key(revoked).ok());
  ASSERT_TRUE(store_->insert_key(make_key("key_a", 1, kMonday + 100)).ok());
  ASSERT_TRUE(store_->insert_key(make_key("key_b", 2, kMonday + 200)).ok());
  const auto keys = ok(store_->keys());
  ASSERT_EQ(keys.size(), 3u);
  EXPECT_EQ(keys[0].id, "key_a");
  EXPECT_EQ(keys[1].id, "key_b");
  EXPECT_EQ(keys[2].id, "key_c");
  EXPECT_EQ(keys[2].revoked_at, kMonday + 400);
}

TEST_P(StoreContract, UpdateReplacesEveryField) {
  ASSERT_TRUE(store_->insert_key(full_key("key_1", 1)).ok());
  KeyRecord changed = make_key("key_1", 9, kMonday + 1);
  changed.name = "renamed";
  changed.models = {"only-this"};
  changed.budget = Budget{0.25, BudgetPeriod::kTotal};
  changed.metadata = "{}";
  ASSERT_TRUE(store_->update_key(changed).ok());
  expect_same(*ok(store_->find_key("key_1")), changed);
}

TEST_P(StoreContract, UpdatingAnUnknownKeyIsNotFoundAndChangesNothing) {
  const auto before = ok(store_->keys_version());
  auto s = store_->update_key(make_key("key_missing", 1));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, ErrorCode::kNotFound);
  EXPECT_EQ(ok(store_->keys_version()), before);
  EXPECT_TRUE(ok(store_->keys()).empty());
}

TEST_P(StoreContract, DuplicateIdOrHashIsAConflictAndChangesNothing) {
  const auto original = full_key("key_1", 1);
  ASSERT_TRUE(store_->insert_key(original).ok());
  ASSERT_TRUE(store_->insert_key(make_key("key_2", 2)).ok());
  const auto before = ok(store_->keys_version());

  auto same_id = store_->insert_key(make_key("key_1", 5));
  ASSERT_FALSE(same_id.ok());
  EXPECT_EQ(same_id.error().code, ErrorCode::kConflict);
  auto same_hash = store_->insert_key(make_key("key_3", 1));
  ASSERT_FALSE(same_hash.ok());
  EXPECT_EQ(same_hash.error().code, ErrorCode::kConflict);
  auto update_to_taken_hash = store_->update_key(make_key("key_2", 1));
  ASSERT_FALSE(update_to_taken_hash.ok());
  EXPECT_EQ(update_to_taken_hash.error().code, ErrorCode::kConflict);

  EXPECT_EQ(ok(store_->keys_version()), before);
  EXPECT_EQ(ok(store_->keys()).size(), 2u);
  expect_same(*ok(store_->find_key("key_1")), original);
  // The store still takes writes after the failed ones.
  EXPECT_TRUE(store_->insert_key(make_key("key_3", 3)).ok());
}

TEST_P(StoreContract, KeysVersionChangesOnEveryWriteAndIsSeenByOtherConnections) {
  auto other = open(url_);
  const auto v0 = ok(store_->keys_version());
  ASSERT_TRUE(store_->insert_key(make_key("key_1", 1)).ok());
  const auto v1 = ok(other->keys_version());
  EXPECT_NE(v1, v0);
  auto revoked = make_key("key_1", 1);
  revoked.revoked_at = kMonday + 10;
  ASSERT_TRUE(store_->update_key(revoked).ok());
  const auto v2 = ok(other->keys_version());
  EXPECT_NE(v2, v1);
  EXPECT_NE(v2, v0);
  EXPECT_EQ(ok(other->find_key("key_1"))->revoked_at, kMonday + 10);
  ASSERT_TRUE(other->insert_key(make_key("key_2", 2)).ok());
  EXPECT_NE(ok(store_->keys_version()), v2);
}

// --- Audit records.

TEST_P(StoreContract, AppendsAndReadsBackNewestFirst) {
  EXPECT_EQ(ok(store_->append({})), 0);
  const std::vector<AuditRecord> batch{record("req_b", kMonday + 2), record("req_d", kMonday + 4),
                                       record("req_a", kMonday + 1), record("req_c2", kMonday + 3),
                                       record("req_c1", kMonday + 3)};
  EXPECT_EQ(ok(store_->append(batch)), 5);
  // Equal times: the later request id (ids sort in time order) first.
  EXPECT_EQ(ids(ok(store_->requests({}))),
            (std::vector<std::string>{"req_d", "req_c2", "req_c1", "req_b", "req_a"}));
}

// Batches as the audit writer appends them, in completion order: a long request's record comes
// in a later batch than newer short ones, so batches overlap in time.
TEST_P(StoreContract, NewestFirstAndPruneAcrossBatchesThatOverlapInTime) {
  const std::vector<std::vector<AuditRecord>> batches{
      {record("req_05", kMonday + 5), record("req_06", kMonday + 6)},
      {record("req_01", kMonday + 1), record("req_07", kMonday + 7), record("req_08", kMonday + 8)},
      {record("req_03", kMonday + 3, "key_b"), record("req_09", kMonday + 9)},
      {record("req_02", kMonday + 2), record("req_04", kMonday + 4)}};
  std::vector<AuditRecord> all;
  for (const auto& batch : batches) {
    EXPECT_EQ(ok(store_->append(batch, Store::Stored::kNone)),
              static_cast<std::int64_t>(batch.size()));
    all.insert(all.end(), batch.begin(), batch.end());
  }
  std::sort(all.begin(), all.end(),
            [](const AuditRecord& a, const AuditRecord& b) { return a.request_id > b.request_id; });
  const auto newest = [&](std::size_t from, std::size_t n) {
    return ids(std::vector(all.begin() + from, all.begin() + std::min(all.size(), from + n)));
  };
  for (std::size_t n = 1; n <= 10; ++n) {
    EXPECT_EQ(ids(ok(store_->requests(Filter().limit(static_cast<std::int64_t>(n))))), newest(0, n))
        << "limit " << n;
  }
  EXPECT_EQ(ids(ok(store_->requests(Filter().until(kMonday + 5).limit(2)))),
            (std::vector<std::string>{"req_04", "req_03"}));
  EXPECT_EQ(ids(ok(store_->requests(Filter().key_id("key_b")))),
            std::vector<std::string>{"req_03"});
  // The second and third batches lose one record each, the last one both.
  EXPECT_EQ(ok(store_->prune(kMonday + 5)), 4);
  EXPECT_EQ(ids(ok(store_->requests({}))), newest(0, 5));
  EXPECT_EQ(ok(store_->spend(SpendBy::kModel, std::nullopt, std::nullopt))[0].requests, 5);
}

TEST_P(StoreContract, FiltersRequestsByEachFieldAndLimit) {
  auto rate_limited = record("req_4", kMonday + 4 * kSecond, "key_b", "claude");
  rate_limited.status = 429;
  const std::vector<AuditRecord> batch{record("req_1", kMonday + 1 * kSecond, "key_a", "gpt-4o"),
                                       record("req_2", kMonday + 2 * kSecond, "key_b", "gpt-4o"),
                                       record("req_3", kMonday + 3 * kSecond, "key_a", "claude"),
                                       rate_limited};
  ASSERT_EQ(ok(store_->append(batch)), 4);
  auto query = [&](const AuditFilter& f) { return ids(ok(store_->requests(f))); };
  using Ids = std::vector<std::string>;
  EXPECT_EQ(query(Filter().since(kMonday + 2 * kSecond)), (Ids{"req_4", "req_3", "req_2"}));
  EXPECT_EQ(query(Filter().until(kMonday + 2 * kSecond)), (Ids{"req_1"}));
  EXPECT_EQ(query(Filter().model("claude")), (Ids{"req_4", "req_3"}));
  EXPECT_EQ(query(Filter().key_id("key_a")), (Ids{"req_3", "req_1"}));
  EXPECT_EQ(query(Filter().status(429)), (Ids{"req_4"}));
  EXPECT_EQ(query(Filter()
                      .since(kMonday + 2 * kSecond)
                      .until(kMonday + 4 * kSecond)
                      .model("claude")
                      .key_id("key_a")
                      .status(200)),
            (Ids{"req_3"}));
  EXPECT_EQ(query(Filter().limit(2)), (Ids{"req_4", "req_3"}));
  EXPECT_EQ(query(Filter().limit(0)), Ids{});
  EXPECT_EQ(query(Filter().model("nobody")), Ids{});
}

// Time ranges read the request ids' range (sql::id_floor()), with a slack for ids made a little
// before the request's arrived_at.
TEST_P(StoreContract, TimeRangesFindIdsMadeUpToTheSlackBeforeArrival) {
  auto early = record("req_early", kMonday + kDay);
  early.request_id = sql::id_floor(kMonday + kDay - sql::kIdSlack + 1) + "early";
  ASSERT_EQ(ok(store_->append(std::vector{early, record("req_before", kMonday + kDay - 1)})), 2);
  auto query = [&](const AuditFilter& f) { return ok(store_->requests(f)).size(); };
  EXPECT_EQ(query(Filter().since(kMonday + kDay)), 1u);
  EXPECT_EQ(query(Filter().until(kMonday + kDay)), 1u);
  EXPECT_EQ(query(Filter().since(kMonday + kDay).until(kMonday + kDay + 1)), 1u);
  const auto spend = ok(store_->spend(SpendBy::kModel, kMonday + kDay, kMonday + kDay + 1));
  ASSERT_EQ(spend.size(), 1u);
  EXPECT_EQ(spend[0].requests, 1);
  EXPECT_EQ(ok(store_->prune(kMonday + kDay)), 1);
  EXPECT_EQ(ok(store_->prune(kMonday + kDay + 1)), 1);
  EXPECT_EQ(query({}), 0u);
}

TEST_P(StoreContract, LimitIsAtMostTenThousand) {
  std::vector<AuditRecord> batch;
  for (int i = 0; i < 10'001; ++i) batch.push_back(record("req_" + std::to_string(i), kMonday + i));
  ASSERT_EQ(ok(store_->append(batch)), 10'001);
  EXPECT_EQ(ok(store_->requests(Filter().limit(1'000'000))).size(), 10'000u);
}

TEST_P(StoreContract, DuplicateRequestIdIsWrittenOnceAndCountedOnce) {
  const std::vector<AuditRecord> first{record("req_a", kMonday, "key_a", "m", 1),
                                       record("req_b", kMonday, "key_a", "m", 2),
                                       record("req_a", kMonday, "key_a", "m", 1)};
  EXPECT_EQ(ok(store_->append(first)), 2);
  // A replayed spool: req_b again, with req_c new.
  const std::vector<AuditRecord> replay{record("req_b", kMonday, "key_a", "m", 2),
                                        record("req_c", kMonday, "key_a", "m", 4)};
  EXPECT_EQ(ok(store_->append(replay)), 1);
  EXPECT_EQ(ok(store_->requests({})).size(), 3u);
  EXPECT_EQ(ok(store_->key_spend("key_a", 0)), 7.0);
  const auto by_key = ok(store_->spend(SpendBy::kKey, std::nullopt, std::nullopt));
  ASSERT_EQ(by_key.size(), 1u);
  EXPECT_EQ(by_key[0].requests, 3);
}

TEST_P(StoreContract, KeySpendCountsWholeUtcDaysFromSince) {
  const std::vector<AuditRecord> batch{
      record("req_1", kMonday - 1, "key_a", "m", 1),          // Sunday 23:59:59.999
      record("req_2", kMonday, "key_a", "m", 2),              // Monday 00:00
      record("req_3", kMonday + kDay - 1, "key_a", "m", 4),   // Monday 23:59:59.999
      record("req_4", kMonday + kDay, "key_a", "m", 8),       // Tuesday 00:00
      record("req_5", kMonday + kDay / 2, "key_b", "m", 16),  // another key
      record("req_6", kMonday + kDay / 2, "", "m", 32)};      // open mode: no key
  ASSERT_EQ(ok(store_->append(batch)), 6);
  EXPECT_EQ(ok(store_->key_spend("key_a", 0)), 15.0);
  EXPECT_EQ(ok(store_->key_spend("key_a", kMonday)), 14.0);
  EXPECT_EQ(ok(store_->key_spend("key_a", kMonday + kDay)), 8.0);
  EXPECT_EQ(ok(store_->key_spend("key_a", kMonday + 2 * kDay)), 0.0);
  // A since inside a day counts that whole day.
  EXPECT_EQ(ok(store_->key_spend("key_a", kMonday + kDay / 2)), 14.0);
  EXPECT_EQ(ok(store_->key_spend("key_b", 0)), 16.0);
  EXPECT_EQ(ok(store_->key_spend("", 0)), 0.0);
  EXPECT_EQ(ok(store_->key_spend("key_unknown", 0)), 0.0);
}

TEST_P(StoreContract, PruneDeletesOlderRecordsButNotKeySpend) {
  const std::vector<AuditRecord> batch{record("req_1", kMonday - kDay, "key_a", "m", 1),
                                       record("req_2", kMonday - 1, "key_a", "m", 2),
                                       record("req_3", kMonday, "key_a", "m", 4)};
  ASSERT_EQ(ok(store_->append(batch)), 3);
  EXPECT_EQ(ok(store_->prune(kMonday)), 2);
  EXPECT_EQ(ids(ok(store_->requests({}))), std::vector<std::string>{"req_3"});
  EXPECT_EQ(ok(store_->prune(kMonday)), 0);
  EXPECT_EQ(ok(store_->key_spend("key_a", 0)), 7.0);
}

TEST_P(StoreContract, SpendByModelSumsCountsErrorsAndLatencyPercentile) {
  std::vector<AuditRecord> batch;
  for (int i = 1; i <= 100; ++i) {
    auto r = record("req_a" + std::to_string(i), kMonday + i, "key_a", "model-a", 0.25);
    r.latency_us = i * 1000;  // 1 ms .. 100 ms
    if (i % 40 == 0) r.error_class = "upstream_timeout";
    batch.push_back(r);
  }
  auto b = record("req_b", kMonday, "key_b", "model-b", 100);
  b.latency_us = 7000;
  b.prompt_tokens = 3;
  b.completion_tokens = 4;
  batch.push_back(b);
  ASSERT_EQ(ok(store_->append(batch)), 101);

  const auto rows = ok(store_->spend(SpendBy::kModel, std::nullopt, std::nullopt));
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].group, "model-b");  // most expensive first
  const SpendRow& a = rows[1];
  EXPECT_EQ(a.group, "model-a");
  EXPECT_EQ(a.requests, 100);
  EXPECT_EQ(a.errors, 2);
  EXPECT_EQ(a.prompt_tokens, 1000);
  EXPECT_EQ(a.completion_tokens, 2000);
  EXPECT_DOUBLE_EQ(a.cost_usd, 25);
  EXPECT_DOUBLE_EQ(a.list_cost_usd, 50);
  EXPECT_DOUBLE_EQ(a.avg_latency_ms, 50.5);
  EXPECT_DOUBLE_EQ(a.p99_latency_ms, 99);  // nearest rank: the 99th of 100
  EXPECT_EQ(rows[0].requests, 1);
  EXPECT_EQ(rows[0].errors, 0);
  EXPECT_EQ(rows[0].prompt_tokens, 3);
  EXPECT_DOUBLE_EQ(rows[0].p99_latency_ms, 7);
  EXPECT_DOUBLE_EQ(rows[0].avg_latency_ms, 7);

  // [since, until) keeps records 10..19 of model-a.
  const auto window = ok(store_->spend(SpendBy::kModel, kMonday + 10, kMonday + 20));
  ASSERT_EQ(window.size(), 1u);
  EXPECT_EQ(window[0].requests, 10);
  EXPECT_DOUBLE_EQ(window[0].p99_latency_ms, 19);
}

TEST_P(StoreContract, SpendByKeyProviderAndDay) {
  auto anthropic = record("req_3", kMonday + kDay, "", "claude", 1);
  anthropic.provider = "anthropic";
  const std::vector<AuditRecord> batch{record("req_1", kMonday - 1, "key_a", "m", 4),
                                       record("req_2", kMonday, "key_a", "m", 2), anthropic};
  ASSERT_EQ(ok(store_->append(batch)), 3);

  const auto by_key = ok(store_->spend(SpendBy::kKey, std::nullopt, std::nullopt));
  ASSERT_EQ(by_key.size(), 2u);
  EXPECT_EQ(by_key[0].group, "key_a");
  EXPECT_EQ(by_key[1].group, "");  // open mode
  EXPECT_DOUBLE_EQ(by_key[1].cost_usd, 1);

  const auto by_provider = ok(store_->spend(SpendBy::kProvider, std::nullopt, std::nullopt));
  ASSERT_EQ(by_provider.size(), 2u);
  EXPECT_EQ(by_provider[0].group, "openai");
  EXPECT_EQ(by_provider[0].requests, 2);
  EXPECT_EQ(by_provider[1].group, "anthropic");

  // By day: ascending, whatever the costs.
  const auto by_day = ok(store_->spend(SpendBy::kDay, std::nullopt, std::nullopt));
  ASSERT_EQ(by_day.size(), 3u);
  EXPECT_EQ(by_day[0].group, "2025-03-09");
  EXPECT_EQ(by_day[1].group, "2025-03-10");
  EXPECT_EQ(by_day[2].group, "2025-03-11");
  EXPECT_DOUBLE_EQ(by_day[0].cost_usd, 4);
  EXPECT_EQ(group(ok(store_->spend(SpendBy::kDay, kMonday, std::nullopt)), "2025-03-09"), nullptr);
}

TEST_P(StoreContract, SqlInFilterValuesIsJustText) {
  const std::vector<AuditRecord> batch{record("req_1", kMonday, "key_a", "gpt-4o"),
                                       record("req_2", kMonday + 1, "key'b", "it's")};
  ASSERT_EQ(ok(store_->append(batch)), 2);
  for (const std::string attack :
       {"x' OR '1'='1", "x\" OR \"1\"=\"1", "'; DROP TABLE audit_requests; --", "gpt-4o' --", "%",
        "x'); DELETE FROM virtual_keys; --"}) {
    EXPECT_TRUE(ok(store_->requests(Filter().model(attack))).empty()) << attack;
    EXPECT_TRUE(ok(store_->requests(Filter().key_id(attack))).empty()) << attack;
    EXPECT_FALSE(ok(store_->find_key(attack)).has_value()) << attack;
    EXPECT_EQ(ok(store_->key_spend(attack, 0)), 0.0) << attack;
  }
  // Quotes in stored values are matched as they are.
  EXPECT_EQ(ids(ok(store_->requests(Filter().model("it's")))), std::vector<std::string>{"req_2"});
  EXPECT_EQ(ids(ok(store_->requests(Filter().key_id("key'b")))), std::vector<std::string>{"req_2"});
  auto key = make_key("key_'; DROP TABLE virtual_keys; --", 1);
  key.name = "Robert'); DROP TABLE audit_requests; --";
  ASSERT_TRUE(store_->insert_key(key).ok());
  expect_same(*ok(store_->find_key(key.id)), key);
  EXPECT_EQ(ok(store_->requests({})).size(), 2u);
}

TEST_P(StoreContract, RecordWithEveryFieldAndBodiesRoundTrips) {
  AuditRecord full = record("req_full", kMonday + 123, "static:0", "gpt-4o-mini", 0.000123);
  full.deployment = "azure-east";
  full.provider = "azure";
  full.attempts = 3;
  full.status = 502;
  full.error_class = "upstream_unreachable";
  full.cached_tokens = 5;
  full.reasoning_tokens = 6;
  full.list_cost_usd = 0.1 + 0.2;  // not exactly representable: must come back bit for bit
  full.usage_estimated = true;
  full.latency_us = 1'234'567;
  full.ttft_us = 89'012;
  full.client_address = "[::1]:5555";
  full.streamed = true;
  full.dialect = "anthropic";
  full.request_body = "{\"messages\":[{\"role\":\"user\",\"content\":\"a\\\\b \\\"q\\\"\\n\"}]}";
  full.response_body = "line 1\nline 2\ttab ' \" \\ %";
  full.client_request_id = "trace-4bf92f3577b34da6";
  AuditRecord empty_bodies = record("req_empty", kMonday + 1);
  empty_bodies.request_body = "";
  empty_bodies.response_body = "";
  AuditRecord no_bodies = record("req_none", kMonday);
  ASSERT_EQ(ok(store_->append(std::vector{full, empty_bodies, no_bodies})), 3);
  const auto back = ok(store_->requests({}));
  ASSERT_EQ(back.size(), 3u);
  expect_same(back[0], full);
  expect_same(back[1], empty_bodies);
  expect_same(back[2], no_bodies);
  // The client's id finds its record; a record without one is never found by it.
  const auto by_client = ok(store_->requests(Filter().client_request_id("trace-4bf92f3577b34da6")));
  ASSERT_EQ(by_client.size(), 1u);
  EXPECT_EQ(by_client[0].request_id, full.request_id);
  EXPECT_TRUE(ok(store_->requests(Filter().client_request_id("nobody"))).empty());
}

TEST_P(StoreContract, UnicodeRoundTrips) {
  auto key = full_key("key_unicode", 4);
  key.name = "Zoë's key 🔑 — 東京";
  key.models = {"模型-ü-🚀", "ça"};
  key.metadata = R"({"team":"Équipe ☃","emoji":"🦙"})";
  ASSERT_TRUE(store_->insert_key(key).ok());
  expect_same(*ok(store_->find_key(key.id)), key);
  auto r = record("req_ü", kMonday, "key_unicode", "模型-ü-🚀");
  r.request_body = "{\"content\":\"Привет, 世界 🌍\"}";
  ASSERT_EQ(ok(store_->append(std::vector{r})), 1);
  const auto back = ok(store_->requests(Filter().model("模型-ü-🚀")));
  ASSERT_EQ(back.size(), 1u);
  expect_same(back[0], r);
  EXPECT_EQ(ok(store_->spend(SpendBy::kModel, std::nullopt, std::nullopt))[0].group, "模型-ü-🚀");
}

TEST_P(StoreContract, MalformedTextAndNumbersAreStoredNotRefused) {
  // A client's bytes that are not UTF-8, a NUL, and a cost that is not a number must not make
  // the batch (and every retry of it) fail.
  auto r = record("req_bad", kMonday, "key_a", std::string("bad\xff\xfe model"), NAN);
  r.request_body = std::string("a\0b", 3);
  ASSERT_EQ(ok(store_->append(std::vector{r, record("req_good", kMonday + 1)})), 2);
  const auto back = ok(store_->requests(Filter().model(std::string("bad\xff\xfe model"))));
  ASSERT_EQ(back.size(), 1u);
  EXPECT_EQ(back[0].model, "bad\xEF\xBF\xBD\xEF\xBF\xBD model");
  EXPECT_EQ(back[0].request_body,
            "a\xEF\xBF\xBD"
            "b");
  EXPECT_EQ(back[0].cost_usd, 0.0);
  EXPECT_EQ(ok(store_->key_spend("key_a", 0)), 0.5);
}

}  // namespace shepherd::storage::contract
