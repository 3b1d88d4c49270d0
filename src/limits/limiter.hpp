// Per-key limits and budgets: requests and tokens per minute, requests in parallel, and spend
// per budget period. Admission takes a ticket (counting the request, holding a parallel slot and
// reserving the request's worst-case cost); completion settles it with what the request really
// used. Two implementations share these semantics: LocalLimiter (one process; exact) and
// RedisLimiter (several instances sharing counters in Redis, atomic through Lua scripts).
//
// Semantics (docs/config.md "Keys, limits and budgets"):
// - rpm and tpm count in fixed one-minute windows aligned to the Unix epoch's minutes. A request
//   is refused when the window already holds `rpm` requests, or `tpm` tokens; admission counts
//   the request at once and the tokens when it settles (tokens are known only then). A refusal's
//   retry_after is the number of seconds until the window ends (at least 1).
// - max_parallel counts admitted requests not yet settled.
// - A budget refuses a request when spent + reserved + this request's reservation would pass
//   budget.usd; the reservation is released and the real cost added when the request settles.
//   A refusal's retry_after is the seconds until the period ends (none for kTotal).
// Amounts of money are counted in micro-dollars (integers), so that sums are exact.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "net/asio.hpp"
#include "storage/records.hpp"

namespace shepherd::limits {

using storage::Budget;
using storage::BudgetPeriod;
using storage::Millis;

constexpr std::int64_t kMicros = 1'000'000;  // micro-dollars per dollar
inline std::int64_t to_micros(double usd) { return static_cast<std::int64_t>(usd * kMicros + 0.5); }

struct KeyLimits {
  std::optional<std::int64_t> rpm;
  std::optional<std::int64_t> tpm;
  std::optional<std::int64_t> max_parallel;
  std::optional<Budget> budget;

  bool any() const { return rpm || tpm || max_parallel || budget; }
};

// The start of the budget period holding `now` (Unix ms, UTC), and the start of the next one
// (kTotal: 0 and nullopt).
Millis period_start(BudgetPeriod period, Millis now);
std::optional<Millis> period_end(BudgetPeriod period, Millis now);

// Why a request was refused.
enum class Refusal { kNone, kRpm, kTpm, kParallel, kBudget };

// What admission granted, handed back to settle(). A refused ticket needs no settling.
struct Ticket {
  Refusal refusal = Refusal::kNone;
  std::optional<long> retry_after;  // seconds, for a refusal (none for a kTotal budget)
  bool holds_parallel = false;
  std::int64_t reserved_micros = 0;
  Millis period = 0;      // the budget period the reservation belongs to
  bool budgeted = false;  // the key had a budget: settling adds the cost to `period`'s spend
  std::int64_t spent_micros = 0;  // budgeted: the period's settled spend at admission
  // RedisLimiter's: counted by the fallback counters (Redis could not be reached), and the
  // generation of the instance's Redis fields that holds the slot and reservation.
  bool local = false;
  std::uint64_t incarnation = 0;
  bool admitted() const { return refusal == Refusal::kNone; }
};

// The counters themselves, in this process: exact, thread-safe (a mutex per shard of keys), never
// blocking on I/O. Serves one instance on its own, and is what each instance falls back to, at its
// share of every limit, when Redis cannot be reached.
class LocalCounters {
 public:
  LocalCounters();
  ~LocalCounters();
  // Counts one request for `key_id` against `limits` at `now`, reserving `reserve_micros` of its
  // budget (the worst-case cost). Refused tickets change no counter.
  Ticket admit(const std::string& key_id, const KeyLimits& limits, std::int64_t reserve_micros,
               Millis now);
  // The request of `ticket` ended having used `tokens` and cost `cost_micros`: releases its
  // parallel slot and reservation, adds its tokens to the tpm window of `now` and its cost to
  // the period's spend.
  void settle(const std::string& key_id, const Ticket& ticket, std::int64_t tokens,
              std::int64_t cost_micros, Millis now);
  // What the key has spent in the period starting `period` according to the store, learnt when
  // the key is loaded: the count starts from it unless it already counts that period.
  void seed_spend(const std::string& key_id, Millis period, std::int64_t spent_micros);
  // Raises the spend counted for the period starting `period` to at least `spent_micros` (a
  // newer period replaces an older one): how RedisLimiter keeps its fallback counters near the
  // shared count, so that falling back does not hand out a spent budget again.
  void raise_spend(const std::string& key_id, Millis period, std::int64_t spent_micros);
  struct Spend {
    std::int64_t spent = 0;
    std::int64_t reserved = 0;
  };
  // Spent (settled) and reserved micro-dollars of `key_id` in the period starting `period`.
  Spend spend(const std::string& key_id, Millis period) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The seam the pipeline uses: admission in the admit stage, settling in the record stage, both on
// the request's event loop. Implementations: one over LocalCounters (no I/O; the coroutines
// finish at once) and RedisLimiter (redis_limiter.hpp).
class Limiter {
 public:
  virtual ~Limiter() = default;
  virtual net::Task<Ticket> admit(std::string key_id, KeyLimits limits, std::int64_t reserve_micros,
                                  Millis now) = 0;
  virtual net::Task<void> settle(std::string key_id, Ticket ticket, std::int64_t tokens,
                                 std::int64_t cost_micros, Millis now) = 0;
  // Any thread (the store thread, when keys are loaded).
  virtual void seed_spend(const std::string& key_id, Millis period, std::int64_t spent_micros) = 0;
  // For GET /v1/usage, on the event loop.
  virtual net::Task<LocalCounters::Spend> spend(std::string key_id, Millis period) = 0;
  // The counters admit() and settle() use when those need no I/O (the local limiter): the
  // pipeline then calls them directly, without a coroutine frame and a copy of the key id per
  // call. Null when admit() and settle() must be awaited (Redis).
  virtual LocalCounters* immediate() { return nullptr; }
};

// A Limiter over `counters` alone (one instance, no Redis).
std::unique_ptr<Limiter> local_limiter(LocalCounters& counters);

}  // namespace shepherd::limits
