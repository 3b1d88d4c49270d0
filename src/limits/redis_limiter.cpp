#include "limits/redis_limiter.hpp"

#include <algorithm>
#include <chrono>

#include "limits/redis_scripts.hpp"
#include "limits/window.hpp"

namespace shepherd::limits {

namespace asio = net::asio;
using Command = RedisClient::Command;
using Type = RedisReply::Type;

namespace {

constexpr std::string_view kHolders = "shepherd:holders";
constexpr std::string_view kInstances = "shepherd:instances";
constexpr Millis kDayMs = 86'400'000;
constexpr Millis kWindowTtl = 2 * kWindowMs;
// Parallel counts live as long as requests do; refreshed by every admission, an hour is longer
// than any request's deadline.
constexpr Millis kParallelTtl = 3'600'000;
// Where the budget's kind is unknown (a seed, a late settle), the period is kept as long as the
// longest one could last.
constexpr Millis kLongestPeriod = 31 * kDayMs;

constexpr std::array<std::string_view, 4> kScriptTexts = {scripts::kAdmit, scripts::kSettle,
                                                          scripts::kSeed, scripts::kSpend};

// Numbers the limiters of this process, so that each loop's holder has its own name.
std::atomic<std::uint64_t> next_limiter{0};

std::string window_key(const std::string& key_id, Millis window) {
  return "shepherd:w:" + key_id + ":" + std::to_string(window);
}
std::string parallel_key(const std::string& key_id) { return "shepherd:p:" + key_id; }
std::string budget_key(const std::string& key_id, Millis period) {
  return "shepherd:b:" + key_id + ":" + std::to_string(period);
}

std::string limit_arg(const std::optional<std::int64_t>& limit) {
  return limit ? std::to_string(*limit) : "-1";
}

// A period's hash expires a day after the period ends; a total budget's never (0).
Millis budget_expiry(std::optional<Millis> end) { return end ? *end + kDayMs : 0; }
Millis late_expiry(Millis period) { return period == 0 ? 0 : period + kLongestPeriod + kDayMs; }

std::optional<std::int64_t> share_of(const std::optional<std::int64_t>& limit, std::int64_t n) {
  if (!limit || *limit <= 0) return limit;
  return std::max<std::int64_t>(1, *limit / n);
}

// This instance's share of every limit while it counts alone.
KeyLimits share(const KeyLimits& limits, std::int64_t n) {
  KeyLimits s;
  s.rpm = share_of(limits.rpm, n);
  s.tpm = share_of(limits.tpm, n);
  s.max_parallel = share_of(limits.max_parallel, n);
  if (limits.budget)
    s.budget = Budget{limits.budget->usd / static_cast<double>(n), limits.budget->period};
  return s;
}

bool integers(const RedisReply& reply, std::size_t n) {
  if (reply.type != Type::kArray || reply.elements.size() < n) return false;
  return std::all_of(reply.elements.begin(),
                     reply.elements.begin() + static_cast<std::ptrdiff_t>(n),
                     [](const RedisReply& e) { return e.type == Type::kInteger; });
}

}  // namespace

void RedisHealth::set_degraded(bool down) {
  std::lock_guard lock(mutex_);
  degraded_limiters_ += down ? 1 : -1;
  degraded.store(degraded_limiters_ > 0);
}

RedisLimiter::RedisLimiter(net::Executor loop, RedisOptions options, std::string instance_id,
                           LocalCounters& fallback, RedisHealth& health)
    : loop_(loop),
      options_(std::move(options)),
      instance_id_(std::move(instance_id)),
      holder_prefix_(instance_id_ + "/" + std::to_string(next_limiter++) + "."),
      fallback_(fallback),
      health_(health),
      client_(loop, RedisClientOptions{options_.url, options_.timeout, options_.connect_timeout,
                                       options_.backoff_min, options_.backoff_max}),
      wake_(loop) {
  std::vector<Command> load;
  for (auto text : kScriptTexts) load.push_back({"SCRIPT", "LOAD", std::string(text)});
  client_.set_on_connect(std::move(load), [this](const std::vector<RedisReply>& replies) {
    for (std::size_t i = 0; i < replies.size() && i < shas_.size(); ++i) {
      if (replies[i].type == Type::kString) shas_[i] = replies[i].str;
    }
  });
}

RedisLimiter::~RedisLimiter() {
  if (degraded_) health_.set_degraded(false);
}

Millis RedisLimiter::clock() const {
  if (options_.clock) return options_.clock();
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string RedisLimiter::holder(std::uint64_t incarnation) const {
  return holder_prefix_ + std::to_string(incarnation);
}

void RedisLimiter::failed() {
  health_.failures.fetch_add(1, std::memory_order_relaxed);
  if (degraded_) return;
  degraded_ = true;
  health_.set_degraded(true);
  // The failed call may have counted in Redis or not. Rather than guess, this generation's
  // slots and reservations are left to lapse with its heartbeat; the next one starts clean.
  ++incarnation_;
}

void RedisLimiter::recovered() {
  if (!degraded_) return;
  degraded_ = false;
  health_.set_degraded(false);
}

net::Task<base::Result<RedisReply>> RedisLimiter::eval(Script script, Command keys_and_args,
                                                       std::size_t keys) {
  Command command;
  command.reserve(keys_and_args.size() + 3);
  // Until a connection has loaded the scripts, EVAL sends the text (and Redis caches it).
  if (shas_[script].empty()) {
    command.emplace_back("EVAL");
    command.emplace_back(kScriptTexts[script]);
  } else {
    command.emplace_back("EVALSHA");
    command.push_back(shas_[script]);
  }
  command.push_back(std::to_string(keys));
  for (auto& a : keys_and_args) command.push_back(std::move(a));
  auto reply = co_await client_.command(command);
  if (reply && reply->is_error() && reply->str.starts_with("NOSCRIPT")) {
    // The server lost its scripts (SCRIPT FLUSH, a restart behind the same connection's
    // address, a failover): load it again and retry once, in one round trip.
    std::vector<Command> batch;
    batch.push_back({"SCRIPT", "LOAD", std::string(kScriptTexts[script])});
    batch.push_back(std::move(command));
    auto replies = co_await client_.pipeline(batch);
    if (!replies) co_return std::move(replies).error();
    if ((*replies)[0].type == Type::kString) shas_[script] = (*replies)[0].str;
    reply = std::move((*replies)[1]);
  }
  if (reply && reply->is_error()) {
    auto e =
        base::make_error(base::ErrorCode::kUnavailable, "the shared limit store is unavailable",
                         "redis: script failed: " + reply->str);
    e.retryable = true;
    co_return e;
  }
  co_return reply;
}

Ticket RedisLimiter::admit_locally(const std::string& key_id, const KeyLimits& limits,
                                   std::int64_t reserve_micros, Millis now) {
  auto ticket = fallback_.admit(key_id, share(limits, instances()), reserve_micros, now);
  ticket.local = true;
  return ticket;
}

net::Task<Ticket> RedisLimiter::admit(std::string key_id, KeyLimits limits,
                                      std::int64_t reserve_micros, Millis now) {
  if (!limits.any()) co_return Ticket{};
  const std::int64_t reserve = std::max<std::int64_t>(0, reserve_micros);
  if (degraded_ || stopped_) co_return admit_locally(key_id, limits, reserve, now);
  const Millis window = window_start(now);
  Millis period = 0;
  std::optional<Millis> end;
  if (limits.budget) {
    period = period_start(limits.budget->period, now);
    end = period_end(limits.budget->period, now);
  }
  const std::uint64_t incarnation = incarnation_;
  const Millis beat = clock();
  Command ka;
  ka.reserve(15);
  ka.push_back(window_key(key_id, window));
  ka.push_back(parallel_key(key_id));
  ka.push_back(budget_key(key_id, period));
  ka.emplace_back(kHolders);
  ka.push_back(holder(incarnation));
  ka.push_back(std::to_string(beat));
  ka.push_back(std::to_string(beat - options_.dead_after.count()));
  ka.push_back(limit_arg(limits.rpm));
  ka.push_back(limit_arg(limits.tpm));
  ka.push_back(limit_arg(limits.max_parallel));
  ka.push_back(limits.budget ? std::to_string(to_micros(limits.budget->usd)) : "-1");
  ka.push_back(std::to_string(reserve));
  ka.push_back(std::to_string(kWindowTtl));
  ka.push_back(std::to_string(kParallelTtl));
  ka.push_back(std::to_string(budget_expiry(end)));
  auto reply = co_await eval(kAdmitScript, std::move(ka), 4);
  if (!reply || !integers(*reply, 2)) {
    if (!stopped_) failed();
    co_return admit_locally(key_id, limits, reserve, now);
  }
  const auto refusal = reply->elements[0].integer;
  // The fallback follows the shared spend, at this instance's share, so that a fallback later in
  // the period does not hand out what is spent already.
  if (limits.budget)
    fallback_.raise_spend(key_id, period, reply->elements[1].integer / instances());
  Ticket ticket;
  switch (refusal) {
    case 0:
      ticket.holds_parallel = limits.max_parallel.has_value();
      if (limits.budget) {
        ticket.budgeted = true;
        ticket.reserved_micros = reserve;
        ticket.period = period;
        ticket.spent_micros = reply->elements[1].integer;
      }
      ticket.incarnation = incarnation;
      break;
    case 1:
      ticket.refusal = Refusal::kRpm;
      ticket.retry_after = seconds_until(window + kWindowMs, now);
      break;
    case 2:
      ticket.refusal = Refusal::kTpm;
      ticket.retry_after = seconds_until(window + kWindowMs, now);
      break;
    case 3:
      ticket.refusal = Refusal::kParallel;
      ticket.retry_after = 1;
      break;
    default:
      ticket.refusal = Refusal::kBudget;
      if (end) ticket.retry_after = seconds_until(*end, now);
  }
  co_return ticket;
}

net::Task<bool> RedisLimiter::settle_shared(QueuedSettle s) {
  Command ka;
  ka.reserve(11);
  ka.push_back(window_key(s.key_id, window_start(s.now)));
  ka.push_back(parallel_key(s.key_id));
  ka.push_back(budget_key(s.key_id, s.ticket.period));
  ka.push_back(holder(s.ticket.incarnation));
  ka.push_back(std::to_string(std::max<std::int64_t>(0, s.tokens)));
  ka.emplace_back(s.ticket.holds_parallel ? "1" : "0");
  ka.emplace_back(s.ticket.budgeted ? "1" : "0");
  ka.push_back(std::to_string(s.ticket.reserved_micros));
  ka.push_back(std::to_string(std::max<std::int64_t>(0, s.cost_micros)));
  ka.push_back(std::to_string(kWindowTtl));
  ka.push_back(std::to_string(late_expiry(s.ticket.period)));
  auto reply = co_await eval(kSettleScript, std::move(ka), 3);
  co_return reply.ok();
}

void RedisLimiter::queue_settle(QueuedSettle s) {
  const auto& t = s.ticket;
  const bool counts = s.tokens > 0 || (t.budgeted && s.cost_micros > 0) || t.holds_parallel ||
                      t.reserved_micros > 0;
  if (!counts) return;
  if (settles_.size() >= options_.max_queued) {
    settles_.pop_front();
    health_.lost_settles.fetch_add(1, std::memory_order_relaxed);
  }
  settles_.push_back(std::move(s));
}

net::Task<void> RedisLimiter::settle(std::string key_id, Ticket ticket, std::int64_t tokens,
                                     std::int64_t cost_micros, Millis now) {
  if (!ticket.admitted()) co_return;
  QueuedSettle s{std::move(key_id), ticket, tokens, cost_micros, now};
  if (ticket.local) {
    fallback_.settle(s.key_id, ticket, tokens, cost_micros, now);
    // Its slot and reservation were never in Redis; its tokens and cost go there once it answers.
    s.ticket.holds_parallel = false;
    s.ticket.reserved_micros = 0;
    queue_settle(std::move(s));
    co_return;
  }
  // After stop() the slot and reservation lapse with the heartbeat.
  if (stopped_) co_return;
  if (!degraded_) {
    const bool done = co_await settle_shared(s);
    if (done) co_return;
    if (!stopped_) failed();
  }
  // Degraded, this ticket's generation is given up (failed()): its slot and reservation lapse
  // with it, and only the tokens and cost wait for Redis.
  s.ticket.holds_parallel = false;
  s.ticket.reserved_micros = 0;
  queue_settle(std::move(s));
}

net::Task<bool> RedisLimiter::seed_shared(QueuedSeed s) {
  Command ka;
  ka.push_back(budget_key(s.key_id, s.period));
  ka.push_back(std::to_string(s.spent_micros));
  ka.push_back(std::to_string(late_expiry(s.period)));
  auto reply = co_await eval(kSeedScript, std::move(ka), 1);
  co_return reply.ok();
}

void RedisLimiter::seed_spend(const std::string& key_id, Millis period, std::int64_t spent_micros) {
  // The fallback counts a share of the budget, so it starts from the same share of the spend.
  fallback_.seed_spend(key_id, period, spent_micros / instances());
  asio::post(loop_, [this, s = QueuedSeed{key_id, period, spent_micros}]() mutable {
    if (stopped_) return;
    if (seeds_.size() >= options_.max_queued) seeds_.pop_front();
    seeds_.push_back(std::move(s));
    poked_ = true;
    wake_.cancel();
  });
}

net::Task<LocalCounters::Spend> RedisLimiter::spend(std::string key_id, Millis period) {
  if (degraded_ || stopped_) co_return fallback_.spend(key_id, period);
  Command ka;
  ka.push_back(budget_key(key_id, period));
  ka.emplace_back(kHolders);
  ka.push_back(holder(incarnation_));
  ka.push_back(std::to_string(clock() - options_.dead_after.count()));
  auto reply = co_await eval(kSpendScript, std::move(ka), 2);
  if (!reply || !integers(*reply, 2)) {
    if (!stopped_) failed();
    co_return fallback_.spend(key_id, period);
  }
  co_return LocalCounters::Spend{reply->elements[0].integer, reply->elements[1].integer};
}

net::Task<bool> RedisLimiter::heartbeat() {
  if (stopped_) co_return false;
  const Millis now = clock();
  const auto beat = std::to_string(now);
  // Scores below dead_before are dead: "(" makes the bound exclusive.
  // Appended, not "(" + ...: GCC 12 warns about the latter (-Wrestrict, a false positive).
  std::string dead = "(";
  dead += std::to_string(now - options_.dead_after.count());
  const std::string holders(kHolders), instances(kInstances);
  std::vector<Command> batch;
  batch.push_back({"ZADD", holders, beat, holder(incarnation_)});
  batch.push_back({"ZADD", instances, beat, instance_id_});
  batch.push_back({"ZREMRANGEBYSCORE", holders, "-inf", dead});
  batch.push_back({"ZREMRANGEBYSCORE", instances, "-inf", dead});
  batch.push_back({"ZCARD", instances});
  auto replies = co_await client_.pipeline(batch);
  const bool ok = replies && std::none_of(replies->begin(), replies->end(),
                                          [](const RedisReply& r) { return r.is_error(); });
  if (!ok || replies->back().type != Type::kInteger) {
    if (!stopped_) failed();
    co_return false;
  }
  const auto n = std::max<std::int64_t>(1, replies->back().integer);
  instances_.store(n, std::memory_order_relaxed);
  health_.instances.store(n, std::memory_order_relaxed);
  recovered();
  co_return true;
}

net::Task<void> RedisLimiter::flush() {
  while (!seeds_.empty() && !degraded_ && !stopped_) {
    auto s = std::move(seeds_.front());
    seeds_.pop_front();
    const bool done = co_await seed_shared(s);
    if (!done) {
      seeds_.push_front(std::move(s));
      if (!stopped_) failed();
      co_return;
    }
  }
  while (!settles_.empty() && !degraded_ && !stopped_) {
    auto s = std::move(settles_.front());
    settles_.pop_front();
    const bool done = co_await settle_shared(s);
    if (!done) {
      settles_.push_front(std::move(s));
      if (!stopped_) failed();
      co_return;
    }
  }
}

net::Task<void> RedisLimiter::run() {
  auto next_beat = net::Clock::now();
  while (!stopped_) {
    if (net::Clock::now() >= next_beat) {
      next_beat = net::Clock::now() + options_.heartbeat;
      co_await heartbeat();
    }
    poked_ = false;
    if (!degraded_ && (!seeds_.empty() || !settles_.empty())) co_await flush();
    if (stopped_ || poked_) continue;
    wake_.expires_at(next_beat);
    co_await wake_.async_wait(net::kUseTuple);
  }
}

void RedisLimiter::stop() {
  asio::dispatch(loop_, [this] {
    stopped_ = true;
    wake_.cancel();
    client_.close();
  });
}

}  // namespace shepherd::limits
