// The behaviour every Store promises (storage/store.hpp), written once and run against each
// backend. A backend's test file implements StoreBackend and instantiates the suite:
//
//   INSTANTIATE_TEST_SUITE_P(Sqlite, StoreContract, ::testing::Values(&backend),
//                            contract::backend_name);
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "storage/sql_common.hpp"
#include "storage/store.hpp"

namespace shepherd::storage::contract {

class StoreBackend {
 public:
  virtual ~StoreBackend() = default;

  virtual std::string name() const = 0;
  // The URL of a new, empty store for open_store(); another one on each call.
  virtual std::string fresh_url() = 0;
  // Opens `url` with the migrations applied up to `version` only (an older Shepherd's store).
  virtual base::Result<std::unique_ptr<Store>> open_at_version(const std::string& url,
                                                               int version) = 0;
  // After each test: removes what fresh_url() made.
  virtual void clean_up() {}
};

// --- Helpers for the suite and for backend-specific tests.

inline constexpr Millis kSecond = 1000;
inline constexpr Millis kDay = 86'400'000;
inline constexpr Millis kMonday = 1'741'564'800'000;  // 2025-03-10 00:00 UTC

// The value of `r`; a failure of the test (and the end of it) otherwise.
template <typename T>
T ok(base::Result<T> r) {
  if (!r.ok()) throw std::runtime_error("unexpected error: " + r.error().message);
  return std::move(r).value();
}

inline KeyRecord make_key(const std::string& id, unsigned char hash_seed,
                          Millis created = kMonday) {
  KeyRecord k;
  k.id = id;
  k.name = "name of " + id;
  k.prefix = "sk-shep-" + id;
  k.hash.fill(hash_seed);
  k.hash[31] = 0xA5;
  k.created_at = created;
  k.updated_at = created;
  return k;
}

inline KeyRecord full_key(const std::string& id, unsigned char hash_seed) {
  KeyRecord k = make_key(id, hash_seed);
  k.models = {"gpt-4o", "claude-sonnet"};
  k.rpm = 60;
  k.tpm = 100'000;
  k.max_parallel = 4;
  k.budget = Budget{12.5, BudgetPeriod::kWeek};
  k.expires_at = kMonday + 30 * kDay;
  k.metadata = R"({"owner":"ana","team":"search"})";
  k.log_bodies = true;
  k.revoked_at = kMonday + kDay;
  k.updated_at = kMonday + 5;
  return k;
}

// A record named "req_NAME": its request id is "req_", `time` in 12 hex digits, then NAME, the
// shape of Shepherd's ids (the stores find time ranges through them). ids() gives the names back.
inline AuditRecord record(const std::string& name, Millis time, const std::string& key_id = "key_a",
                          const std::string& model = "gpt-4o", double cost = 0.5) {
  AuditRecord r;
  r.request_id = sql::id_floor(time) + name.substr(4);
  r.time = time;
  r.key_id = key_id;
  r.model = model;
  r.deployment = model + "-primary";
  r.provider = "openai";
  r.attempts = 1;
  r.status = 200;
  r.prompt_tokens = 10;
  r.completion_tokens = 20;
  r.cost_usd = cost;
  r.list_cost_usd = cost * 2;
  r.latency_us = 1000;
  r.client_address = "127.0.0.1";
  r.dialect = "openai";
  return r;
}

inline void expect_same(const KeyRecord& a, const KeyRecord& b) {
  EXPECT_EQ(a.id, b.id);
  EXPECT_EQ(a.name, b.name);
  EXPECT_EQ(a.prefix, b.prefix);
  EXPECT_EQ(a.hash, b.hash);
  EXPECT_EQ(a.models, b.models);
  EXPECT_EQ(a.rpm, b.rpm);
  EXPECT_EQ(a.tpm, b.tpm);
  EXPECT_EQ(a.max_parallel, b.max_parallel);
  ASSERT_EQ(a.budget.has_value(), b.budget.has_value());
  if (a.budget) {
    EXPECT_EQ(a.budget->usd, b.budget->usd);
    EXPECT_EQ(a.budget->period, b.budget->period);
  }
  EXPECT_EQ(a.expires_at, b.expires_at);
  EXPECT_EQ(a.metadata, b.metadata);
  EXPECT_EQ(a.log_bodies, b.log_bodies);
  EXPECT_EQ(a.created_at, b.created_at);
  EXPECT_EQ(a.updated_at, b.updated_at);
  EXPECT_EQ(a.revoked_at, b.revoked_at);
}

inline void expect_same(const AuditRecord& a, const AuditRecord& b) {
  EXPECT_EQ(a.request_id, b.request_id);
  EXPECT_EQ(a.time, b.time);
  EXPECT_EQ(a.key_id, b.key_id);
  EXPECT_EQ(a.model, b.model);
  EXPECT_EQ(a.deployment, b.deployment);
  EXPECT_EQ(a.provider, b.provider);
  EXPECT_EQ(a.attempts, b.attempts);
  EXPECT_EQ(a.status, b.status);
  EXPECT_EQ(a.error_class, b.error_class);
  EXPECT_EQ(a.prompt_tokens, b.prompt_tokens);
  EXPECT_EQ(a.completion_tokens, b.completion_tokens);
  EXPECT_EQ(a.cached_tokens, b.cached_tokens);
  EXPECT_EQ(a.reasoning_tokens, b.reasoning_tokens);
  EXPECT_EQ(a.cost_usd, b.cost_usd);
  EXPECT_EQ(a.list_cost_usd, b.list_cost_usd);
  EXPECT_EQ(a.usage_estimated, b.usage_estimated);
  EXPECT_EQ(a.latency_us, b.latency_us);
  EXPECT_EQ(a.ttft_us, b.ttft_us);
  EXPECT_EQ(a.client_address, b.client_address);
  EXPECT_EQ(a.streamed, b.streamed);
  EXPECT_EQ(a.dialect, b.dialect);
  EXPECT_EQ(a.request_body, b.request_body);
  EXPECT_EQ(a.response_body, b.response_body);
  EXPECT_EQ(a.client_request_id, b.client_request_id);
}

// AuditFilter built field by field (designated initializers would leave the others to
// -Wmissing-field-initializers).
struct Filter {
  AuditFilter f;
  Filter& since(Millis t) {
    f.since = t;
    return *this;
  }
  Filter& until(Millis t) {
    f.until = t;
    return *this;
  }
  Filter& client_request_id(const std::string& id) {
    f.client_request_id = id;
    return *this;
  }
  Filter& model(const std::string& m) {
    f.model = m;
    return *this;
  }
  Filter& key_id(const std::string& k) {
    f.key_id = k;
    return *this;
  }
  Filter& status(std::int32_t s) {
    f.status = s;
    return *this;
  }
  Filter& limit(std::int64_t n) {
    f.limit = n;
    return *this;
  }
  operator const AuditFilter&() const { return f; }  // NOLINT(google-explicit-constructor)
};

inline std::vector<std::string> ids(const std::vector<AuditRecord>& records) {
  std::vector<std::string> out;
  for (const auto& r : records) out.push_back("req_" + r.request_id.substr(16));
  return out;
}

inline const SpendRow* group(const std::vector<SpendRow>& rows, const std::string& name) {
  for (const auto& r : rows) {
    if (r.group == name) return &r;
  }
  return nullptr;
}

std::string backend_name(const ::testing::TestParamInfo<StoreBackend*>& info);
// How gtest shows the parameter in failure messages.
void PrintTo(StoreBackend* backend, std::ostream* os);

class StoreContract : public ::testing::TestWithParam<StoreBackend*> {
 protected:
  void SetUp() override;
  void TearDown() override;

  // Opens `url` (by default a fresh store's) through open_store().
  std::unique_ptr<Store> open(const std::string& url);

  std::string url_;
  std::unique_ptr<Store> store_;  // open at url_
};

}  // namespace shepherd::storage::contract
