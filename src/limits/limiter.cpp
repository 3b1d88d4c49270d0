#include "limits/limiter.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <functional>
#include <limits>
#include <mutex>
#include <unordered_map>

#include "limits/window.hpp"

namespace shepherd::limits {

namespace {

namespace chr = std::chrono;

constexpr Millis kNone = std::numeric_limits<Millis>::min();  // no window or period counted yet
// Shards of keys, each behind its own mutex: two event loops rarely want the same one, and each
// critical section is a hash lookup and a few additions.
constexpr std::size_t kShards = 16;

Millis to_millis(chr::sys_days day) {
  return chr::duration_cast<chr::milliseconds>(day.time_since_epoch()).count();
}

chr::sys_days day_of(Millis now) {
  return chr::floor<chr::days>(chr::sys_time<chr::milliseconds>(chr::milliseconds(now)));
}

}  // namespace

Millis period_start(BudgetPeriod period, Millis now) {
  const auto day = day_of(now);
  switch (period) {
    case BudgetPeriod::kDay:
      return to_millis(day);
    case BudgetPeriod::kWeek:
      return to_millis(day - (chr::weekday(day) - chr::Monday));
    case BudgetPeriod::kMonth: {
      const chr::year_month_day ymd(day);
      return to_millis(chr::sys_days(ymd.year() / ymd.month() / 1));
    }
    case BudgetPeriod::kTotal:
      break;
  }
  return 0;
}

std::optional<Millis> period_end(BudgetPeriod period, Millis now) {
  const auto day = day_of(now);
  switch (period) {
    case BudgetPeriod::kDay:
      return to_millis(day + chr::days(1));
    case BudgetPeriod::kWeek:
      return to_millis(day - (chr::weekday(day) - chr::Monday) + chr::days(7));
    case BudgetPeriod::kMonth: {
      const chr::year_month_day ymd(day);
      return to_millis(chr::sys_days(ymd.year() / ymd.month() / 1 + chr::months(1)));
    }
    case BudgetPeriod::kTotal:
      break;
  }
  return std::nullopt;
}

namespace {

// One key's counts: the current minute window and budget period only; older ones are replaced.
struct State {
  Millis window = kNone;
  std::int64_t requests = 0;
  std::int64_t tokens = 0;
  std::int64_t parallel = 0;
  Millis period = kNone;
  std::int64_t spent = 0;
  std::int64_t reserved = 0;

  void roll_window(Millis w) {
    if (w <= window) return;  // a caller with a slightly older clock counts in the newer window
    window = w;
    requests = 0;
    tokens = 0;
  }
  // Starts counting the period `p` from `spent_micros`: reservations of the older period are
  // dropped with it (their tickets name that period, so settling them changes nothing).
  void start_period(Millis p, std::int64_t spent_micros) {
    period = p;
    spent = spent_micros;
    reserved = 0;
  }
};

struct alignas(64) Shard {
  std::mutex mutex;
  std::unordered_map<std::string, State> keys;
};

}  // namespace

struct LocalCounters::Impl {
  std::array<Shard, kShards> shards;

  Shard& shard(const std::string& key_id) {
    return shards[std::hash<std::string>{}(key_id) % kShards];
  }
};

LocalCounters::LocalCounters() : impl_(std::make_unique<Impl>()) {}
LocalCounters::~LocalCounters() = default;

Ticket LocalCounters::admit(const std::string& key_id, const KeyLimits& limits,
                            std::int64_t reserve_micros, Millis now) {
  Ticket ticket;
  if (!limits.any()) return ticket;
  const Millis window = window_start(now);
  const Millis period = limits.budget ? period_start(limits.budget->period, now) : 0;
  const std::int64_t budget = limits.budget ? to_micros(limits.budget->usd) : 0;
  const std::int64_t reserve = std::max<std::int64_t>(0, reserve_micros);
  Millis window_end = 0;
  {
    auto& shard = impl_->shard(key_id);
    std::lock_guard lock(shard.mutex);
    auto it = shard.keys.find(key_id);
    if (it == shard.keys.end()) it = shard.keys.try_emplace(key_id).first;
    State& s = it->second;
    s.roll_window(window);
    window_end = s.window + kWindowMs;
    if (limits.rpm && s.requests >= *limits.rpm) {
      ticket.refusal = Refusal::kRpm;
    } else if (limits.tpm && s.tokens >= *limits.tpm) {
      ticket.refusal = Refusal::kTpm;
    } else if (limits.max_parallel && s.parallel >= *limits.max_parallel) {
      ticket.refusal = Refusal::kParallel;
    } else {
      if (limits.budget) {
        if (period > s.period) s.start_period(period, 0);
        if (s.spent + s.reserved + reserve > budget) ticket.refusal = Refusal::kBudget;
      }
      if (ticket.admitted()) {
        ++s.requests;
        if (limits.max_parallel) {
          ++s.parallel;
          ticket.holds_parallel = true;
        }
        if (limits.budget) {
          s.reserved += reserve;
          ticket.reserved_micros = reserve;
          ticket.period = s.period;
          ticket.budgeted = true;
          ticket.spent_micros = s.spent;
        }
      }
    }
  }
  switch (ticket.refusal) {
    case Refusal::kNone:
      break;
    case Refusal::kRpm:
    case Refusal::kTpm:
      ticket.retry_after = seconds_until(window_end, now);
      break;
    case Refusal::kParallel:
      // A slot frees when any request of the key ends: no better estimate than soon.
      ticket.retry_after = 1;
      break;
    case Refusal::kBudget:
      if (auto end = period_end(limits.budget->period, now)) {
        ticket.retry_after = seconds_until(*end, now);
      }
      break;
  }
  return ticket;
}

void LocalCounters::settle(const std::string& key_id, const Ticket& ticket, std::int64_t tokens,
                           std::int64_t cost_micros, Millis now) {
  if (!ticket.admitted()) return;
  const Millis window = window_start(now);
  auto& shard = impl_->shard(key_id);
  std::lock_guard lock(shard.mutex);
  auto it = shard.keys.find(key_id);
  if (it == shard.keys.end()) return;  // admitted without limits: nothing was counted
  State& s = it->second;
  if (ticket.holds_parallel && s.parallel > 0) --s.parallel;
  if (tokens > 0) {
    s.roll_window(window);
    // Tokens of a window already replaced count for nothing any more.
    if (s.window == window) s.tokens += tokens;
  }
  if (ticket.budgeted && ticket.period == s.period) {
    s.reserved = std::max<std::int64_t>(0, s.reserved - ticket.reserved_micros);
    s.spent += std::max<std::int64_t>(0, cost_micros);
  }
}

void LocalCounters::seed_spend(const std::string& key_id, Millis period,
                               std::int64_t spent_micros) {
  auto& shard = impl_->shard(key_id);
  std::lock_guard lock(shard.mutex);
  State& s = shard.keys[key_id];
  if (period > s.period) s.start_period(period, spent_micros);
}

void LocalCounters::raise_spend(const std::string& key_id, Millis period,
                                std::int64_t spent_micros) {
  auto& shard = impl_->shard(key_id);
  std::lock_guard lock(shard.mutex);
  State& s = shard.keys[key_id];
  if (period > s.period) {
    s.start_period(period, spent_micros);
  } else if (period == s.period) {
    s.spent = std::max(s.spent, spent_micros);
  }
}

LocalCounters::Spend LocalCounters::spend(const std::string& key_id, Millis period) const {
  auto& shard = impl_->shard(key_id);
  std::lock_guard lock(shard.mutex);
  auto it = shard.keys.find(key_id);
  if (it == shard.keys.end() || it->second.period != period) return {};
  return {it->second.spent, it->second.reserved};
}

namespace {

class LocalLimiter final : public Limiter {
 public:
  explicit LocalLimiter(LocalCounters& counters) : counters_(counters) {}

  net::Task<Ticket> admit(std::string key_id, KeyLimits limits, std::int64_t reserve_micros,
                          Millis now) override {
    co_return counters_.admit(key_id, limits, reserve_micros, now);
  }
  net::Task<void> settle(std::string key_id, Ticket ticket, std::int64_t tokens,
                         std::int64_t cost_micros, Millis now) override {
    counters_.settle(key_id, ticket, tokens, cost_micros, now);
    co_return;
  }
  void seed_spend(const std::string& key_id, Millis period, std::int64_t spent_micros) override {
    counters_.seed_spend(key_id, period, spent_micros);
  }
  LocalCounters* immediate() override { return &counters_; }
  net::Task<LocalCounters::Spend> spend(std::string key_id, Millis period) override {
    co_return counters_.spend(key_id, period);
  }

 private:
  LocalCounters& counters_;
};

}  // namespace

std::unique_ptr<Limiter> local_limiter(LocalCounters& counters) {
  return std::make_unique<LocalLimiter>(counters);
}

}  // namespace shepherd::limits
