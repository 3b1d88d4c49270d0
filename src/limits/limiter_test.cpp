#include "limits/limiter.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

namespace shepherd::limits {
namespace {

// 2024-05-15 (a Wednesday) 12:00:00 UTC.
constexpr Millis kNoon = 1'715'774'400'000;
constexpr Millis kMinute = 60'000;
constexpr Millis kDayMs = 86'400'000;

KeyLimits rpm(std::int64_t n) {
  KeyLimits l;
  l.rpm = n;
  return l;
}

KeyLimits budget(double usd, BudgetPeriod period = BudgetPeriod::kDay) {
  KeyLimits l;
  l.budget = Budget{usd, period};
  return l;
}

TEST(Periods, DayWeekAndMonthStartAtMidnightUtc) {
  constexpr Millis kMay15 = 1'715'731'200'000;  // 2024-05-15 00:00 UTC
  constexpr Millis kMay13 = 1'715'558'400'000;  // Monday 2024-05-13
  constexpr Millis kMay1 = 1'714'521'600'000;
  constexpr Millis kJun1 = 1'717'200'000'000;
  EXPECT_EQ(period_start(BudgetPeriod::kDay, kNoon), kMay15);
  EXPECT_EQ(period_end(BudgetPeriod::kDay, kNoon), kMay15 + kDayMs);
  EXPECT_EQ(period_start(BudgetPeriod::kWeek, kNoon), kMay13);
  EXPECT_EQ(period_end(BudgetPeriod::kWeek, kNoon), kMay13 + 7 * kDayMs);
  EXPECT_EQ(period_start(BudgetPeriod::kMonth, kNoon), kMay1);
  EXPECT_EQ(period_end(BudgetPeriod::kMonth, kNoon), kJun1);
  EXPECT_EQ(period_start(BudgetPeriod::kTotal, kNoon), 0);
  EXPECT_EQ(period_end(BudgetPeriod::kTotal, kNoon), std::nullopt);
}

TEST(Periods, EdgesBelongToTheNextPeriod) {
  constexpr Millis kMay13 = 1'715'558'400'000;  // a Monday, 00:00
  EXPECT_EQ(period_start(BudgetPeriod::kWeek, kMay13), kMay13);
  EXPECT_EQ(period_start(BudgetPeriod::kWeek, kMay13 - 1), kMay13 - 7 * kDayMs);
  // Sunday 2024-05-19 23:59:59.999 is still in the week of the 13th.
  EXPECT_EQ(period_start(BudgetPeriod::kWeek, kMay13 + 7 * kDayMs - 1), kMay13);
  // December rolls into January of the next year; February 2024 has 29 days.
  constexpr Millis kDec31 = 1'704'067'199'000;  // 2023-12-31 23:59:59 UTC
  EXPECT_EQ(period_end(BudgetPeriod::kMonth, kDec31), 1'704'067'200'000);
  constexpr Millis kFeb29 = 1'709'164'800'000;  // 2024-02-29 00:00 UTC
  EXPECT_EQ(period_end(BudgetPeriod::kMonth, kFeb29), kFeb29 + kDayMs);
}

TEST(LocalCounters, RpmRefusesInTheWindowAndRetryAfterIsTheWindowsRest) {
  LocalCounters c;
  const Millis t = kNoon + 20'500;  // 39.5 s before the window ends
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(c.admit("k", rpm(3), 0, t).admitted());
  const auto refused = c.admit("k", rpm(3), 0, t);
  EXPECT_EQ(refused.refusal, Refusal::kRpm);
  EXPECT_EQ(refused.retry_after, 40);
  // At the very end of the window, retry_after is still at least one second.
  EXPECT_EQ(c.admit("k", rpm(3), 0, kNoon + kMinute - 1).retry_after, 1);
  // Another key has its own counts.
  EXPECT_TRUE(c.admit("other", rpm(3), 0, t).admitted());
}

TEST(LocalCounters, WindowRollsOverAtTheEpochMinute) {
  LocalCounters c;
  EXPECT_TRUE(c.admit("k", rpm(1), 0, kNoon + kMinute - 1).admitted());
  EXPECT_FALSE(c.admit("k", rpm(1), 0, kNoon + kMinute - 1).admitted());
  EXPECT_TRUE(c.admit("k", rpm(1), 0, kNoon + kMinute).admitted());
  EXPECT_FALSE(c.admit("k", rpm(1), 0, kNoon + kMinute + 59'000).admitted());
}

TEST(LocalCounters, RefusedRequestsAreNotCounted) {
  LocalCounters c;
  KeyLimits l = rpm(2);
  l.max_parallel = 1;
  auto first = c.admit("k", l, 0, kNoon);
  ASSERT_TRUE(first.admitted());
  EXPECT_EQ(c.admit("k", l, 0, kNoon).refusal, Refusal::kParallel);
  c.settle("k", first, 0, 0, kNoon);
  // The refusal took no request from the window: one is left.
  EXPECT_TRUE(c.admit("k", l, 0, kNoon).admitted());
}

TEST(LocalCounters, TokensCountWhenTheRequestSettles) {
  LocalCounters c;
  KeyLimits l;
  l.tpm = 100;
  auto a = c.admit("k", l, 0, kNoon);
  auto b = c.admit("k", l, 0, kNoon);
  ASSERT_TRUE(a.admitted());
  ASSERT_TRUE(b.admitted());
  c.settle("k", a, 60, 0, kNoon + 1000);
  EXPECT_TRUE(c.admit("k", l, 0, kNoon + 2000).admitted());  // 60 < 100
  c.settle("k", b, 40, 0, kNoon + 3000);
  const auto refused = c.admit("k", l, 0, kNoon + 4000);
  EXPECT_EQ(refused.refusal, Refusal::kTpm);
  EXPECT_EQ(refused.retry_after, 56);
  // The next window starts with no tokens.
  EXPECT_TRUE(c.admit("k", l, 0, kNoon + kMinute).admitted());
}

TEST(LocalCounters, TokensSettledInALaterWindowCountThere) {
  LocalCounters c;
  KeyLimits l;
  l.tpm = 50;
  auto a = c.admit("k", l, 0, kNoon + 59'000);
  c.settle("k", a, 80, 0, kNoon + kMinute + 1000);
  EXPECT_EQ(c.admit("k", l, 0, kNoon + kMinute + 2000).refusal, Refusal::kTpm);
}

TEST(LocalCounters, ParallelSlotsAreReleasedBySettle) {
  LocalCounters c;
  KeyLimits l;
  l.max_parallel = 2;
  auto a = c.admit("k", l, 0, kNoon);
  auto b = c.admit("k", l, 0, kNoon);
  ASSERT_TRUE(a.holds_parallel);
  ASSERT_TRUE(b.holds_parallel);
  const auto refused = c.admit("k", l, 0, kNoon);
  EXPECT_EQ(refused.refusal, Refusal::kParallel);
  EXPECT_EQ(refused.retry_after, 1);
  c.settle("k", a, 0, 0, kNoon);
  auto d = c.admit("k", l, 0, kNoon);
  EXPECT_TRUE(d.admitted());
  EXPECT_FALSE(c.admit("k", l, 0, kNoon).admitted());
  // Settling a refused ticket releases nothing.
  c.settle("k", refused, 0, 0, kNoon);
  EXPECT_FALSE(c.admit("k", l, 0, kNoon).admitted());
}

TEST(LocalCounters, BudgetRefusesWhenSpentPlusReservedPlusReservationPassesIt) {
  LocalCounters c;
  const auto l = budget(1.0);  // 1 000 000 micro-dollars
  const Millis period = period_start(BudgetPeriod::kDay, kNoon);
  auto a = c.admit("k", l, 600'000, kNoon);
  ASSERT_TRUE(a.admitted());
  EXPECT_TRUE(a.budgeted);
  EXPECT_EQ(a.period, period);
  EXPECT_EQ(a.reserved_micros, 600'000);
  EXPECT_EQ(c.spend("k", period).reserved, 600'000);
  const auto refused = c.admit("k", l, 400'001, kNoon);
  EXPECT_EQ(refused.refusal, Refusal::kBudget);
  EXPECT_EQ(refused.retry_after, 12 * 3600);                // until midnight UTC
  EXPECT_TRUE(c.admit("k", l, 400'000, kNoon).admitted());  // exactly at the budget
}

TEST(LocalCounters, SettleReplacesTheReservationWithTheRealCost) {
  LocalCounters c;
  const auto l = budget(1.0);
  const Millis period = period_start(BudgetPeriod::kDay, kNoon);
  auto a = c.admit("k", l, 500'000, kNoon);
  c.settle("k", a, 10, 200'000, kNoon + 1);  // cheaper than reserved
  EXPECT_EQ(c.spend("k", period).spent, 200'000);
  EXPECT_EQ(c.spend("k", period).reserved, 0);
  auto b = c.admit("k", l, 100'000, kNoon + 2);
  c.settle("k", b, 10, 700'000, kNoon + 3);  // dearer than reserved: the real cost counts
  EXPECT_EQ(c.spend("k", period).spent, 900'000);
  EXPECT_EQ(c.spend("k", period).reserved, 0);
  EXPECT_EQ(c.admit("k", l, 100'001, kNoon + 4).refusal, Refusal::kBudget);
  c.settle("k", c.admit("k", l, 100'000, kNoon + 5), 1, 300'000, kNoon + 6);
  // Spent passes the budget: even a request reserving nothing is refused.
  EXPECT_EQ(c.admit("k", l, 0, kNoon + 7).refusal, Refusal::kBudget);
}

TEST(LocalCounters, BudgetRenewsWithThePeriod) {
  LocalCounters c;
  const auto l = budget(1.0);
  c.settle("k", c.admit("k", l, 1'000'000, kNoon), 1, 1'000'000, kNoon);
  EXPECT_FALSE(c.admit("k", l, 1, kNoon).admitted());
  // A request admitted yesterday settles today: its cost stays with yesterday.
  auto late = c.admit("k", l, 0, kNoon);
  const Millis tomorrow = period_start(BudgetPeriod::kDay, kNoon) + kDayMs;
  auto fresh = c.admit("k", l, 400'000, tomorrow);
  ASSERT_TRUE(fresh.admitted());
  EXPECT_EQ(fresh.period, tomorrow);
  c.settle("k", late, 1, 500'000, tomorrow + 1);
  EXPECT_EQ(c.spend("k", tomorrow).spent, 0);
  EXPECT_EQ(c.spend("k", tomorrow).reserved, 400'000);
}

TEST(LocalCounters, TotalBudgetsNeverRenewAndGiveNoRetryAfter) {
  LocalCounters c;
  const auto l = budget(0.5, BudgetPeriod::kTotal);
  c.settle("k", c.admit("k", l, 0, kNoon), 1, 500'000, kNoon);
  const auto refused = c.admit("k", l, 1, kNoon + 400 * kDayMs);
  EXPECT_EQ(refused.refusal, Refusal::kBudget);
  EXPECT_EQ(refused.retry_after, std::nullopt);
}

TEST(LocalCounters, SeedSpendAppliesOncePerPeriodAndNotOverANewerCount) {
  LocalCounters c;
  const auto l = budget(1.0);
  const Millis today = period_start(BudgetPeriod::kDay, kNoon);
  c.seed_spend("k", today, 900'000);
  EXPECT_EQ(c.spend("k", today).spent, 900'000);
  EXPECT_FALSE(c.admit("k", l, 100'001, kNoon).admitted());
  c.settle("k", c.admit("k", l, 50'000, kNoon), 1, 50'000, kNoon);
  // The store's figure for today again (it may lag): the count already holds today.
  c.seed_spend("k", today, 900'000);
  EXPECT_EQ(c.spend("k", today).spent, 950'000);
  // An older period's figure arriving late changes nothing either.
  c.seed_spend("k", today - kDayMs, 10);
  EXPECT_EQ(c.spend("k", today).spent, 950'000);
  // A new period's figure starts it.
  c.seed_spend("k", today + kDayMs, 300'000);
  EXPECT_EQ(c.spend("k", today + kDayMs).spent, 300'000);
  EXPECT_FALSE(c.admit("k", l, 700'001, kNoon + kDayMs).admitted());
}

TEST(LocalCounters, SeedBeforeTheFirstRequestIsKeptByAdmission) {
  LocalCounters c;
  const Millis today = period_start(BudgetPeriod::kDay, kNoon);
  c.seed_spend("k", today, 999'000);
  EXPECT_EQ(c.admit("k", budget(1.0), 1'001, kNoon).refusal, Refusal::kBudget);
}

TEST(LocalCounters, RaiseSpendOnlyRaises) {
  LocalCounters c;
  const Millis today = period_start(BudgetPeriod::kDay, kNoon);
  c.raise_spend("k", today, 100);
  c.raise_spend("k", today, 50);
  EXPECT_EQ(c.spend("k", today).spent, 100);
  c.raise_spend("k", today + kDayMs, 20);
  EXPECT_EQ(c.spend("k", today + kDayMs).spent, 20);
}

TEST(LocalCounters, KeysWithoutLimitsAreNotCounted) {
  LocalCounters c;
  const auto t = c.admit("k", KeyLimits{}, 100, kNoon);
  EXPECT_TRUE(t.admitted());
  EXPECT_FALSE(t.holds_parallel);
  EXPECT_FALSE(t.budgeted);
  c.settle("k", t, 10, 10, kNoon);
  EXPECT_EQ(c.spend("k", 0).spent, 0);
}

TEST(LocalCounters, ThreadsAdmitExactlyRpmInOneWindow) {
  LocalCounters c;
  constexpr int kThreads = 8;
  constexpr std::int64_t kRpm = 1000;
  std::atomic<std::int64_t> admitted{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&] {
      for (int j = 0; j < 500; ++j) {
        if (c.admit("k", rpm(kRpm), 0, kNoon + j).admitted()) ++admitted;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(admitted.load(), kRpm);
}

TEST(LocalCounters, ConcurrentRequestsAtTheBudgetEdgeOverspendByAtMostOneRequest) {
  LocalCounters c;
  constexpr std::int64_t kBudget = 1'000'000;
  constexpr std::int64_t kWorst = 30'000;
  const auto l = budget(1.0);
  std::atomic<int> requests{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 50; ++i) {
    threads.emplace_back([&, i] {
      for (int j = 0;; ++j) {
        auto t = c.admit("k", l, kWorst, kNoon);
        if (!t.admitted()) break;
        ++requests;
        // Real costs vary up to the worst case reserved.
        const std::int64_t cost = 10'000 + (i * 13 + j * 7) % 20'001;
        c.settle("k", t, 1, cost, kNoon);
      }
    });
  }
  for (auto& t : threads) t.join();
  const auto spend = c.spend("k", period_start(BudgetPeriod::kDay, kNoon));
  EXPECT_GT(requests.load(), 30);
  EXPECT_EQ(spend.reserved, 0);
  EXPECT_LE(spend.spent, kBudget + kWorst);
  // Counted exactly in one process, the reservations keep the spend within the budget itself.
  EXPECT_LE(spend.spent, kBudget);
}

TEST(LocalCounters, ThreadsReleaseEveryParallelSlot) {
  LocalCounters c;
  KeyLimits l;
  l.max_parallel = 4;
  std::atomic<int> over{0};
  std::atomic<int> holding{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&] {
      for (int j = 0; j < 2000; ++j) {
        auto t = c.admit("k", l, 0, kNoon);
        if (!t.admitted()) continue;
        if (++holding > 4) ++over;
        --holding;
        c.settle("k", t, 0, 0, kNoon);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(over.load(), 0);
  // Every slot came back: four requests fit again.
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(c.admit("k", l, 0, kNoon).admitted());
  EXPECT_FALSE(c.admit("k", l, 0, kNoon).admitted());
}

TEST(LocalLimiter, OffersItsCountersForCallsWithoutACoroutine) {
  LocalCounters c;
  EXPECT_EQ(local_limiter(c)->immediate(), &c);
}

TEST(LocalLimiter, CoroutinesCompleteAtOnce) {
  LocalCounters c;
  auto limiter = local_limiter(c);
  net::asio::io_context ctx;
  Ticket ticket;
  LocalCounters::Spend spend;
  net::asio::co_spawn(
      ctx,
      [&]() -> net::Task<void> {
        ticket = co_await limiter->admit("k", budget(1.0), 1000, kNoon);
        co_await limiter->settle("k", ticket, 5, 700, kNoon);
        spend = co_await limiter->spend("k", period_start(BudgetPeriod::kDay, kNoon));
      },
      net::asio::detached);
  ctx.run();
  EXPECT_TRUE(ticket.admitted());
  EXPECT_EQ(spend.spent, 700);
  EXPECT_EQ(spend.reserved, 0);
}

}  // namespace
}  // namespace shepherd::limits
