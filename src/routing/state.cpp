#include "routing/state.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <vector>

namespace shepherd::routing {

// ---- Breaker

Breaker::State Breaker::state(TimePoint now) const {
  if (!open_) return State::kClosed;
  return now < open_until_ ? State::kOpen : State::kHalfOpen;
}

bool Breaker::available(TimePoint now) const {
  switch (state(now)) {
    case State::kClosed:
      return true;
    case State::kOpen:
      return false;
    case State::kHalfOpen:
      return !probing_;
  }
  return false;
}

void Breaker::on_send(TimePoint now) {
  if (state(now) == State::kHalfOpen) probing_ = true;
}

void Breaker::on_success() {
  open_ = false;
  probing_ = false;
  count_ = 0;
}

void Breaker::on_failure(TimePoint now, const Settings& settings) {
  if (open_) {
    // The half-open probe failed (or a request sent before the breaker opened): cool down again.
    const bool was_half_open = now >= open_until_;
    probing_ = false;
    open_until_ = std::max(open_until_, now + settings.cooldown);
    if (was_half_open) ++opened_;
    return;
  }
  failures_[static_cast<std::size_t>(head_)] = now;
  head_ = (head_ + 1) % kMaxFailures;
  count_ = std::min(count_ + 1, kMaxFailures);
  const int k = std::clamp(settings.failures, 1, kMaxFailures);
  if (count_ < k) return;
  // The k-th latest failure: within the window means k failures within the window.
  const auto kth = failures_[static_cast<std::size_t>((head_ - k + kMaxFailures) % kMaxFailures)];
  if (now - kth <= settings.window) {
    open_ = true;
    probing_ = false;
    open_until_ = now + settings.cooldown;
    count_ = 0;
    ++opened_;
  }
}

void Breaker::open_until(TimePoint until) {
  if (!open_) {
    ++opened_;
    open_until_ = until;
  } else {
    open_until_ = std::max(open_until_, until);
  }
  open_ = true;
  probing_ = false;
  count_ = 0;
}

// ---- RateLimiter

RateLimiter::RateLimiter(std::uint64_t rpm, std::uint64_t tpm, TimePoint now)
    : rpm_(static_cast<double>(rpm)),
      tpm_(static_cast<double>(tpm)),
      requests_(rpm_),
      tokens_(tpm_),
      last_(now) {}

void RateLimiter::refill(TimePoint now) {
  if (now <= last_) return;
  const double minutes = std::chrono::duration<double>(now - last_).count() / 60.0;
  last_ = now;
  requests_ = std::min(rpm_, requests_ + rpm_ * minutes);
  tokens_ = std::min(tpm_, tokens_ + tpm_ * minutes);
}

Duration RateLimiter::try_take(TimePoint now, double tokens) {
  if (!limited()) return Duration::zero();
  refill(now);
  double wait_minutes = 0;
  if (rpm_ > 0 && requests_ < 1) wait_minutes = (1 - requests_) / rpm_;
  const double need = std::min(std::max(tokens, 0.0), tpm_);
  if (tpm_ > 0 && tokens_ < need) wait_minutes = std::max(wait_minutes, (need - tokens_) / tpm_);
  if (wait_minutes > 0) {
    // Rounded up to a millisecond so that waiting this long is always enough.
    return std::chrono::ceil<std::chrono::milliseconds>(
        std::chrono::duration<double>(wait_minutes * 60.0));
  }
  if (rpm_ > 0) requests_ -= 1;
  if (tpm_ > 0) tokens_ -= need;
  return Duration::zero();
}

void RateLimiter::settle(double estimated, double actual) {
  if (tpm_ <= 0) return;
  // Negative balances are allowed: an answer bigger than estimated delays the next requests.
  tokens_ = std::min(tpm_, tokens_ + std::min(estimated, tpm_) - actual);
}

// ---- LatencyWindow

void LatencyWindow::add(double seconds) {
  auto& slot = samples_[static_cast<std::size_t>(head_)];
  if (count_ == kSize) sum_ -= slot;
  slot = seconds;
  sum_ += seconds;
  head_ = (head_ + 1) % kSize;
  count_ = std::min(count_ + 1, kSize);
}

std::optional<double> LatencyWindow::mean() const {
  if (count_ == 0) return std::nullopt;
  return std::max(0.0, sum_ / count_);
}

std::optional<double> LatencyWindow::quantile(double q) const {
  if (count_ == 0) return std::nullopt;
  std::array<double, kSize> copy;
  std::copy_n(samples_.begin(), count_, copy.begin());
  const auto n = static_cast<std::size_t>(count_);
  const auto k = std::min(
      n - 1, static_cast<std::size_t>(std::ceil(q * static_cast<double>(n))) - (q > 0 ? 1 : 0));
  std::nth_element(copy.begin(), copy.begin() + static_cast<std::ptrdiff_t>(k),
                   copy.begin() + static_cast<std::ptrdiff_t>(n));
  return copy[k];
}

// ---- DeploymentState

DeploymentState::DeploymentState(std::string id, std::uint64_t rpm, std::uint64_t tpm,
                                 TimePoint now)
    : id_(std::move(id)), limiter_(rpm, tpm, now) {}

const char* availability_name(DeploymentState::Availability a) {
  switch (a) {
    case DeploymentState::Availability::kAvailable:
      return "available";
    case DeploymentState::Availability::kDrained:
      return "drained";
    case DeploymentState::Availability::kCoolingDown:
      return "cooling down";
    case DeploymentState::Availability::kUnhealthy:
      return "unhealthy";
    case DeploymentState::Availability::kRateLimited:
      return "rate limited";
  }
  return "?";
}

DeploymentState::Availability DeploymentState::availability(TimePoint now) const {
  if (drained()) return Availability::kDrained;
  std::lock_guard lock(mu_);
  return availability_locked(now);
}

DeploymentState::Availability DeploymentState::availability_locked(TimePoint now) const {
  if (now < auth_until_ || !health_ok_) return Availability::kUnhealthy;
  if (!breaker_.available(now)) return Availability::kCoolingDown;
  return now < limited_until_ ? Availability::kRateLimited : Availability::kAvailable;
}

TimePoint DeploymentState::available_at(TimePoint now) const {
  if (drained()) return TimePoint::max();
  std::lock_guard lock(mu_);
  if (!health_ok_) return TimePoint::max();
  auto at = std::max({now, auth_until_, limited_until_});
  if (breaker_.state(now) == Breaker::State::kOpen) at = std::max(at, breaker_.reopens_at());
  return at;
}

Duration DeploymentState::begin(TimePoint now, double tokens) {
  if (drained()) return Duration::max();
  std::lock_guard lock(mu_);
  switch (availability_locked(now)) {
    case Availability::kAvailable:
      break;
    case Availability::kRateLimited:
      return limited_until_ - now;
    default:
      return Duration::max();
  }
  if (limiter_.limited()) {
    if (auto wait = limiter_.try_take(now, tokens); wait > Duration::zero()) return wait;
  }
  breaker_.on_send(now);
  ++requests_;
  in_flight_.fetch_add(1, std::memory_order_relaxed);
  return Duration::zero();
}

void DeploymentState::end(TimePoint now, AttemptResult result, const DeploymentSettings& settings,
                          std::optional<Duration> bench) {
  in_flight_.fetch_sub(1, std::memory_order_relaxed);
  std::lock_guard lock(mu_);
  const bool failed = result != AttemptResult::kSuccess && result != AttemptResult::kNeutral;
  if (result != AttemptResult::kNeutral) {
    recent_ = (recent_ << 1) | (failed ? 1u : 0u);
    recent_count_ = std::min(recent_count_ + 1, 64);
  }
  switch (result) {
    case AttemptResult::kSuccess:
      breaker_.on_success();
      break;
    case AttemptResult::kNeutral:
      // A half-open probe that ended without a verdict frees the slot for the next one.
      if (breaker_.state(now) == Breaker::State::kHalfOpen) breaker_.release_probe();
      break;
    case AttemptResult::kRateLimited:
      ++failures_;
      if (bench) {
        limited_until_ = std::max(limited_until_, now + *bench);
        breaker_.release_probe();
      } else {
        breaker_.on_failure(now, settings.breaker);
      }
      break;
    case AttemptResult::kAuthFailure:
      ++failures_;
      ++auth_failures_;
      auth_until_ = now + settings.auth_cooldown;
      // A half-open probe refused for the key must free the slot, or once the auth cool-down
      // is over the deployment would wait forever for that probe's verdict.
      if (breaker_.state(now) == Breaker::State::kHalfOpen) breaker_.release_probe();
      break;
    case AttemptResult::kFailure:
      ++failures_;
      breaker_.on_failure(now, settings.breaker);
      break;
  }
}

void DeploymentState::record_latency(bool stream, double first_byte_seconds, double total_seconds) {
  std::lock_guard lock(mu_);
  if (stream) stream_first_.add(first_byte_seconds);
  first_byte_.add(first_byte_seconds);
  total_.add(total_seconds);
}

void DeploymentState::settle_tokens(double estimated, double actual) {
  std::lock_guard lock(mu_);
  limiter_.settle(estimated, actual);
}

void DeploymentState::bench_until(TimePoint until) {
  std::lock_guard lock(mu_);
  limited_until_ = std::max(limited_until_, until);
}

void DeploymentState::health_check(TimePoint now, AttemptResult result,
                                   const DeploymentSettings& settings) {
  std::lock_guard lock(mu_);
  switch (result) {
    case AttemptResult::kSuccess:
      health_ok_ = true;
      auth_until_ = {};  // the key works again
      break;
    case AttemptResult::kAuthFailure:
      ++auth_failures_;
      auth_until_ = now + settings.auth_cooldown;
      break;
    case AttemptResult::kFailure:
      health_ok_ = false;
      break;
    case AttemptResult::kRateLimited:
    case AttemptResult::kNeutral:
      break;
  }
}

std::optional<double> DeploymentState::latency(bool stream) const {
  std::lock_guard lock(mu_);
  return stream ? stream_first_.mean() : total_.mean();
}

std::optional<double> DeploymentState::first_byte_p95(int min_samples) const {
  std::lock_guard lock(mu_);
  if (first_byte_.count() < min_samples) return std::nullopt;
  return first_byte_.quantile(0.95);
}

void DeploymentState::set_last_error(std::string text) {
  std::lock_guard lock(mu_);
  last_error_ = std::move(text);
}

DeploymentState::Report DeploymentState::report(TimePoint now) const {
  Report r;
  const bool drained = this->drained();
  std::lock_guard lock(mu_);
  const auto breaker = breaker_.state(now);
  r.breaker = breaker == Breaker::State::kClosed ? "closed"
              : breaker == Breaker::State::kOpen ? "open"
                                                 : "half-open";
  r.availability = availability_name(drained ? Availability::kDrained : availability_locked(now));
  const auto breaker_until = breaker == Breaker::State::kOpen ? breaker_.reopens_at() : TimePoint{};
  const auto until = std::max({auth_until_, limited_until_, breaker_until});
  if (until > now) r.reopens_in = std::chrono::duration<double>(until - now).count();
  r.in_flight = in_flight_.load(std::memory_order_relaxed);
  r.requests = requests_;
  r.failures = failures_;
  r.auth_failures = auth_failures_;
  r.breaker_opened = breaker_.times_opened();
  if (recent_count_ > 0) {
    const auto mask = recent_count_ >= 64 ? ~0ULL : ((1ULL << recent_count_) - 1);
    r.error_rate = static_cast<double>(std::popcount(recent_ & mask)) / recent_count_;
  }
  r.first_byte_mean = first_byte_.mean();
  r.first_byte_p95 = first_byte_.quantile(0.95);
  r.total_mean = total_.mean();
  r.total_p95 = total_.quantile(0.95);
  r.health_ok = health_ok_;
  r.last_error = last_error_;
  return r;
}

// ---- RetryBudget

RetryBudget::RetryBudget(double ratio, int burst)
    : earn_(static_cast<std::int64_t>(std::llround(ratio * kUnit))),
      cap_(std::max<std::int64_t>(burst, 1) * kUnit),
      tokens_(static_cast<std::int64_t>(std::max(burst, 0)) * kUnit) {}

void RetryBudget::on_request() {
  auto t = tokens_.load(std::memory_order_relaxed);
  while (t < cap_ &&
         !tokens_.compare_exchange_weak(t, std::min(cap_, t + earn_), std::memory_order_relaxed)) {
  }
}

bool RetryBudget::try_retry() {
  auto t = tokens_.load(std::memory_order_relaxed);
  while (t >= kUnit) {
    if (tokens_.compare_exchange_weak(t, t - kUnit, std::memory_order_relaxed)) return true;
  }
  return false;
}

}  // namespace shepherd::routing
