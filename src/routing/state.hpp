// What Shepherd knows about each deployment at run time: cool-down (circuit breaker), health,
// drain, rate limits, requests in flight and measured latency. Pure logic with an injected
// clock; DeploymentState is shared by every event-loop thread and guards itself.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>

namespace shepherd::routing {

using Clock = std::chrono::steady_clock;
using TimePoint = Clock::time_point;
using Duration = Clock::duration;

// A lock for a few dozen instructions of work: uncontended (the common case) it costs one atomic
// exchange and one store, where a mutex costs two library calls.
class SpinLock {
 public:
  void lock() {
    while (locked_.exchange(true, std::memory_order_acquire)) {
      while (locked_.load(std::memory_order_relaxed)) {
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#endif
      }
    }
  }
  void unlock() { locked_.store(false, std::memory_order_release); }

 private:
  std::atomic<bool> locked_{false};
};

// Cool-down: `failures` within `window` open the breaker for `cooldown`; then one request may
// try the deployment (half-open). Its success closes the breaker, its failure opens it again.
// Not thread-safe.
class Breaker {
 public:
  enum class State { kClosed, kOpen, kHalfOpen };
  static constexpr int kMaxFailures = 64;  // the largest `failures` setting
  struct Settings {
    int failures = 5;
    Duration window = std::chrono::seconds(30);
    Duration cooldown = std::chrono::seconds(30);
  };

  State state(TimePoint now) const;
  // Whether a request may be sent now; in half-open only while no probe is under way.
  bool available(TimePoint now) const;
  // Called when a request is sent: in half-open it takes the single probe slot.
  void on_send(TimePoint now);
  void on_success();
  void release_probe() { probing_ = false; }
  void on_failure(TimePoint now, const Settings& settings);
  // Out of rotation until `until` (a 429's Retry-After, a revoked key), then half-open.
  void open_until(TimePoint until);
  TimePoint reopens_at() const { return open_until_; }
  std::uint64_t times_opened() const { return opened_; }

 private:
  std::array<TimePoint, kMaxFailures> failures_{};  // ring of the latest failure times
  int count_ = 0, head_ = 0;
  TimePoint open_until_{};
  bool open_ = false;
  bool probing_ = false;
  std::uint64_t opened_ = 0;
};

// Requests-per-minute and tokens-per-minute limits as token buckets that refill continuously
// and start full. Not thread-safe.
class RateLimiter {
 public:
  RateLimiter(std::uint64_t rpm, std::uint64_t tpm, TimePoint now);
  bool limited() const { return rpm_ > 0 || tpm_ > 0; }
  // Takes one request and `tokens` (clamped to the per-minute limit) and returns zero, or takes
  // nothing and returns how long until both would be available.
  Duration try_take(TimePoint now, double tokens);
  // When the answer's real token count is known: corrects the estimate taken at admission.
  void settle(double estimated, double actual);

 private:
  void refill(TimePoint now);
  double rpm_, tpm_;
  double requests_, tokens_;
  TimePoint last_;
};

// A moving window of the last samples (seconds).
class LatencyWindow {
 public:
  static constexpr int kSize = 64;
  void add(double seconds);
  int count() const { return count_; }
  std::optional<double> mean() const;
  std::optional<double> quantile(double q) const;  // needs at least 1 sample

 private:
  std::array<double, kSize> samples_{};
  int count_ = 0, head_ = 0;
  double sum_ = 0;
};

// How an attempt on a deployment ended, as far as its health is concerned.
enum class AttemptResult {
  kSuccess,
  kFailure,      // connect, reset, timeout, 5xx, broken answer: counts toward cool-down
  kRateLimited,  // 429: benched for Retry-After, else counted as a failure
  kAuthFailure,  // 401/403: the provider refused Shepherd's key
  kNeutral,      // the client's fault (another 4xx) or cancelled: says nothing about health
};

struct DeploymentSettings {
  Breaker::Settings breaker;
  Duration auth_cooldown = std::chrono::minutes(5);
};

// Everything about one deployment, safe to use from any thread.
class DeploymentState {
 public:
  DeploymentState(std::string id, std::uint64_t rpm, std::uint64_t tpm, TimePoint now);

  const std::string& id() const { return id_; }

  // kRateLimited: a 429's Retry-After or the upstream's x-ratelimit-* headers said to wait.
  enum class Availability { kAvailable, kDrained, kCoolingDown, kUnhealthy, kRateLimited };
  Availability availability(TimePoint now) const;
  // When a deployment that is not available may be tried again (max() when drained).
  TimePoint available_at(TimePoint now) const;

  // Admission: takes the rate-limit share and, in half-open, the probe slot. Returns zero on
  // success (in_flight is then counted until end()), else how long until the limits allow it
  // (Duration::max() when the deployment is not available at all).
  Duration begin(TimePoint now, double tokens);
  void end(TimePoint now, AttemptResult result, const DeploymentSettings& settings,
           std::optional<Duration> bench = std::nullopt);
  // Successful answers add latency samples: first byte (streams: first event) and total.
  void record_latency(bool stream, double first_byte_seconds, double total_seconds);
  void settle_tokens(double estimated, double actual);
  // An upstream said it has no requests or tokens left until `until` (x-ratelimit-* headers).
  void bench_until(TimePoint until);

  void set_drained(bool drained) { drained_.store(drained, std::memory_order_relaxed); }
  bool drained() const { return drained_.load(std::memory_order_relaxed); }
  // Active health check results.
  void health_check(TimePoint now, AttemptResult result, const DeploymentSettings& settings);

  std::uint32_t in_flight() const { return in_flight_.load(std::memory_order_relaxed); }
  // The latency the lowest-latency strategy compares: mean time to first byte for streams,
  // total time otherwise; nullopt before any sample.
  std::optional<double> latency(bool stream) const;
  std::optional<double> first_byte_p95(int min_samples) const;

  struct Report {
    // "available", "drained", "cooling down", "unhealthy", "rate limited"
    std::string availability;
    std::string breaker;    // "closed", "open", "half-open"
    double reopens_in = 0;  // seconds, when not available
    std::uint32_t in_flight = 0;
    std::uint64_t requests = 0, failures = 0, auth_failures = 0, breaker_opened = 0;
    double error_rate = 0;  // over the last 64 attempts
    std::optional<double> first_byte_mean, first_byte_p95, total_mean, total_p95;
    bool health_ok = true;
    std::string last_error;
  };
  Report report(TimePoint now) const;
  void set_last_error(std::string text);

 private:
  // Everything but drained (an atomic read outside the lock); mu_ must be held.
  Availability availability_locked(TimePoint now) const;

  const std::string id_;
  std::atomic<bool> drained_{false};
  std::atomic<std::uint32_t> in_flight_{0};
  mutable SpinLock mu_;
  Breaker breaker_;
  TimePoint auth_until_{};
  TimePoint limited_until_{};
  bool health_ok_ = true;
  RateLimiter limiter_;
  LatencyWindow stream_first_, first_byte_, total_;
  std::uint64_t requests_ = 0, failures_ = 0, auth_failures_ = 0;
  std::uint64_t recent_ = 0;  // bit i: attempt i back failed
  int recent_count_ = 0;
  std::string last_error_;
};

// "available", "drained", "cooling down", "unhealthy", "rate limited".
const char* availability_name(DeploymentState::Availability availability);

// Retries as a share of requests (gRPC's retry throttling, as a token bucket): each request
// earns `ratio` of a retry, each retry spends one, and at most `burst` are saved up. Thread-safe.
class RetryBudget {
 public:
  RetryBudget(double ratio, int burst);
  void on_request();
  bool try_retry();

 private:
  static constexpr std::int64_t kUnit = 1000;
  const std::int64_t earn_, cap_;
  std::atomic<std::int64_t> tokens_;
};

}  // namespace shepherd::routing
