#include "routing/state.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <optional>

namespace shepherd::routing {
namespace {

using namespace std::chrono_literals;

TimePoint at(Duration since_start) { return TimePoint{} + std::chrono::seconds(100) + since_start; }

constexpr Breaker::Settings kBreaker{.failures = 3, .window = 10s, .cooldown = 30s};

// ---- Breaker

TEST(Breaker, OpensAfterKFailuresWithinWindow) {
  Breaker b;
  b.on_failure(at(0s), kBreaker);
  b.on_failure(at(4s), kBreaker);
  EXPECT_EQ(b.state(at(4s)), Breaker::State::kClosed);
  EXPECT_TRUE(b.available(at(4s)));
  EXPECT_EQ(b.times_opened(), 0u);

  b.on_failure(at(8s), kBreaker);
  EXPECT_EQ(b.state(at(8s)), Breaker::State::kOpen);
  EXPECT_FALSE(b.available(at(8s)));
  EXPECT_EQ(b.reopens_at(), at(38s));
  EXPECT_EQ(b.times_opened(), 1u);
}

TEST(Breaker, WindowIncludesAFailureExactlyWindowOld) {
  Breaker b;
  b.on_failure(at(0s), kBreaker);
  b.on_failure(at(5s), kBreaker);
  b.on_failure(at(10s), kBreaker);
  EXPECT_EQ(b.state(at(10s)), Breaker::State::kOpen);
}

TEST(Breaker, StaysClosedWhenFailuresAreSpreadWiderThanWindow) {
  Breaker b;
  for (auto t : {0s, 6s, 12s, 18s, 24s, 30s}) {
    b.on_failure(at(t), kBreaker);
    EXPECT_EQ(b.state(at(t)), Breaker::State::kClosed) << "failure at " << t.count() << "s";
  }
  // The failures are still counted: 24 s, 30 s and 31 s are within ten seconds.
  b.on_failure(at(31s), kBreaker);
  EXPECT_EQ(b.state(at(31s)), Breaker::State::kOpen);
}

TEST(Breaker, SuccessForgetsEarlierFailures) {
  Breaker b;
  b.on_failure(at(0s), kBreaker);
  b.on_failure(at(1s), kBreaker);
  b.on_success();
  b.on_failure(at(2s), kBreaker);
  b.on_failure(at(3s), kBreaker);
  EXPECT_EQ(b.state(at(3s)), Breaker::State::kClosed);
  b.on_failure(at(4s), kBreaker);
  EXPECT_EQ(b.state(at(4s)), Breaker::State::kOpen);
}

Breaker opened_at_zero() {
  Breaker b;
  for (int i = 0; i < kBreaker.failures; ++i) b.on_failure(at(0s), kBreaker);
  return b;
}

TEST(Breaker, OpenIsUnavailableUntilCooldownThenHalfOpenAdmitsExactlyOneProbe) {
  Breaker b = opened_at_zero();
  EXPECT_EQ(b.state(at(29999ms)), Breaker::State::kOpen);
  EXPECT_FALSE(b.available(at(29999ms)));

  EXPECT_EQ(b.state(at(30s)), Breaker::State::kHalfOpen);
  EXPECT_TRUE(b.available(at(30s)));
  b.on_send(at(30s));
  EXPECT_FALSE(b.available(at(30s)));
  EXPECT_FALSE(b.available(at(300s)));  // still waiting for the probe's verdict
  EXPECT_EQ(b.state(at(300s)), Breaker::State::kHalfOpen);
}

TEST(Breaker, ProbeSuccessCloses) {
  Breaker b = opened_at_zero();
  b.on_send(at(30s));
  b.on_success();
  EXPECT_EQ(b.state(at(31s)), Breaker::State::kClosed);
  EXPECT_TRUE(b.available(at(31s)));
  // Closed again means counting from zero: one failure does not reopen it.
  b.on_failure(at(32s), kBreaker);
  EXPECT_EQ(b.state(at(32s)), Breaker::State::kClosed);
}

TEST(Breaker, ProbeFailureReopensForAnotherCooldown) {
  Breaker b = opened_at_zero();
  b.on_send(at(30s));
  b.on_failure(at(35s), kBreaker);
  EXPECT_EQ(b.state(at(35s)), Breaker::State::kOpen);
  EXPECT_FALSE(b.available(at(64s)));
  EXPECT_EQ(b.reopens_at(), at(65s));
  EXPECT_EQ(b.times_opened(), 2u);
  EXPECT_EQ(b.state(at(65s)), Breaker::State::kHalfOpen);
  EXPECT_TRUE(b.available(at(65s)));
}

TEST(Breaker, OpenUntilBenchesThenGoesHalfOpen) {
  Breaker b;
  b.open_until(at(20s));
  EXPECT_EQ(b.state(at(0s)), Breaker::State::kOpen);
  EXPECT_FALSE(b.available(at(19s)));
  EXPECT_EQ(b.times_opened(), 1u);
  EXPECT_EQ(b.state(at(20s)), Breaker::State::kHalfOpen);
  EXPECT_TRUE(b.available(at(20s)));
  b.on_send(at(20s));
  EXPECT_FALSE(b.available(at(20s)));
}

TEST(Breaker, OpenUntilNeverShortensACooldown) {
  Breaker b = opened_at_zero();
  b.open_until(at(5s));
  EXPECT_EQ(b.reopens_at(), at(30s));
  EXPECT_FALSE(b.available(at(29s)));
  b.open_until(at(50s));
  EXPECT_EQ(b.reopens_at(), at(50s));
  EXPECT_EQ(b.times_opened(), 1u);
}

TEST(Breaker, ReleaseProbeLetsTheNextRequestProbe) {
  Breaker b = opened_at_zero();
  b.on_send(at(30s));
  ASSERT_FALSE(b.available(at(30s)));
  b.release_probe();
  EXPECT_TRUE(b.available(at(30s)));
  EXPECT_EQ(b.state(at(30s)), Breaker::State::kHalfOpen);
}

TEST(Breaker, SendWhileClosedTakesNoProbeSlot) {
  Breaker b;
  b.on_send(at(0s));
  b.on_send(at(0s));
  EXPECT_TRUE(b.available(at(0s)));
}

// ---- RateLimiter

TEST(RateLimiter, RpmBucketStartsFull) {
  RateLimiter limiter(5, 0, at(0s));
  EXPECT_TRUE(limiter.limited());
  for (int i = 0; i < 5; ++i) EXPECT_EQ(limiter.try_take(at(0s), 0), Duration::zero()) << i;
  EXPECT_GT(limiter.try_take(at(0s), 0), Duration::zero());
}

TEST(RateLimiter, RefusalWaitIsExactlyEnough) {
  for (std::uint64_t rpm = 1; rpm <= 200; ++rpm) {
    // Two identical limiters: one checks that a millisecond less is not enough, the other that
    // the wait itself is.
    RateLimiter a(rpm, 0, at(0s)), b(rpm, 0, at(0s));
    for (std::uint64_t i = 0; i < rpm; ++i) {
      ASSERT_EQ(a.try_take(at(0s), 0), Duration::zero());
      ASSERT_EQ(b.try_take(at(0s), 0), Duration::zero());
    }
    const auto wait = a.try_take(at(0s), 0);
    ASSERT_EQ(b.try_take(at(0s), 0), wait);
    ASSERT_GT(wait, Duration::zero()) << "rpm " << rpm;
    EXPECT_LE(wait, std::chrono::milliseconds(60'000 / rpm + 1)) << "rpm " << rpm;
    EXPECT_GT(a.try_take(at(wait - 1ms), 0), Duration::zero()) << "rpm " << rpm;
    EXPECT_EQ(b.try_take(at(wait), 0), Duration::zero()) << "rpm " << rpm;
    // And the bucket is then empty again.
    EXPECT_GT(b.try_take(at(wait), 0), Duration::zero()) << "rpm " << rpm;
  }
}

TEST(RateLimiter, RefusalTakesNothing) {
  RateLimiter limiter(1, 0, at(0s));
  ASSERT_EQ(limiter.try_take(at(0s), 0), Duration::zero());
  // Asking repeatedly while empty does not push the next slot further out.
  for (int i = 0; i < 10; ++i) EXPECT_EQ(limiter.try_take(at(0s), 0), 60s);
  EXPECT_EQ(limiter.try_take(at(30s), 0), 30s);
  EXPECT_EQ(limiter.try_take(at(60s), 0), Duration::zero());
}

TEST(RateLimiter, RefillStopsAtTheLimit) {
  RateLimiter limiter(2, 0, at(0s));
  ASSERT_EQ(limiter.try_take(at(0s), 0), Duration::zero());
  ASSERT_EQ(limiter.try_take(at(0s), 0), Duration::zero());
  // An hour idle refills two requests, not 120.
  EXPECT_EQ(limiter.try_take(at(1h), 0), Duration::zero());
  EXPECT_EQ(limiter.try_take(at(1h), 0), Duration::zero());
  EXPECT_GT(limiter.try_take(at(1h), 0), Duration::zero());
}

TEST(RateLimiter, TpmRefusesUntilTheEstimatedTokensHaveRefilled) {
  RateLimiter limiter(0, 1000, at(0s));
  EXPECT_EQ(limiter.try_take(at(0s), 800), Duration::zero());
  // 200 left, 400 needed: 200 tokens at 1000 per minute take 12 s.
  EXPECT_EQ(limiter.try_take(at(0s), 400), 12s);
  EXPECT_GT(limiter.try_take(at(11999ms), 400), Duration::zero());
  EXPECT_EQ(limiter.try_take(at(12s), 400), Duration::zero());
}

TEST(RateLimiter, WaitsForTheLongerOfRequestsAndTokens) {
  RateLimiter limiter(6, 600, at(0s));
  for (int i = 0; i < 6; ++i) ASSERT_EQ(limiter.try_take(at(0s), 100), Duration::zero());
  // A request is back after 10 s, 300 tokens after 30 s.
  EXPECT_EQ(limiter.try_take(at(0s), 300), 30s);
  EXPECT_EQ(limiter.try_take(at(0s), 0), 10s);
  EXPECT_EQ(limiter.try_take(at(0s), 50), 10s);
}

TEST(RateLimiter, RequestLargerThanTheLimitIsClampedToIt) {
  RateLimiter limiter(0, 1000, at(0s));
  // Never admissible otherwise: it takes the whole bucket instead.
  EXPECT_EQ(limiter.try_take(at(0s), 5000), Duration::zero());
  EXPECT_EQ(limiter.try_take(at(0s), 1), 60ms);
  EXPECT_EQ(limiter.try_take(at(60s), 5000), Duration::zero());
}

TEST(RateLimiter, SettleGivesBackAnOverestimate) {
  RateLimiter limiter(0, 1000, at(0s));
  ASSERT_EQ(limiter.try_take(at(0s), 1000), Duration::zero());
  ASSERT_GT(limiter.try_take(at(0s), 800), Duration::zero());
  limiter.settle(1000, 200);
  EXPECT_EQ(limiter.try_take(at(0s), 800), Duration::zero());
  EXPECT_GT(limiter.try_take(at(0s), 1), Duration::zero());
}

TEST(RateLimiter, SettleChargesAnUnderestimate) {
  RateLimiter limiter(0, 1000, at(0s));
  ASSERT_EQ(limiter.try_take(at(0s), 100), Duration::zero());
  limiter.settle(100, 600);  // 400 left
  EXPECT_EQ(limiter.try_take(at(0s), 500), 6s);
  EXPECT_EQ(limiter.try_take(at(0s), 400), Duration::zero());
}

TEST(RateLimiter, SettleNeverOverfillsTheBucket) {
  RateLimiter limiter(0, 1000, at(0s));
  ASSERT_EQ(limiter.try_take(at(0s), 10), Duration::zero());
  limiter.settle(10, 0);
  limiter.settle(500, 0);  // a stray settle must not create tokens beyond the limit
  EXPECT_EQ(limiter.try_take(at(0s), 1000), Duration::zero());
  EXPECT_GT(limiter.try_take(at(0s), 1), Duration::zero());
}

TEST(RateLimiter, UnlimitedNeverWaits) {
  RateLimiter limiter(0, 0, at(0s));
  EXPECT_FALSE(limiter.limited());
  for (int i = 0; i < 10000; ++i) ASSERT_EQ(limiter.try_take(at(0s), 1e9), Duration::zero());
  limiter.settle(0, 1e12);
  EXPECT_EQ(limiter.try_take(at(0s), 1e9), Duration::zero());
}

TEST(RateLimiter, TpmOnlyIgnoresRequestCount) {
  RateLimiter limiter(0, 1'000'000, at(0s));
  for (int i = 0; i < 1000; ++i) ASSERT_EQ(limiter.try_take(at(0s), 1), Duration::zero());
}

// ---- LatencyWindow

TEST(LatencyWindow, EmptyHasNoMeanOrQuantile) {
  LatencyWindow w;
  EXPECT_EQ(w.count(), 0);
  EXPECT_EQ(w.mean(), std::nullopt);
  EXPECT_EQ(w.quantile(0.95), std::nullopt);
}

TEST(LatencyWindow, FewSamples) {
  LatencyWindow w;
  for (double s : {3.0, 1.0, 2.0}) w.add(s);
  EXPECT_EQ(w.count(), 3);
  EXPECT_DOUBLE_EQ(*w.mean(), 2.0);
  EXPECT_DOUBLE_EQ(*w.quantile(0), 1.0);
  EXPECT_DOUBLE_EQ(*w.quantile(0.5), 2.0);
  EXPECT_DOUBLE_EQ(*w.quantile(1), 3.0);
}

TEST(LatencyWindow, CoversOnlyTheLatestSamplesAfterWrapAround) {
  LatencyWindow w;
  for (int i = 1; i <= 100; ++i) w.add(i);
  // The window holds 37..100.
  EXPECT_EQ(w.count(), LatencyWindow::kSize);
  EXPECT_DOUBLE_EQ(*w.mean(), (37.0 + 100.0) / 2);
  EXPECT_DOUBLE_EQ(*w.quantile(0), 37.0);
  EXPECT_DOUBLE_EQ(*w.quantile(0.5), 68.0);
  EXPECT_DOUBLE_EQ(*w.quantile(0.95), 97.0);
  EXPECT_DOUBLE_EQ(*w.quantile(1), 100.0);
}

TEST(LatencyWindow, MeanForgetsOldOutliers) {
  LatencyWindow w;
  w.add(1000);
  for (int i = 0; i < LatencyWindow::kSize; ++i) w.add(0.5);
  EXPECT_NEAR(*w.mean(), 0.5, 1e-9);
  EXPECT_DOUBLE_EQ(*w.quantile(1), 0.5);
}

// ---- DeploymentState

DeploymentSettings settings() {
  DeploymentSettings s;
  s.breaker = kBreaker;
  s.auth_cooldown = 5min;
  return s;
}

using Availability = DeploymentState::Availability;

// Sends and fails `n` requests at `t`.
void fail(DeploymentState& d, TimePoint t, int n, AttemptResult result = AttemptResult::kFailure) {
  for (int i = 0; i < n; ++i) {
    ASSERT_EQ(d.begin(t, 0), Duration::zero());
    d.end(t, result, settings());
  }
}

TEST(DeploymentState, NewDeploymentIsAvailable) {
  DeploymentState d("m@p", 0, 0, at(0s));
  EXPECT_EQ(d.id(), "m@p");
  EXPECT_EQ(d.availability(at(0s)), Availability::kAvailable);
  EXPECT_EQ(d.available_at(at(0s)), at(0s));
  const auto r = d.report(at(0s));
  EXPECT_EQ(r.availability, "available");
  EXPECT_EQ(r.breaker, "closed");
  EXPECT_EQ(r.error_rate, 0);
  EXPECT_EQ(r.reopens_in, 0);
  EXPECT_TRUE(r.health_ok);
}

TEST(DeploymentState, BeginCountsInFlightAndEndReleasesIt) {
  DeploymentState d("m@p", 0, 0, at(0s));
  ASSERT_EQ(d.begin(at(0s), 0), Duration::zero());
  ASSERT_EQ(d.begin(at(0s), 0), Duration::zero());
  EXPECT_EQ(d.in_flight(), 2u);
  EXPECT_EQ(d.report(at(0s)).in_flight, 2u);
  d.end(at(1s), AttemptResult::kSuccess, settings());
  EXPECT_EQ(d.in_flight(), 1u);
  d.end(at(1s), AttemptResult::kNeutral, settings());
  EXPECT_EQ(d.in_flight(), 0u);
  EXPECT_EQ(d.report(at(1s)).requests, 2u);
}

TEST(DeploymentState, DrainedIsNeverAvailable) {
  DeploymentState d("m@p", 0, 0, at(0s));
  d.set_drained(true);
  EXPECT_TRUE(d.drained());
  EXPECT_EQ(d.availability(at(0s)), Availability::kDrained);
  EXPECT_EQ(d.available_at(at(0s)), TimePoint::max());
  EXPECT_EQ(d.begin(at(0s), 0), Duration::max());
  EXPECT_EQ(d.in_flight(), 0u);
  EXPECT_EQ(d.report(at(0s)).availability, "drained");
  d.set_drained(false);
  EXPECT_EQ(d.availability(at(0s)), Availability::kAvailable);
  EXPECT_EQ(d.begin(at(0s), 0), Duration::zero());
}

TEST(DeploymentState, FailuresCoolItDownUntilTheCooldownEnds) {
  DeploymentState d("m@p", 0, 0, at(0s));
  fail(d, at(0s), kBreaker.failures);
  EXPECT_EQ(d.availability(at(1s)), Availability::kCoolingDown);
  EXPECT_EQ(d.available_at(at(1s)), at(30s));
  EXPECT_EQ(d.begin(at(1s), 0), Duration::max());
  EXPECT_EQ(d.in_flight(), 0u);
  const auto r = d.report(at(10s));
  EXPECT_EQ(r.availability, "cooling down");
  EXPECT_EQ(r.breaker, "open");
  EXPECT_DOUBLE_EQ(r.reopens_in, 20.0);
  EXPECT_EQ(r.breaker_opened, 1u);

  // Half-open: one probe is admitted, the next request is not.
  EXPECT_EQ(d.availability(at(30s)), Availability::kAvailable);
  EXPECT_EQ(d.report(at(30s)).breaker, "half-open");
  ASSERT_EQ(d.begin(at(30s), 0), Duration::zero());
  EXPECT_EQ(d.availability(at(30s)), Availability::kCoolingDown);
  EXPECT_EQ(d.begin(at(30s), 0), Duration::max());
  d.end(at(31s), AttemptResult::kSuccess, settings());
  EXPECT_EQ(d.availability(at(31s)), Availability::kAvailable);
  EXPECT_EQ(d.report(at(31s)).breaker, "closed");
}

TEST(DeploymentState, FailedProbeCoolsItDownAgain) {
  DeploymentState d("m@p", 0, 0, at(0s));
  fail(d, at(0s), kBreaker.failures);
  ASSERT_EQ(d.begin(at(30s), 0), Duration::zero());
  d.end(at(32s), AttemptResult::kFailure, settings());
  EXPECT_EQ(d.availability(at(32s)), Availability::kCoolingDown);
  EXPECT_EQ(d.available_at(at(32s)), at(62s));
  EXPECT_EQ(d.availability(at(62s)), Availability::kAvailable);
}

TEST(DeploymentState, NeutralEndOfAProbeFreesTheSlot) {
  DeploymentState d("m@p", 0, 0, at(0s));
  fail(d, at(0s), kBreaker.failures);
  ASSERT_EQ(d.begin(at(30s), 0), Duration::zero());
  d.end(at(31s), AttemptResult::kNeutral, settings());
  EXPECT_EQ(d.availability(at(31s)), Availability::kAvailable);
  EXPECT_EQ(d.report(at(31s)).breaker, "half-open");
}

TEST(DeploymentState, NeutralResultsSayNothingAboutHealth) {
  DeploymentState d("m@p", 0, 0, at(0s));
  fail(d, at(0s), 10, AttemptResult::kNeutral);
  EXPECT_EQ(d.availability(at(0s)), Availability::kAvailable);
  const auto r = d.report(at(0s));
  EXPECT_EQ(r.failures, 0u);
  EXPECT_EQ(r.error_rate, 0);
  EXPECT_EQ(r.requests, 10u);
}

TEST(DeploymentState, RateLimitedWithBenchBenchesForThatLong) {
  DeploymentState d("m@p", 0, 0, at(0s));
  ASSERT_EQ(d.begin(at(0s), 0), Duration::zero());
  d.end(at(1s), AttemptResult::kRateLimited, settings(), 20s);
  EXPECT_EQ(d.availability(at(1s)), Availability::kRateLimited);
  EXPECT_EQ(d.available_at(at(1s)), at(21s));
  EXPECT_EQ(d.availability(at(20s)), Availability::kRateLimited);
  // Admission answers how long is left, like Shepherd's own limits.
  EXPECT_EQ(d.begin(at(5s), 0), 16s);
  EXPECT_EQ(d.in_flight(), 0u);
  const auto r = d.report(at(1s));
  EXPECT_EQ(r.availability, "rate limited");
  EXPECT_EQ(r.breaker, "closed");
  EXPECT_DOUBLE_EQ(r.reopens_in, 20.0);
  EXPECT_EQ(r.failures, 1u);
  EXPECT_EQ(d.availability(at(21s)), Availability::kAvailable);
  EXPECT_EQ(d.begin(at(21s), 0), Duration::zero());
}

TEST(DeploymentState, RateLimitedProbeFreesTheSlotAndBenches) {
  DeploymentState d("m@p", 0, 0, at(0s));
  fail(d, at(0s), kBreaker.failures);
  ASSERT_EQ(d.begin(at(30s), 0), Duration::zero());  // the probe
  d.end(at(31s), AttemptResult::kRateLimited, settings(), 10s);
  EXPECT_EQ(d.availability(at(31s)), Availability::kRateLimited);
  EXPECT_EQ(d.availability(at(41s)), Availability::kAvailable);
  EXPECT_EQ(d.begin(at(41s), 0), Duration::zero());
}

TEST(DeploymentState, RateLimitedWithoutBenchCountsAsAFailure) {
  DeploymentState d("m@p", 0, 0, at(0s));
  fail(d, at(0s), kBreaker.failures - 1, AttemptResult::kRateLimited);
  EXPECT_EQ(d.availability(at(0s)), Availability::kAvailable);
  fail(d, at(0s), 1, AttemptResult::kRateLimited);
  EXPECT_EQ(d.availability(at(0s)), Availability::kCoolingDown);
  EXPECT_EQ(d.available_at(at(0s)), at(30s));
}

TEST(DeploymentState, BenchUntilTakesItOutUntilThen) {
  DeploymentState d("m@p", 0, 0, at(0s));
  d.bench_until(at(45s));
  d.bench_until(at(30s));  // never shortened
  EXPECT_EQ(d.availability(at(44s)), Availability::kRateLimited);
  EXPECT_EQ(d.available_at(at(0s)), at(45s));
  EXPECT_EQ(d.begin(at(40s), 0), 5s);
  EXPECT_EQ(d.availability(at(45s)), Availability::kAvailable);
}

TEST(DeploymentState, AuthFailureTakesItOutForTheAuthCooldown) {
  DeploymentState d("m@p", 0, 0, at(0s));
  fail(d, at(0s), 1, AttemptResult::kAuthFailure);
  EXPECT_EQ(d.availability(at(0s)), Availability::kUnhealthy);
  EXPECT_EQ(d.available_at(at(0s)), at(5min));
  EXPECT_EQ(d.begin(at(299s), 0), Duration::max());
  const auto r = d.report(at(60s));
  EXPECT_EQ(r.availability, "unhealthy");
  EXPECT_EQ(r.auth_failures, 1u);
  EXPECT_EQ(r.failures, 1u);
  EXPECT_DOUBLE_EQ(r.reopens_in, 240.0);
  EXPECT_EQ(d.availability(at(5min)), Availability::kAvailable);
}

TEST(DeploymentState, AuthFailureOfAHalfOpenProbeDoesNotKeepItOutForever) {
  DeploymentState d("m@p", 0, 0, at(0s));
  fail(d, at(0s), kBreaker.failures);
  ASSERT_EQ(d.begin(at(30s), 0), Duration::zero());  // the probe
  d.end(at(31s), AttemptResult::kAuthFailure, settings());
  EXPECT_EQ(d.availability(at(31s)), Availability::kUnhealthy);
  // Once the key may work again, the deployment can be tried again.
  EXPECT_EQ(d.availability(at(31s) + 5min), Availability::kAvailable);
  EXPECT_EQ(d.begin(at(31s) + 5min, 0), Duration::zero());
}

TEST(DeploymentState, HealthCheckFailureMarksUnhealthyAndSuccessRestores) {
  DeploymentState d("m@p", 0, 0, at(0s));
  d.health_check(at(0s), AttemptResult::kFailure, settings());
  EXPECT_EQ(d.availability(at(0s)), Availability::kUnhealthy);
  EXPECT_EQ(d.available_at(at(0s)), TimePoint::max());
  EXPECT_EQ(d.begin(at(1h), 0), Duration::max());
  EXPECT_FALSE(d.report(at(0s)).health_ok);
  EXPECT_EQ(d.report(at(0s)).availability, "unhealthy");

  d.health_check(at(10s), AttemptResult::kSuccess, settings());
  EXPECT_EQ(d.availability(at(10s)), Availability::kAvailable);
  EXPECT_TRUE(d.report(at(10s)).health_ok);
}

TEST(DeploymentState, HealthCheckSuccessClearsAnAuthBench) {
  DeploymentState d("m@p", 0, 0, at(0s));
  fail(d, at(0s), 1, AttemptResult::kAuthFailure);
  ASSERT_EQ(d.availability(at(1s)), Availability::kUnhealthy);
  d.health_check(at(1s), AttemptResult::kSuccess, settings());
  EXPECT_EQ(d.availability(at(1s)), Availability::kAvailable);
}

TEST(DeploymentState, HealthCheckAuthFailureBenchesForTheAuthCooldown) {
  DeploymentState d("m@p", 0, 0, at(0s));
  d.health_check(at(0s), AttemptResult::kAuthFailure, settings());
  EXPECT_EQ(d.availability(at(0s)), Availability::kUnhealthy);
  EXPECT_EQ(d.available_at(at(0s)), at(5min));
  EXPECT_EQ(d.report(at(0s)).auth_failures, 1u);
  EXPECT_EQ(d.availability(at(5min)), Availability::kAvailable);
}

TEST(DeploymentState, RateLimitWaitAdmitsNothing) {
  DeploymentState d("m@p", 1, 0, at(0s));
  ASSERT_EQ(d.begin(at(0s), 0), Duration::zero());
  d.end(at(0s), AttemptResult::kSuccess, settings());
  EXPECT_EQ(d.begin(at(0s), 0), 60s);
  EXPECT_EQ(d.in_flight(), 0u);
  EXPECT_EQ(d.report(at(0s)).requests, 1u);
  // Rate-limited is not unavailable.
  EXPECT_EQ(d.availability(at(0s)), Availability::kAvailable);
  EXPECT_EQ(d.begin(at(60s), 0), Duration::zero());
}

TEST(DeploymentState, SettleTokensCorrectsTheEstimate) {
  DeploymentState d("m@p", 0, 1000, at(0s));
  ASSERT_EQ(d.begin(at(0s), 900), Duration::zero());
  ASSERT_GT(d.begin(at(0s), 500), Duration::zero());
  d.settle_tokens(900, 100);
  EXPECT_EQ(d.begin(at(0s), 500), Duration::zero());
}

TEST(DeploymentState, ReportErrorRateCoversTheLast64Attempts) {
  // Failures far apart never open the breaker.
  DeploymentSettings s = settings();
  s.breaker.window = 1s;
  DeploymentState d("m@p", 0, 0, at(0s));
  auto attempt = [&](int i, AttemptResult result) {
    const auto t = at(std::chrono::seconds(10 * i));
    ASSERT_EQ(d.begin(t, 0), Duration::zero());
    d.end(t, result, s);
  };
  int i = 0;
  attempt(i++, AttemptResult::kSuccess);
  attempt(i++, AttemptResult::kFailure);
  attempt(i++, AttemptResult::kSuccess);
  attempt(i++, AttemptResult::kFailure);
  attempt(i++, AttemptResult::kNeutral);  // not counted
  auto r = d.report(at(1h));
  EXPECT_DOUBLE_EQ(r.error_rate, 0.5);
  EXPECT_EQ(r.requests, 5u);
  EXPECT_EQ(r.failures, 2u);
  EXPECT_EQ(r.breaker, "closed");

  for (int k = 0; k < 64; ++k) attempt(i++, AttemptResult::kFailure);
  EXPECT_DOUBLE_EQ(d.report(at(1h)).error_rate, 1.0);
  for (int k = 0; k < 48; ++k) attempt(i++, AttemptResult::kSuccess);
  EXPECT_DOUBLE_EQ(d.report(at(1h)).error_rate, 0.25);
  EXPECT_EQ(d.report(at(1h)).failures, 66u);
}

TEST(DeploymentState, LatencyIsFirstByteForStreamsAndTotalOtherwise) {
  DeploymentState d("m@p", 0, 0, at(0s));
  EXPECT_EQ(d.latency(true), std::nullopt);
  EXPECT_EQ(d.latency(false), std::nullopt);
  d.record_latency(true, 0.2, 2.0);
  d.record_latency(false, 0.4, 1.0);
  EXPECT_DOUBLE_EQ(*d.latency(true), 0.2);  // only streams' first events
  EXPECT_DOUBLE_EQ(*d.latency(false), 1.5);
  EXPECT_EQ(d.first_byte_p95(3), std::nullopt);
  d.record_latency(false, 0.6, 1.0);
  EXPECT_DOUBLE_EQ(*d.first_byte_p95(3), 0.6);
  const auto r = d.report(at(0s));
  EXPECT_DOUBLE_EQ(*r.first_byte_mean, 0.4);
  EXPECT_DOUBLE_EQ(*r.first_byte_p95, 0.6);
  EXPECT_DOUBLE_EQ(*r.total_p95, 2.0);
}

TEST(DeploymentState, ReportCarriesTheLastError) {
  DeploymentState d("m@p", 0, 0, at(0s));
  EXPECT_EQ(d.report(at(0s)).last_error, "");
  d.set_last_error("upstream_timeout");
  EXPECT_EQ(d.report(at(0s)).last_error, "upstream_timeout");
}

// ---- RetryBudget

TEST(RetryBudget, BurstIsAvailableBeforeAnyRequest) {
  RetryBudget budget(0.2, 3);
  EXPECT_TRUE(budget.try_retry());
  EXPECT_TRUE(budget.try_retry());
  EXPECT_TRUE(budget.try_retry());
  EXPECT_FALSE(budget.try_retry());
}

TEST(RetryBudget, EachRequestEarnsRatioOfARetry) {
  RetryBudget budget(0.2, 0);
  EXPECT_FALSE(budget.try_retry());
  int allowed = 0;
  for (int i = 1; i <= 10; ++i) {
    budget.on_request();
    if (budget.try_retry()) {
      ++allowed;
      EXPECT_EQ(i % 5, 0) << "retry allowed after request " << i;
    }
  }
  EXPECT_EQ(allowed, 2);
}

TEST(RetryBudget, BurstThenRatio) {
  RetryBudget budget(0.5, 2);
  EXPECT_TRUE(budget.try_retry());
  EXPECT_TRUE(budget.try_retry());
  EXPECT_FALSE(budget.try_retry());
  budget.on_request();
  EXPECT_FALSE(budget.try_retry());
  budget.on_request();
  EXPECT_TRUE(budget.try_retry());
  EXPECT_FALSE(budget.try_retry());
}

TEST(RetryBudget, SavingsAreCappedAtBurst) {
  RetryBudget budget(0.5, 2);
  ASSERT_TRUE(budget.try_retry());
  ASSERT_TRUE(budget.try_retry());
  for (int i = 0; i < 100; ++i) budget.on_request();
  EXPECT_TRUE(budget.try_retry());
  EXPECT_TRUE(budget.try_retry());
  EXPECT_FALSE(budget.try_retry());
}

TEST(RetryBudget, ZeroBurstStillSavesOneRetry) {
  RetryBudget budget(0.2, 0);
  for (int i = 0; i < 100; ++i) budget.on_request();
  EXPECT_TRUE(budget.try_retry());
  EXPECT_FALSE(budget.try_retry());
}

TEST(RetryBudget, ZeroRatioOnlyAllowsTheBurst) {
  RetryBudget budget(0, 1);
  EXPECT_TRUE(budget.try_retry());
  for (int i = 0; i < 1000; ++i) budget.on_request();
  EXPECT_FALSE(budget.try_retry());
}

}  // namespace
}  // namespace shepherd::routing
