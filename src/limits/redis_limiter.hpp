// Limits and budgets shared by every instance that uses the same Redis, with the semantics of
// limiter.hpp. Each admission is one Lua script (EVALSHA) that checks and counts the rpm window,
// the parallel count and the budget reservation atomically; settling is one script too
// (redis_scripts.hpp lists the keys). The scripts are loaded on every new connection and
// loaded again when Redis answers NOSCRIPT (SCRIPT FLUSH, a failover).
//
// Slots and reservations are recorded per holder (an instance's limiter, per generation), and
// every instance keeps a heartbeat in a registry: live instances ignore and remove the fields of
// a holder whose heartbeat lapsed for dead_after, so a dead instance's slots do not leak. A
// limiter whose call fails starts a new generation: the outcome of that call is unknown, and the
// old generation's fields go once its heartbeat lapses rather than staying counted forever.
//
// When Redis cannot be reached or misses its deadline, the limiter falls back to the process's
// LocalCounters at this instance's share of each limit (limit / N, rounded down but at least 1;
// budget.usd / N; N = the live instances the registry last counted) and says it is degraded in
// RedisHealth. Until the heartbeat reaches Redis again admissions stay local, so an outage costs
// requests no wait; the tokens and cost of requests settled meanwhile are queued and added to
// the shared counts once it answers.
//
// Threads: one RedisLimiter per event loop; admit, settle, spend, run and heartbeat are called on
// that loop. seed_spend and stop may be called from any thread.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>

#include "limits/limiter.hpp"
#include "limits/redis_client.hpp"

namespace shepherd::limits {

// The process's view of Redis for metrics: one, shared by every loop's limiter. Thread-safe.
struct RedisHealth {
  std::atomic<std::uint64_t> failures{0};  // calls that failed or missed their deadline
  std::atomic<bool> degraded{false};       // some limiter counts locally: Redis is unreachable
  std::atomic<std::int64_t> instances{1};  // live instances in the registry (N), last counted
  // Settles whose tokens and cost never reached Redis because too many waited (max_queued).
  std::atomic<std::uint64_t> lost_settles{0};

  // A limiter fell back (true) or recovered (false); `degraded` holds while any one is down.
  void set_degraded(bool down);

 private:
  std::mutex mutex_;
  int degraded_limiters_ = 0;
};

struct RedisOptions {
  std::string url;                        // redis://[:password@]host:port[/db]
  std::chrono::milliseconds timeout{50};  // the deadline of every call
  std::chrono::milliseconds connect_timeout{500};
  std::chrono::milliseconds backoff_min{100};  // between failed dials (redis_client.hpp)
  std::chrono::milliseconds backoff_max{2000};
  std::chrono::milliseconds heartbeat{1000};     // how often run() refreshes the registry
  std::chrono::milliseconds dead_after{10'000};  // a holder without a heartbeat this long is dead
  // Unix ms for heartbeats and liveness (admissions count windows at the `now` they are given);
  // empty: the system clock.
  std::function<Millis()> clock;
  std::size_t max_queued = 10'000;  // settles, and seeds, waiting for Redis to answer again
};

class RedisLimiter final : public Limiter {
 public:
  // `loop`: the event loop every call comes from. `instance_id`: unique among the instances
  // sharing the Redis. `fallback` (the process's) and `health` must outlive the limiter. Throws
  // std::invalid_argument for a malformed URL.
  RedisLimiter(net::Executor loop, RedisOptions options, std::string instance_id,
               LocalCounters& fallback, RedisHealth& health);
  ~RedisLimiter() override;

  // The owner co_spawns this on the loop: heartbeats every options.heartbeat, and sends what
  // waits for Redis (seeds, settles made while it was unreachable). Ends after stop().
  net::Task<void> run();
  // Any thread: ends run(), closes the connection and fails the calls waiting on it, so that the
  // loop runs out of work. Admissions after it count locally. Call it once the loop's requests
  // have settled: a settle after it never reaches Redis (its slot goes with the heartbeat).
  void stop();

  net::Task<Ticket> admit(std::string key_id, KeyLimits limits, std::int64_t reserve_micros,
                          Millis now) override;
  net::Task<void> settle(std::string key_id, Ticket ticket, std::int64_t tokens,
                         std::int64_t cost_micros, Millis now) override;
  void seed_spend(const std::string& key_id, Millis period, std::int64_t spent_micros) override;
  net::Task<LocalCounters::Spend> spend(std::string key_id, Millis period) override;

  // One heartbeat: refreshes this instance in the registry, drops instances dead for dead_after
  // and counts the live ones (N). Recovers a degraded limiter when it succeeds. run() calls it;
  // public for tests.
  net::Task<bool> heartbeat();
  // Sends what waits for Redis (seeds; tokens and cost of requests settled while it was
  // unreachable), unless the limiter is degraded. run() calls it; public for tests.
  net::Task<void> flush();

  bool degraded() const { return degraded_; }
  std::int64_t instances() const { return instances_.load(std::memory_order_relaxed); }

 private:
  enum Script { kAdmitScript, kSettleScript, kSeedScript, kSpendScript, kScripts };
  struct QueuedSettle {
    std::string key_id;
    Ticket ticket;
    std::int64_t tokens;
    std::int64_t cost_micros;
    Millis now;
  };
  struct QueuedSeed {
    std::string key_id;
    Millis period;
    std::int64_t spent_micros;
  };

  net::Task<base::Result<RedisReply>> eval(Script script, RedisClient::Command keys_and_args,
                                           std::size_t keys);
  net::Task<bool> settle_shared(QueuedSettle s);
  net::Task<bool> seed_shared(QueuedSeed s);
  Ticket admit_locally(const std::string& key_id, const KeyLimits& limits,
                       std::int64_t reserve_micros, Millis now);
  void queue_settle(QueuedSettle s);
  void failed();
  void recovered();
  Millis clock() const;
  std::string holder(std::uint64_t incarnation) const;

  net::Executor loop_;
  RedisOptions options_;
  std::string instance_id_;
  std::string holder_prefix_;  // "INSTANCE/LOOP."
  LocalCounters& fallback_;
  RedisHealth& health_;
  RedisClient client_;
  std::array<std::string, kScripts> shas_;  // empty until a connection loaded the scripts
  std::uint64_t incarnation_ = 0;
  std::atomic<std::int64_t> instances_{1};
  bool degraded_ = false;
  bool stopped_ = false;
  bool poked_ = false;  // something was queued while run() was busy
  net::Timer wake_;
  std::deque<QueuedSettle> settles_;
  std::deque<QueuedSeed> seeds_;
};

}  // namespace shepherd::limits
