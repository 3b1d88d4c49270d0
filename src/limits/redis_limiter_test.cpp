#include "limits/redis_limiter.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>

#include "limits/redis_test_support.hpp"
#include "limits/window.hpp"

namespace shepherd::limits {
namespace {

namespace asio = net::asio;
using namespace std::chrono_literals;
using test::Instance;

constexpr Millis kDayMs = 86'400'000;

Millis wall_now() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

RedisOptions options(const std::string& url) {
  RedisOptions o;
  o.url = url;
  // Generous, so that a slow machine (sanitizers, parallel builds) never falls back by accident:
  // the tests check `failures` to be sure every count went through Redis.
  o.timeout = 2000ms;
  o.connect_timeout = 2000ms;
  return o;
}

KeyLimits limits_rpm(std::int64_t n) {
  KeyLimits l;
  l.rpm = n;
  return l;
}

KeyLimits limits_budget(double usd, BudgetPeriod period = BudgetPeriod::kDay) {
  KeyLimits l;
  l.budget = Budget{usd, period};
  return l;
}

TEST(RedisLimiter, CountsLikeTheLocalCounters) {
  Instance a("a", options(test::shared_redis_url()));
  // Every call goes through Redis: the pipeline awaits it.
  EXPECT_EQ(a.limiter->immediate(), nullptr);
  // One `now` for the whole test: the minute window cannot roll over under it.
  const Millis now = wall_now();
  const Millis window_end = window_start(now) + kWindowMs;

  const auto rk = test::unique_key("rpm");
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(a.admit(rk, limits_rpm(3), 0, now).admitted());
  auto t = a.admit(rk, limits_rpm(3), 0, now);
  EXPECT_EQ(t.refusal, Refusal::kRpm);
  EXPECT_EQ(t.retry_after, seconds_until(window_end, now));
  EXPECT_TRUE(a.admit(rk, limits_rpm(3), 0, now + kWindowMs).admitted());  // the next window

  const auto tk = test::unique_key("tpm");
  KeyLimits tpm;
  tpm.tpm = 100;
  auto t1 = a.admit(tk, tpm, 0, now);
  auto t2 = a.admit(tk, tpm, 0, now);
  a.settle(tk, t1, 60, 0, now);
  EXPECT_TRUE(a.admit(tk, tpm, 0, now).admitted());
  a.settle(tk, t2, 40, 0, now);
  t = a.admit(tk, tpm, 0, now);
  EXPECT_EQ(t.refusal, Refusal::kTpm);
  EXPECT_EQ(t.retry_after, seconds_until(window_end, now));

  const auto pk = test::unique_key("parallel");
  KeyLimits par;
  par.max_parallel = 2;
  auto p1 = a.admit(pk, par, 0, now);
  auto p2 = a.admit(pk, par, 0, now);
  EXPECT_TRUE(p1.holds_parallel && p2.holds_parallel);
  t = a.admit(pk, par, 0, now);
  EXPECT_EQ(t.refusal, Refusal::kParallel);
  EXPECT_EQ(t.retry_after, 1);
  a.settle(pk, p1, 0, 0, now);
  EXPECT_TRUE(a.admit(pk, par, 0, now).admitted());
  EXPECT_FALSE(a.admit(pk, par, 0, now).admitted());

  const auto bk = test::unique_key("budget");
  const auto day = limits_budget(1.0);
  const Millis period = period_start(BudgetPeriod::kDay, now);
  auto b1 = a.admit(bk, day, 600'000, now);
  ASSERT_TRUE(b1.admitted());
  EXPECT_TRUE(b1.budgeted);
  EXPECT_EQ(b1.period, period);
  EXPECT_FALSE(b1.local);
  EXPECT_EQ(a.spend(bk, period).reserved, 600'000);
  t = a.admit(bk, day, 400'001, now);
  EXPECT_EQ(t.refusal, Refusal::kBudget);
  EXPECT_EQ(t.retry_after, seconds_until(*period_end(BudgetPeriod::kDay, now), now));
  auto b2 = a.admit(bk, day, 400'000, now);
  ASSERT_TRUE(b2.admitted());
  a.settle(bk, b1, 1, 200'000, now);  // cheaper than reserved
  a.settle(bk, b2, 1, 500'000, now);  // dearer: the real cost counts
  auto spend = a.spend(bk, period);
  EXPECT_EQ(spend.spent, 700'000);
  EXPECT_EQ(spend.reserved, 0);
  EXPECT_EQ(a.admit(bk, day, 300'001, now).refusal, Refusal::kBudget);
  // The next day starts from nothing.
  auto next = a.admit(bk, day, 1'000'000, now + kDayMs);
  ASSERT_TRUE(next.admitted());
  EXPECT_EQ(next.period, period + kDayMs);

  const auto total = limits_budget(0.5, BudgetPeriod::kTotal);
  a.settle(bk + "-total", a.admit(bk + "-total", total, 0, now), 1, 500'000, now);
  t = a.admit(bk + "-total", total, 1, now);
  EXPECT_EQ(t.refusal, Refusal::kBudget);
  EXPECT_EQ(t.retry_after, std::nullopt);
  EXPECT_EQ(a.spend(bk + "-total", 0).spent, 500'000);

  EXPECT_EQ(a.health.failures.load(), 0u);
  EXPECT_FALSE(a.health.degraded.load());
}

// Runs `admits` admissions at once on each instance; returns how many were admitted.
int admit_concurrently(std::vector<std::unique_ptr<Instance>>& instances, const std::string& key,
                       const KeyLimits& limits, int admits, Millis now) {
  std::atomic<int> admitted{0};
  std::vector<std::future<void>> done;
  for (auto& in : instances) {
    for (int i = 0; i < admits; ++i) {
      done.push_back(asio::co_spawn(
          in->loop.executor(),
          [&, limiter = in->limiter.get()]() -> net::Task<void> {
            auto t = co_await limiter->admit(key, limits, 0, now);
            if (t.admitted() && !t.local) ++admitted;
          },
          asio::use_future));
    }
  }
  for (auto& d : done) d.get();
  return admitted.load();
}

std::vector<std::unique_ptr<Instance>> instances(int n, const RedisOptions& o) {
  std::vector<std::unique_ptr<Instance>> out;
  // With their heartbeats: each must stay alive in the others' eyes however long the test takes.
  for (int i = 0; i < n; ++i) {
    out.push_back(std::make_unique<Instance>("i" + std::to_string(i), o, true));
  }
  return out;
}

TEST(RedisLimiter, ThreeInstancesAdmitRpmInTotalPerWindow) {
  auto all = instances(3, options(test::shared_redis_url()));
  const auto key = test::unique_key("shared-rpm");
  const Millis now = wall_now();
  EXPECT_EQ(admit_concurrently(all, key, limits_rpm(50), 40, now), 50);
  EXPECT_EQ(admit_concurrently(all, key, limits_rpm(50), 10, now), 0);
  EXPECT_EQ(admit_concurrently(all, key, limits_rpm(50), 30, now + kWindowMs), 50);
  for (auto& in : all) EXPECT_EQ(in->health.failures.load(), 0u);
}

TEST(RedisLimiter, ParallelSlotsAreSharedAcrossInstances) {
  auto all = instances(3, options(test::shared_redis_url()));
  const auto key = test::unique_key("shared-parallel");
  const Millis now = wall_now();
  KeyLimits l;
  l.max_parallel = 3;
  auto a1 = all[0]->admit(key, l, 0, now);
  auto a2 = all[0]->admit(key, l, 0, now);
  auto b1 = all[1]->admit(key, l, 0, now);
  ASSERT_TRUE(a1.admitted() && a2.admitted() && b1.admitted());
  EXPECT_EQ(all[2]->admit(key, l, 0, now).refusal, Refusal::kParallel);
  all[0]->settle(key, a1, 0, 0, now);
  auto c1 = all[2]->admit(key, l, 0, now);
  EXPECT_TRUE(c1.admitted());
  EXPECT_EQ(all[1]->admit(key, l, 0, now).refusal, Refusal::kParallel);
  all[0]->settle(key, a2, 0, 0, now);
  all[1]->settle(key, b1, 0, 0, now);
  all[2]->settle(key, c1, 0, 0, now);
  // Every slot came back: of 15 requests at once across the instances, 3 get one.
  EXPECT_EQ(admit_concurrently(all, key, l, 5, now), 3);
}

TEST(RedisLimiter, BudgetRaceAcrossInstancesOverspendsByAtMostOneRequest) {
  auto all = instances(3, options(test::shared_redis_url()));
  const auto key = test::unique_key("shared-budget");
  const Millis now = wall_now();
  constexpr std::int64_t kBudget = 1'000'000;
  constexpr std::int64_t kWorst = 30'000;
  const auto l = limits_budget(1.0);
  std::atomic<int> requests{0};
  std::atomic<int> local{0};
  std::vector<std::future<void>> done;
  for (int w = 0; w < 50; ++w) {
    auto& in = *all[static_cast<std::size_t>(w % 3)];
    done.push_back(asio::co_spawn(
        in.loop.executor(),
        [&, w, limiter = in.limiter.get()]() -> net::Task<void> {
          for (int j = 0;; ++j) {
            auto t = co_await limiter->admit(key, l, kWorst, now);
            if (!t.admitted()) break;
            if (t.local) ++local;
            ++requests;
            const std::int64_t cost = 10'000 + (w * 13 + j * 7) % 20'001;
            co_await limiter->settle(key, t, 1, cost, now);
          }
        },
        asio::use_future));
  }
  for (auto& d : done) d.get();
  const auto spend = all[0]->spend(key, period_start(BudgetPeriod::kDay, now));
  EXPECT_EQ(local.load(), 0);
  EXPECT_GT(requests.load(), 30);
  EXPECT_EQ(spend.reserved, 0);
  EXPECT_LE(spend.spent, kBudget + kWorst);
  EXPECT_LE(spend.spent, kBudget);  // costs never pass the reservation here
}

}  // namespace
}  // namespace shepherd::limits
