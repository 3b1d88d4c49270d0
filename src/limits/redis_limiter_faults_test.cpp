// RedisLimiter when things go wrong: lost scripts, dead instances, Redis down or silent.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>

#include "limits/redis_limiter.hpp"
#include "limits/redis_test_support.hpp"

namespace shepherd::limits {
namespace {

namespace asio = net::asio;
using namespace std::chrono_literals;
using test::Instance;

Millis wall_now() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

RedisOptions options(const std::string& url) {
  RedisOptions o;
  o.url = url;
  o.timeout = 2000ms;
  o.connect_timeout = 2000ms;
  return o;
}

KeyLimits limits_budget(double usd) {
  KeyLimits l;
  l.budget = Budget{usd, BudgetPeriod::kDay};
  return l;
}

base::Result<RedisReply> raw_command(const std::string& url, RedisClient::Command command) {
  test::Loop loop;
  RedisClientOptions o;
  o.url = url;
  o.deadline = 2000ms;
  RedisClient client(loop.executor(), o);
  auto reply = loop.run(client.command(command));
  loop.call([&] { client.close(); });
  loop.finish();
  return reply;
}

TEST(RedisLimiterFaults, ScriptsAreLoadedAgainAfterScriptFlush) {
  Instance a("a", options(test::shared_redis_url()));
  const auto key = test::unique_key("flush");
  const Millis now = wall_now();
  KeyLimits l;
  l.rpm = 2;
  EXPECT_TRUE(a.admit(key, l, 0, now).admitted());
  auto flushed = raw_command(test::shared_redis_url(), {"SCRIPT", "FLUSH"});
  ASSERT_TRUE(flushed.ok());
  ASSERT_EQ(flushed->str, "OK");
  auto t = a.admit(key, l, 0, now);
  EXPECT_TRUE(t.admitted());
  EXPECT_FALSE(t.local);
  EXPECT_EQ(a.admit(key, l, 0, now).refusal, Refusal::kRpm);  // the count survived
  EXPECT_EQ(a.health.failures.load(), 0u);
}

TEST(RedisLimiterFaults, SeedSpendReachesRedisOnlyWhileThePeriodHasNoCount) {
  Instance a("a", options(test::shared_redis_url()));
  const Millis now = wall_now();
  const Millis period = period_start(BudgetPeriod::kDay, now);
  const auto fresh = test::unique_key("seed-fresh");
  const auto counted = test::unique_key("seed-counted");
  a.settle(counted, a.admit(counted, limits_budget(1.0), 0, now), 1, 100'000, now);
  // From this (non-loop) thread, as the store thread does; the loop sends it.
  a.limiter->seed_spend(fresh, period, 900'000);
  a.limiter->seed_spend(counted, period, 900'000);
  a.loop.call([] {});  // the seeds are queued on the loop now
  a.loop.run(a.limiter->flush());
  EXPECT_EQ(a.spend(fresh, period).spent, 900'000);
  EXPECT_EQ(a.spend(counted, period).spent, 100'000);
  EXPECT_EQ(a.admit(fresh, limits_budget(1.0), 100'001, now).refusal, Refusal::kBudget);
  // A later figure for the same period is not applied over the count.
  a.limiter->seed_spend(fresh, period, 10);
  a.loop.call([] {});
  a.loop.run(a.limiter->flush());
  EXPECT_EQ(a.spend(fresh, period).spent, 900'000);
  EXPECT_EQ(a.health.failures.load(), 0u);
}

TEST(RedisLimiterFaults, ADeadInstancesSlotsAndReservationsAreReleasedWhenItsHeartbeatLapses) {
  std::atomic<Millis> clock{wall_now()};
  auto o = options(test::shared_redis_url());
  o.clock = [&clock] { return clock.load(); };
  o.dead_after = 10s;
  Instance a("a", o);
  auto b = std::make_unique<Instance>("b", o);
  ASSERT_TRUE(a.heartbeat());
  ASSERT_TRUE(b->heartbeat());
  const auto key = test::unique_key("dead");
  const Millis now = wall_now();
  const Millis period = period_start(BudgetPeriod::kDay, now);
  KeyLimits l = limits_budget(1.0);
  l.max_parallel = 2;
  ASSERT_TRUE(b->admit(key, l, 400'000, now).admitted());
  ASSERT_TRUE(b->admit(key, l, 400'000, now).admitted());
  b->shutdown();  // dies holding two slots and 800 000 reserved, never settling them
  EXPECT_EQ(a.admit(key, l, 0, now).refusal, Refusal::kParallel);
  EXPECT_EQ(a.spend(key, period).reserved, 800'000);

  clock += 9'000;  // not yet dead
  ASSERT_TRUE(a.heartbeat());
  EXPECT_EQ(a.admit(key, l, 0, now).refusal, Refusal::kParallel);
  clock += 2'000;  // 11 s without a heartbeat from b
  ASSERT_TRUE(a.heartbeat());
  EXPECT_EQ(a.limiter->instances(), 1);
  auto t = a.admit(key, l, 300'000, now);
  ASSERT_TRUE(t.admitted());
  EXPECT_EQ(a.spend(key, period).reserved, 300'000);
  auto raw = raw_command(test::shared_redis_url(), {"HLEN", "shepherd:p:" + key});
  ASSERT_TRUE(raw.ok());
  EXPECT_EQ(raw->integer, 1);  // b's field is gone, a's is there
  a.settle(key, t, 0, 100'000, now);
  EXPECT_EQ(a.spend(key, period).reserved, 0);
  EXPECT_EQ(a.health.failures.load(), 0u);
}

TEST(RedisLimiterFaults, FallsBackToItsShareWhileRedisIsDownAndRecoversWhenItReturns) {
  auto server = std::make_unique<test::RedisServer>();
  const int port = server->port();
  auto o = options(server->url());
  o.backoff_min = o.backoff_max = 0ms;  // every call may dial: no waiting in the test
  Instance a("a", o);
  Instance b("b", o);
  ASSERT_TRUE(a.heartbeat());
  ASSERT_TRUE(b.heartbeat());
  ASSERT_TRUE(a.heartbeat());
  EXPECT_EQ(a.limiter->instances(), 2);
  const Millis now = wall_now();
  const Millis period = period_start(BudgetPeriod::kDay, now);
  const auto rk = test::unique_key("down-rpm");
  const auto bk = test::unique_key("down-budget");
  KeyLimits rpm;
  rpm.rpm = 10;
  ASSERT_FALSE(a.admit(rk, rpm, 0, now).local);
  const auto before = a.admit(bk, limits_budget(1.0), 100'000, now);  // held through the outage

  server->stop();
  const auto start = net::Clock::now();
  auto first = a.admit(rk, rpm, 0, now);
  EXPECT_LT(net::Clock::now() - start, 5s);  // only guards against waiting for ever
  EXPECT_TRUE(first.local);
  EXPECT_TRUE(a.limiter->degraded());
  EXPECT_TRUE(a.health.degraded.load());
  EXPECT_GE(a.health.failures.load(), 1u);
  // rpm 10 over N = 2 instances: 5 here, the first included.
  int admitted = first.admitted() ? 1 : 0;
  for (int i = 0; i < 9; ++i) admitted += a.admit(rk, rpm, 0, now).admitted() ? 1 : 0;
  EXPECT_EQ(admitted, 5);
  // The budget's share is 0.5 USD.
  auto local = a.admit(bk, limits_budget(1.0), 300'000, now);
  ASSERT_TRUE(local.admitted());
  EXPECT_TRUE(local.local);
  EXPECT_EQ(a.admit(bk, limits_budget(1.0), 300'000, now).refusal, Refusal::kBudget);
  a.settle(bk, local, 10, 250'000, now);
  a.settle(bk, before, 10, 50'000, now);
  EXPECT_FALSE(a.heartbeat());

  test::RedisServer again(port);
  EXPECT_TRUE(a.heartbeat());
  EXPECT_FALSE(a.limiter->degraded());
  EXPECT_FALSE(a.health.degraded.load());
  auto back = a.admit(rk + "-after", rpm, 0, now);
  EXPECT_TRUE(back.admitted());
  EXPECT_FALSE(back.local);
  // What was spent meanwhile reaches the shared count.
  a.loop.run(a.limiter->flush());
  EXPECT_EQ(a.spend(bk, period).spent, 300'000);
}

TEST(RedisLimiterFaults, ARedisThatMissesItsDeadlineCountsAsDown) {
  asio::io_context io;
  net::tcp::acceptor silent(io, net::tcp::endpoint(asio::ip::address_v4::loopback(), 0));
  auto o = options("redis://127.0.0.1:" + std::to_string(silent.local_endpoint().port()));
  o.timeout = 100ms;
  Instance a("a", o);
  KeyLimits l;
  l.rpm = 3;
  const auto start = net::Clock::now();
  auto t = a.admit("k", l, 0, wall_now());
  const auto elapsed = net::Clock::now() - start;
  EXPECT_TRUE(t.admitted());
  EXPECT_TRUE(t.local);
  EXPECT_GE(elapsed, 100ms);
  EXPECT_LT(elapsed, 5s);  // only guards against waiting for ever
  EXPECT_TRUE(a.health.degraded.load());
  EXPECT_EQ(a.health.failures.load(), 1u);
}

TEST(RedisLimiterFaults, RunAndStopLeaveTheLoopWithoutWork) {
  asio::io_context loop;
  LocalCounters fallback;
  RedisHealth health;
  auto o = options(test::shared_redis_url());
  o.heartbeat = 20ms;
  RedisLimiter limiter(loop.get_executor(), o, "run-stop", fallback, health);
  bool ran = false;
  Ticket ticket;
  asio::co_spawn(
      loop,
      [&]() -> net::Task<void> {
        co_await limiter.run();
        ran = true;
      },
      asio::detached);
  asio::co_spawn(
      loop,
      [&]() -> net::Task<void> {
        KeyLimits l;
        l.max_parallel = 1;
        ticket = co_await limiter.admit(test::unique_key("run-stop"), l, 0, wall_now());
        limiter.stop();
      },
      asio::detached);
  loop.run();  // returns once nothing is left: no timer, socket or coroutine
  EXPECT_TRUE(ran);
  EXPECT_TRUE(ticket.admitted());
  EXPECT_FALSE(ticket.local);
  EXPECT_GE(health.instances.load(), 1);
  EXPECT_FALSE(health.degraded.load());
}

}  // namespace
}  // namespace shepherd::limits
