#include "routing/router.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <boost/json.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <variant>

namespace shepherd::routing {
namespace {

using namespace std::chrono_literals;
using base::ErrorCode;

const TimePoint t0 = TimePoint{} + std::chrono::seconds(100);

std::shared_ptr<const config::Config> make_config(const std::string& yaml) {
  auto r = config::parse_config(
      yaml, [](const std::string&) -> std::optional<std::string> { return std::nullopt; });
  if (!r.ok()) throw std::runtime_error("bad test config: " + r.error().message);
  return std::make_shared<const config::Config>(std::move(r).value());
}

const std::string kProviders = R"(
providers:
  a: {base_url: "http://a.test/v1"}
  b: {base_url: "http://b.test/v1"}
  c: {base_url: "http://c.test/v1"}
)";

// A model `m` with one deployment on each provider, plus `extra` YAML (a routing section, say).
std::string three(std::string_view strategy, std::string_view extra = "") {
  return kProviders + "models:\n  m:\n    strategy: " + std::string(strategy) +
         "\n    deployments:\n      - {provider: a}\n      - {provider: b}\n"
         "      - {provider: c}\n" +
         std::string(extra);
}

std::string describe(const Plan::Next& n) {
  if (const auto* p = std::get_if<Plan::Pick>(&n)) {
    return "pick {model " + std::to_string(p->model) + ", deployment " +
           std::to_string(p->deployment) + "}";
  }
  if (const auto* w = std::get_if<Plan::Wait>(&n)) {
    return "wait " + std::to_string(std::chrono::duration<double>(w->duration).count()) + "s";
  }
  const auto& e = std::get<base::Error>(n);
  return std::string("error ") + base::code_name(e.code) + ": " + e.message;
}

::testing::AssertionResult IsPick(const Plan::Next& n, std::size_t model, std::size_t deployment) {
  const auto* p = std::get_if<Plan::Pick>(&n);
  if (p && p->model == model && p->deployment == deployment && p->state != nullptr) {
    return ::testing::AssertionSuccess();
  }
  return ::testing::AssertionFailure() << "expected pick {model " << model << ", deployment "
                                       << deployment << "}, got " << describe(n);
}

const base::Error* as_error(const Plan::Next& n) { return std::get_if<base::Error>(&n); }

base::Error retryable_failure(std::optional<long> retry_after = std::nullopt) {
  auto e = base::make_error(ErrorCode::kUpstreamUnreachable, "connection refused");
  e.retryable = true;
  e.retry_after = retry_after;
  return e;
}

// One Router with a seeded random source and a round-robin cursor, as a loop thread has.
struct Routing {
  explicit Routing(const std::string& yaml, std::uint64_t seed = 1)
      : router(make_config(yaml), nullptr, t0), random(seed) {}

  Plan plan(std::size_t model = 0, RequestShape shape = {}, TimePoint deadline = t0 + 120s) {
    return Plan(router, model, shape, deadline);
  }
  Plan::Next next(Plan& p, TimePoint now = t0) { return p.next(now, random, cursor); }
  // The deployment a fresh plan for `model` picks (the attempt ends with `result` at `now`).
  std::size_t pick_one(std::size_t model = 0, TimePoint now = t0,
                       AttemptResult result = AttemptResult::kSuccess) {
    auto p = plan(model, {}, now + 120s);
    const auto n = next(p, now);
    const auto* pick = std::get_if<Plan::Pick>(&n);
    if (!pick) throw std::runtime_error("expected a pick, got " + describe(n));
    pick->state->end(now, result, router.settings());
    return pick->deployment;
  }
  void finish(const Plan::Next& n, AttemptResult result, TimePoint now = t0) {
    if (const auto* pick = std::get_if<Plan::Pick>(&n)) {
      pick->state->end(now, result, router.settings());
    }
  }

  Router router;
  base::Random random;
  std::uint64_t cursor = 0;
};

// ---- backoff

TEST(Backoff, FullJitterStaysBelowTheCappedExponentialCeiling) {
  base::Random random(5);
  const Duration base = 50ms, max = 2s;
  for (int retry = 0; retry < 12; ++retry) {
    const Duration ceiling = std::min<Duration>(max, base * (1 << retry));
    auto lo = Duration::max(), hi = Duration::zero();
    for (int i = 0; i < 2000; ++i) {
      const auto d = backoff(retry, base, max, random);
      ASSERT_GE(d, Duration::zero()) << "retry " << retry;
      ASSERT_LT(d, ceiling) << "retry " << retry;
      lo = std::min(lo, d);
      hi = std::max(hi, d);
    }
    // Spread over the whole range, not a constant.
    EXPECT_LT(lo, ceiling / 20) << "retry " << retry;
    EXPECT_GT(hi, ceiling - ceiling / 20) << "retry " << retry;
  }
}

TEST(Backoff, HugeRetryCountStaysAtTheMaximum) {
  base::Random random(5);
  for (int i = 0; i < 100; ++i) {
    const auto d = backoff(1000, 50ms, 2s, random);
    ASSERT_GE(d, Duration::zero());
    ASSERT_LT(d, 2s);
  }
}

// ---- Plan: strategies

TEST(Plan, RoundRobinTakesDeploymentsInTurn) {
  Routing r(three("round-robin"));
  std::vector<std::size_t> picked;
  for (int i = 0; i < 6; ++i) picked.push_back(r.pick_one());
  EXPECT_EQ(picked, (std::vector<std::size_t>{0, 1, 2, 0, 1, 2}));
}

TEST(Plan, WeightedFollowsTheDeploymentWeights) {
  Routing r(kProviders + R"(
models:
  m:
    strategy: weighted
    deployments:
      - {provider: a, weight: 1}
      - {provider: b, weight: 4}
)");
  int counts[2] = {0, 0};
  for (int i = 0; i < 5000; ++i) ++counts[r.pick_one()];
  EXPECT_NEAR(counts[1] / 5000.0, 0.8, 0.03);
}

TEST(Plan, LeastBusyAvoidsDeploymentsWithRequestsInFlight) {
  Routing r(three("least-busy"));
  auto& busy = r.router.state(0, 0);
  auto& less_busy = r.router.state(0, 2);
  ASSERT_EQ(busy.begin(t0, 0), Duration::zero());
  ASSERT_EQ(busy.begin(t0, 0), Duration::zero());
  ASSERT_EQ(less_busy.begin(t0, 0), Duration::zero());
  for (int i = 0; i < 5; ++i) EXPECT_EQ(r.pick_one(), 1u);
  // A plan's own pick counts too while it is in flight.
  auto p = r.plan();
  const auto n = r.next(p);
  ASSERT_TRUE(IsPick(n, 0, 1));
  // 1 and 2 now tie with one each: they take turns.
  const auto first = r.pick_one();
  const auto second = r.pick_one();
  EXPECT_EQ(std::min(first, second), 1u);
  EXPECT_EQ(std::max(first, second), 2u);
  busy.end(t0, AttemptResult::kSuccess, r.router.settings());
  busy.end(t0, AttemptResult::kSuccess, r.router.settings());
  EXPECT_EQ(r.pick_one(), 0u);
}

TEST(Plan, LowestLatencyPicksTheFastestMeasured) {
  Routing r(three("lowest-latency", "routing: {exploration: 0}\n"));
  r.router.state(0, 0).record_latency(false, 0.1, 3.0);
  r.router.state(0, 1).record_latency(false, 0.1, 0.5);
  r.router.state(0, 2).record_latency(false, 0.1, 1.0);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(r.pick_one(), 1u);
}

TEST(Plan, LowestLatencyComparesFirstEventsForStreams) {
  Routing r(three("lowest-latency", "routing: {exploration: 0}\n"));
  r.router.state(0, 0).record_latency(true, 0.1, 9.0);  // fast first event, slow total
  r.router.state(0, 1).record_latency(true, 0.9, 1.0);
  r.router.state(0, 2).record_latency(true, 0.5, 2.0);
  auto p = r.plan(0, RequestShape{.stream = true, .tokens = 0});
  EXPECT_TRUE(IsPick(r.next(p), 0, 0));
  auto q = r.plan(0, RequestShape{.stream = false, .tokens = 0});
  EXPECT_TRUE(IsPick(r.next(q), 0, 1));
}

TEST(Plan, CheapestPicksTheLowestPriceWithinTheLatencyBound) {
  Routing r(kProviders + R"(
models:
  m:
    strategy: cheapest
    latency_bound: 1s
    deployments:
      - {provider: a, price: {input: 1, output: 1}}
      - {provider: b, price: {input: 2, output: 2}}
      - {provider: c, price: {input: 0.5, output: 0.5}}
)");
  EXPECT_EQ(r.pick_one(), 2u);
  r.router.state(0, 2).record_latency(false, 0.1, 5.0);  // the cheapest is too slow
  EXPECT_EQ(r.pick_one(), 0u);
  r.router.state(0, 0).record_latency(false, 0.1, 5.0);
  EXPECT_EQ(r.pick_one(), 1u);
  r.router.state(0, 1).record_latency(false, 0.1, 5.0);  // none within: price alone
  EXPECT_EQ(r.pick_one(), 2u);
}

// ---- Plan: retries

TEST(Plan, AfterAFailureTheNextPickIsAnUntriedDeployment) {
  for (std::uint64_t seed = 1; seed <= 30; ++seed) {
    Routing r(kProviders + R"(
models:
  m:
    strategy: weighted
    deployments:
      - {provider: a}
      - {provider: b}
      - {provider: c}
)",
              seed);
    auto p = r.plan();
    std::vector<std::size_t> seen;
    for (int attempt = 0; attempt < 3; ++attempt) {
      const auto n = r.next(p);
      const auto* pick = std::get_if<Plan::Pick>(&n);
      ASSERT_NE(pick, nullptr) << describe(n);
      EXPECT_EQ(std::count(seen.begin(), seen.end(), pick->deployment), 0)
          << "seed " << seed << " picked deployment " << pick->deployment << " twice";
      seen.push_back(pick->deployment);
      r.finish(n, AttemptResult::kFailure);
      const auto delay = p.retry_delay(retryable_failure(), t0, r.random);
      if (attempt < 2) {
        ASSERT_TRUE(delay.has_value());
        EXPECT_EQ(*delay, Duration::zero()) << "another deployment is free: no backoff";
      } else {
        EXPECT_EQ(delay, std::nullopt) << "three attempts is the default maximum";
      }
    }
    EXPECT_EQ(p.attempts(), 3);
  }
}

TEST(Plan, RetriesTheSameDeploymentAfterABackoffWhenNoOtherIsLeft) {
  const auto yaml = kProviders + "models:\n  m:\n    deployments: [{provider: a}]\n";
  bool some_positive = false;
  for (std::uint64_t seed = 1; seed <= 20; ++seed) {
    Routing r(yaml, seed);
    auto p = r.plan();
    const auto n = r.next(p);
    ASSERT_TRUE(IsPick(n, 0, 0));
    r.finish(n, AttemptResult::kFailure);
    const auto delay = p.retry_delay(retryable_failure(), t0, r.random);
    ASSERT_TRUE(delay.has_value());
    EXPECT_LT(*delay, 50ms);  // the first retry: uniform below the base
    some_positive |= *delay > Duration::zero();
    EXPECT_TRUE(IsPick(r.next(p, t0 + *delay), 0, 0));
  }
  EXPECT_TRUE(some_positive);
}

TEST(Plan, AnExcludedDeploymentIsNotRetriedAndAnotherIsTried) {
  // The only deployment cannot take the request: no backoff, the failure is final.
  Routing one(kProviders + "models:\n  m:\n    deployments: [{provider: a}]\n");
  auto p = one.plan();
  const auto n = one.next(p);
  ASSERT_TRUE(IsPick(n, 0, 0));
  one.finish(n, AttemptResult::kNeutral);
  p.exclude(0, 0);
  EXPECT_EQ(p.retry_delay(retryable_failure(), t0, one.random), std::nullopt);
  // With another deployment, it is tried at once.
  Routing two(three("round-robin"));
  auto q = two.plan();
  const auto first = two.next(q);
  const auto* pick = std::get_if<Plan::Pick>(&first);
  ASSERT_NE(pick, nullptr) << describe(first);
  two.finish(first, AttemptResult::kNeutral);
  q.exclude(0, pick->deployment);
  EXPECT_EQ(q.retry_delay(retryable_failure(), t0, two.random), Duration::zero());
  const auto second = two.next(q);
  const auto* next_pick = std::get_if<Plan::Pick>(&second);
  ASSERT_NE(next_pick, nullptr) << describe(second);
  EXPECT_NE(next_pick->deployment, pick->deployment);
}

TEST(Plan, MaxAttemptsIsRespected) {
  Routing r(three("round-robin", "routing: {max_attempts: 2}\n"));
  auto p = r.plan();
  const auto n1 = r.next(p);
  r.finish(n1, AttemptResult::kFailure);
  ASSERT_TRUE(p.retry_delay(retryable_failure(), t0, r.random).has_value());
  const auto n2 = r.next(p);
  ASSERT_TRUE(std::holds_alternative<Plan::Pick>(n2)) << describe(n2);
  r.finish(n2, AttemptResult::kFailure);
  EXPECT_EQ(p.attempts(), 2);
  EXPECT_EQ(p.retry_delay(retryable_failure(), t0, r.random), std::nullopt);
}

TEST(Plan, NonRetryableFailureIsFinalAndSpendsNoBudget) {
  Routing r(three("round-robin", "routing: {retry_budget: {ratio: 0, burst: 1}}\n"));
  auto p = r.plan();
  r.finish(r.next(p), AttemptResult::kNeutral);
  auto bad_request = base::make_error(ErrorCode::kUpstreamStatus, "bad request");
  bad_request.status = 400;
  EXPECT_EQ(p.retry_delay(bad_request, t0, r.random), std::nullopt);
  // The one retry of the budget is still there.
  EXPECT_TRUE(p.retry_delay(retryable_failure(), t0, r.random).has_value());
}

TEST(Plan, RetryAfterBeyondTheCapIsFinalForTheSameDeployment) {
  Routing r(kProviders +
            "routing: {retry_after_cap: 10s}\nmodels:\n  m:\n    deployments: [{provider: a}]\n");
  auto p = r.plan();
  r.finish(r.next(p), AttemptResult::kRateLimited);
  EXPECT_EQ(p.retry_delay(retryable_failure(11), t0, r.random), std::nullopt);
  const auto within = p.retry_delay(retryable_failure(10), t0, r.random);
  ASSERT_TRUE(within.has_value());
  EXPECT_GE(*within, 10s);
}

TEST(Plan, RetryAfterBeyondTheCapStillAllowsAnotherDeployment) {
  Routing r(three("round-robin", "routing: {retry_after_cap: 10s}\n"));
  auto p = r.plan();
  const auto n = r.next(p);
  ASSERT_TRUE(IsPick(n, 0, 0));
  std::get<Plan::Pick>(n).state->end(t0, AttemptResult::kRateLimited, r.router.settings(), 60s);
  EXPECT_EQ(p.retry_delay(retryable_failure(60), t0, r.random), Duration::zero());
}

TEST(Plan, RetryAfterWithinTheCapIsWaitedOutOnTheSameDeployment) {
  for (std::uint64_t seed = 1; seed <= 10; ++seed) {
    Routing r(kProviders + "models:\n  m:\n    deployments: [{provider: a}]\n", seed);
    auto p = r.plan();
    const auto n = r.next(p);
    ASSERT_TRUE(IsPick(n, 0, 0));
    std::get<Plan::Pick>(n).state->end(t0, AttemptResult::kRateLimited, r.router.settings(), 3s);
    const auto delay = p.retry_delay(retryable_failure(3), t0, r.random);
    ASSERT_TRUE(delay.has_value());
    EXPECT_GE(*delay, 3s);
    EXPECT_LT(*delay, 3s + 50ms);
    EXPECT_TRUE(IsPick(r.next(p, t0 + *delay), 0, 0));
  }
}

TEST(Plan, RetryAfterDoesNotDelayASwitchToAnotherDeployment) {
  Routing r(three("round-robin"));
  auto p = r.plan();
  const auto n = r.next(p);
  ASSERT_TRUE(IsPick(n, 0, 0));
  std::get<Plan::Pick>(n).state->end(t0, AttemptResult::kRateLimited, r.router.settings(), 5s);
  EXPECT_EQ(p.retry_delay(retryable_failure(5), t0, r.random), Duration::zero());
  const auto n2 = r.next(p);
  ASSERT_TRUE(std::holds_alternative<Plan::Pick>(n2)) << describe(n2);
  EXPECT_NE(std::get<Plan::Pick>(n2).deployment, 0u);
}

TEST(Plan, RetryThatWouldPassTheDeadlineIsFinal) {
  const auto one = kProviders + "models:\n  m:\n    deployments: [{provider: a}]\n";
  {
    Routing r(one);
    auto p = r.plan(0, {}, t0 + 2s);
    r.finish(r.next(p), AttemptResult::kFailure);
    EXPECT_EQ(p.retry_delay(retryable_failure(2), t0, r.random), std::nullopt);
  }
  {
    Routing r(one);
    auto p = r.plan(0, {}, t0 + 2s);
    r.finish(r.next(p), AttemptResult::kFailure);
    EXPECT_TRUE(p.retry_delay(retryable_failure(1), t0, r.random).has_value());
  }
  {
    // Even an immediate switch to another deployment needs time left.
    Routing r(three("round-robin"));
    auto p = r.plan(0, {}, t0 + 2s);
    r.finish(r.next(p), AttemptResult::kFailure);
    EXPECT_EQ(p.retry_delay(retryable_failure(), t0 + 2s, r.random), std::nullopt);
    EXPECT_EQ(p.retry_delay(retryable_failure(), t0 + 1s, r.random), Duration::zero());
  }
}

TEST(Plan, SpentRetryBudgetStopsRetriesAcrossPlans) {
  Routing r(three("round-robin", "routing: {retry_budget: {ratio: 0, burst: 1}}\n"));
  auto p1 = r.plan();
  r.finish(r.next(p1), AttemptResult::kFailure);
  ASSERT_TRUE(p1.retry_delay(retryable_failure(), t0, r.random).has_value());
  r.finish(r.next(p1), AttemptResult::kFailure);
  EXPECT_EQ(p1.retry_delay(retryable_failure(), t0, r.random), std::nullopt);

  auto p2 = r.plan();
  r.finish(r.next(p2), AttemptResult::kFailure);
  EXPECT_EQ(p2.retry_delay(retryable_failure(), t0, r.random), std::nullopt);
}

TEST(Plan, RetryBudgetIsPerModel) {
  Routing r(kProviders + R"(
routing: {retry_budget: {ratio: 0, burst: 1}}
models:
  x:
    deployments: [{provider: a}, {provider: b}]
  y:
    deployments: [{provider: a}, {provider: b}]
)");
  auto px = r.plan(0);
  r.finish(r.next(px), AttemptResult::kFailure);
  ASSERT_TRUE(px.retry_delay(retryable_failure(), t0, r.random).has_value());
  auto py = r.plan(1);
  r.finish(r.next(py), AttemptResult::kFailure);
  EXPECT_TRUE(py.retry_delay(retryable_failure(), t0, r.random).has_value());
}

TEST(Plan, RetryBudgetEarnsFromRequests) {
  Routing r(three("round-robin", "routing: {retry_budget: {ratio: 0.5, burst: 0}}\n"));
  auto p1 = r.plan();  // earns half a retry
  r.finish(r.next(p1), AttemptResult::kFailure);
  EXPECT_EQ(p1.retry_delay(retryable_failure(), t0, r.random), std::nullopt);
  auto p2 = r.plan();  // and another half
  r.finish(r.next(p2), AttemptResult::kFailure);
  EXPECT_TRUE(p2.retry_delay(retryable_failure(), t0, r.random).has_value());
}

TEST(Plan, HedgeNeedsAnUntriedDeploymentAndBudget) {
  Routing r(three("round-robin", "routing: {retry_budget: {ratio: 0, burst: 1}}\n"));
  auto p = r.plan();
  ASSERT_TRUE(IsPick(r.next(p), 0, 0));
  EXPECT_TRUE(p.may_hedge(t0));
  const auto hedge = r.next(p);
  ASSERT_TRUE(std::holds_alternative<Plan::Pick>(hedge)) << describe(hedge);
  EXPECT_NE(std::get<Plan::Pick>(hedge).deployment, 0u);
  EXPECT_EQ(p.attempts(), 2);
  EXPECT_FALSE(p.may_hedge(t0));  // budget spent

  Routing single(kProviders + "models:\n  m:\n    deployments: [{provider: a}]\n");
  auto q = single.plan();
  ASSERT_TRUE(IsPick(single.next(q), 0, 0));
  EXPECT_FALSE(q.may_hedge(t0));
}

// ---- Plan: fallbacks, context, availability, rate limits

const std::string kFallback = kProviders + R"(
models:
  primary:
    fallbacks: [backup]
    deployments: [{provider: a}]
  other:
    deployments: [{provider: c}]
  backup:
    deployments: [{provider: b}]
)";

TEST(Plan, FallbackModelIsUsedOnceThePrimaryIsExhausted) {
  Routing r(kFallback);
  auto p = r.plan(0);
  const auto n1 = r.next(p);
  ASSERT_TRUE(IsPick(n1, 0, 0));
  r.finish(n1, AttemptResult::kFailure);
  EXPECT_EQ(p.retry_delay(retryable_failure(), t0, r.random), Duration::zero());
  const auto n2 = r.next(p);
  EXPECT_TRUE(IsPick(n2, 2, 0)) << "the fallback is models[2]";
  EXPECT_EQ(&r.router.state(2, 0), std::get<Plan::Pick>(n2).state);
}

TEST(Plan, OnceOnAFallbackUntriedDeploymentsThereComeFirst) {
  Routing r(kProviders + R"(
models:
  primary:
    fallbacks: [backup]
    deployments: [{provider: a}, {provider: b}]
  backup:
    deployments: [{provider: c}, {provider: a}]
)");
  auto& recovering = r.router.state(0, 1);
  recovering.health_check(t0, AttemptResult::kFailure, r.router.settings());
  auto p = r.plan(0);
  const auto n1 = r.next(p);
  ASSERT_TRUE(IsPick(n1, 0, 0));
  r.finish(n1, AttemptResult::kFailure);
  ASSERT_EQ(p.retry_delay(retryable_failure(), t0, r.random), Duration::zero());
  const auto n2 = r.next(p);
  ASSERT_TRUE(std::holds_alternative<Plan::Pick>(n2)) << describe(n2);
  const auto first_backup = std::get<Plan::Pick>(n2);
  ASSERT_EQ(first_backup.model, 1u);
  r.finish(n2, AttemptResult::kFailure);
  // The primary's other deployment recovers meanwhile; the walk goes on along the chain.
  recovering.health_check(t0, AttemptResult::kSuccess, r.router.settings());
  ASSERT_EQ(p.retry_delay(retryable_failure(), t0, r.random), Duration::zero());
  EXPECT_TRUE(IsPick(r.next(p), 1, 1 - first_backup.deployment));
}

TEST(Plan, FallbackServesWhenThePrimaryIsDrained) {
  Routing r(kFallback);
  r.router.state(0, 0).set_drained(true);
  auto p = r.plan(0);
  EXPECT_TRUE(IsPick(r.next(p), 2, 0));
  // A model without fallbacks does not borrow another's deployments.
  r.router.state(1, 0).set_drained(true);
  auto q = r.plan(1);
  const auto n = r.next(q);
  ASSERT_NE(as_error(n), nullptr) << describe(n);
  EXPECT_EQ(as_error(n)->code, ErrorCode::kUnavailable);
}

TEST(Plan, DeploymentWithTooSmallContextIsSkipped) {
  Routing r(kProviders + R"(
models:
  m:
    deployments:
      - {provider: a, max_context: 4096}
      - {provider: b, max_context: 128000}
      - {provider: c}
)");
  for (int i = 0; i < 6; ++i) {
    auto p = r.plan(0, RequestShape{.stream = false, .tokens = 5000});
    const auto n = r.next(p);
    const auto* pick = std::get_if<Plan::Pick>(&n);
    ASSERT_NE(pick, nullptr) << describe(n);
    EXPECT_NE(pick->deployment, 0u);
    r.finish(n, AttemptResult::kSuccess);
  }
}

TEST(Plan, RequestTooLongForEveryDeploymentIsABadRequest) {
  Routing r(kProviders + R"(
models:
  m:
    fallbacks: [n]
    deployments: [{provider: a, max_context: 4096}]
  n:
    deployments: [{provider: b, max_context: 8192}]
)");
  auto fits_fallback = r.plan(0, RequestShape{.stream = false, .tokens = 6000});
  EXPECT_TRUE(IsPick(r.next(fits_fallback), 1, 0));

  auto p = r.plan(0, RequestShape{.stream = false, .tokens = 9000});
  const auto n = r.next(p);
  const auto* e = as_error(n);
  ASSERT_NE(e, nullptr) << describe(n);
  EXPECT_EQ(e->code, ErrorCode::kBadRequest);
  EXPECT_EQ(base::http_status(*e), 400);
  EXPECT_EQ(e->param, "messages");
  EXPECT_NE(e->message.find("8192"), std::string::npos) << e->message;
  EXPECT_FALSE(e->retryable);
}

TEST(Plan, EveryDeploymentCoolingDownIsUnavailableWithRetryAfter) {
  Routing r(kProviders + R"(
routing: {cooldown: {failures: 1, duration: 30s}}
models:
  m:
    deployments: [{provider: a}, {provider: b}]
)");
  r.pick_one(0, t0, AttemptResult::kFailure);
  r.pick_one(0, t0 + 5s, AttemptResult::kFailure);
  auto p = r.plan(0, {}, t0 + 130s);
  const auto n = r.next(p, t0 + 10s);
  const auto* e = as_error(n);
  ASSERT_NE(e, nullptr) << describe(n);
  EXPECT_EQ(e->code, ErrorCode::kUnavailable);
  ASSERT_TRUE(e->retry_after.has_value());
  EXPECT_EQ(*e->retry_after, 20);  // the first to come back is 0's, at 30 s
  EXPECT_EQ(p.attempts(), 0);
  // Half-open at 30 s: the probe is admitted.
  auto q = r.plan(0, {}, t0 + 150s);
  EXPECT_TRUE(IsPick(r.next(q, t0 + 30s), 0, 0));
}

TEST(Plan, DrainedDeploymentIsNeverPicked) {
  Routing r(kProviders + R"(
models:
  m:
    strategy: weighted
    deployments: [{provider: a, weight: 100}, {provider: b}]
)");
  r.router.state(0, 0).set_drained(true);
  for (int i = 0; i < 200; ++i) ASSERT_EQ(r.pick_one(), 1u);
  r.router.state(0, 1).set_drained(true);
  auto p = r.plan();
  const auto n = r.next(p);
  ASSERT_NE(as_error(n), nullptr) << describe(n);
  EXPECT_EQ(as_error(n)->code, ErrorCode::kUnavailable);
  EXPECT_EQ(as_error(n)->retry_after, std::nullopt);  // drained: no time to promise
}

const std::string kRpmOne = kProviders + R"(
routing: {queue: {wait: 2m}}
models:
  m:
    deployments: [{provider: a, rpm: 1}]
)";

TEST(Plan, RateLimitedDeploymentIsWaitedForWithinTheQueueWait) {
  Routing r(kRpmOne);
  r.pick_one();
  auto p = r.plan(0, {}, t0 + 5min);
  const auto n = r.next(p);
  const auto* w = std::get_if<Plan::Wait>(&n);
  ASSERT_NE(w, nullptr) << describe(n);
  EXPECT_EQ(w->duration, 60s);
  p.waited(w->duration);
  EXPECT_TRUE(IsPick(r.next(p, t0 + w->duration), 0, 0));
  EXPECT_EQ(p.attempts(), 1);
}

TEST(Plan, RateLimitedWithoutWaitingIsA429WithRetryAfter) {
  Routing r(kRpmOne);
  r.pick_one();
  auto p = r.plan(0, {}, t0 + 5min);
  p.no_waiting();
  const auto n = r.next(p);
  const auto* e = as_error(n);
  ASSERT_NE(e, nullptr) << describe(n);
  EXPECT_EQ(e->code, ErrorCode::kRateLimited);
  EXPECT_EQ(e->retry_after, 60);
}

TEST(Plan, RateLimitWaitLongerThanTheQueueWaitIsNotOffered) {
  Routing r(kProviders + R"(
routing: {queue: {wait: 5s}}
models:
  m:
    deployments: [{provider: a, rpm: 1}]
)");
  r.pick_one();
  auto p = r.plan(0, {}, t0 + 5min);
  const auto n = r.next(p);
  ASSERT_NE(as_error(n), nullptr) << describe(n);
  EXPECT_EQ(as_error(n)->code, ErrorCode::kRateLimited);
  // Closer to the refill the wait fits; what was already waited counts against it.
  auto q = r.plan(0, {}, t0 + 5min);
  const auto m = r.next(q, t0 + 56s);
  ASSERT_TRUE(std::holds_alternative<Plan::Wait>(m)) << describe(m);
  EXPECT_GE(std::get<Plan::Wait>(m).duration, 4s);
  EXPECT_LE(std::get<Plan::Wait>(m).duration, 4001ms);
  q.waited(2s);
  ASSERT_TRUE(std::holds_alternative<Plan::Wait>(r.next(q, t0 + 58s)));
  auto s = r.plan(0, {}, t0 + 5min);
  s.waited(4s);
  EXPECT_NE(as_error(r.next(s, t0 + 58s)), nullptr);
}

TEST(Plan, RateLimitWaitPastTheDeadlineIsNotOffered) {
  Routing r(kRpmOne);
  r.pick_one();
  auto p = r.plan(0, {}, t0 + 30s);
  const auto n = r.next(p);
  ASSERT_NE(as_error(n), nullptr) << describe(n);
  EXPECT_EQ(as_error(n)->code, ErrorCode::kRateLimited);
}

TEST(Plan, RateLimitedPrimaryFallsBackWhenItCannotWait) {
  Routing r(kProviders + R"(
models:
  m:
    fallbacks: [n]
    deployments: [{provider: a, rpm: 1}]
  n:
    deployments: [{provider: b}]
)");
  r.pick_one();
  auto p = r.plan(0);
  EXPECT_TRUE(IsPick(r.next(p), 1, 0));
}

// A 429 whose Retry-After benched the only deployment.
void bench_only_deployment(Routing& r, Duration bench) {
  auto p = r.plan();
  const auto n = r.next(p);
  ASSERT_TRUE(IsPick(n, 0, 0));
  std::get<Plan::Pick>(n).state->end(t0, AttemptResult::kRateLimited, r.router.settings(), bench);
}

TEST(Plan, DeploymentBenchedByItsUpstreamIsWaitedForWithinTheQueueWait) {
  Routing r(kProviders +
            "routing: {queue: {wait: 5s}}\nmodels:\n  m:\n"
            "    deployments: [{provider: a}]\n");
  bench_only_deployment(r, 3s);
  auto p = r.plan(0, {}, t0 + 5min);
  const auto n = r.next(p, t0 + 1s);
  ASSERT_TRUE(std::holds_alternative<Plan::Wait>(n)) << describe(n);
  EXPECT_EQ(std::get<Plan::Wait>(n).duration, 2s);
  p.waited(2s);
  EXPECT_TRUE(IsPick(r.next(p, t0 + 3s), 0, 0));
}

TEST(Plan, DeploymentBenchedBeyondTheQueueWaitIsA429WithRetryAfter) {
  Routing r(kProviders +
            "routing: {queue: {wait: 5s}}\nmodels:\n  m:\n"
            "    deployments: [{provider: a}]\n");
  bench_only_deployment(r, 60s);
  auto p = r.plan(0, {}, t0 + 5min);
  const auto n = r.next(p);
  const auto* e = as_error(n);
  ASSERT_NE(e, nullptr) << describe(n);
  EXPECT_EQ(e->code, ErrorCode::kRateLimited);
  EXPECT_EQ(e->retry_after, 60);
}

TEST(Plan, DeploymentBenchedByItsUpstreamIsSkippedWhileOthersAreFree) {
  Routing r(three("round-robin"));
  r.router.state(0, 1).bench_until(t0 + 1min);
  for (int i = 0; i < 10; ++i) EXPECT_NE(r.pick_one(), 1u);
  r.router.state(0, 0).set_drained(true);
  r.router.state(0, 2).set_drained(true);
  EXPECT_EQ(r.pick_one(0, t0 + 1min), 1u);
}

TEST(Plan, TokensPerMinuteUseTheRequestEstimate) {
  Routing r(kProviders + R"(
routing: {queue: {wait: 2m}}
models:
  m:
    deployments: [{provider: a, tpm: 1000}]
)");
  auto p1 = r.plan(0, RequestShape{.stream = false, .tokens = 700});
  ASSERT_TRUE(IsPick(r.next(p1), 0, 0));
  auto p2 = r.plan(0, RequestShape{.stream = false, .tokens = 400});
  const auto n = r.next(p2);
  ASSERT_TRUE(std::holds_alternative<Plan::Wait>(n)) << describe(n);
  EXPECT_EQ(std::get<Plan::Wait>(n).duration, 6s);
  auto p3 = r.plan(0, RequestShape{.stream = false, .tokens = 300});
  EXPECT_TRUE(IsPick(r.next(p3), 0, 0));
}

// ---- Router across reloads

std::string two_deployments(std::string_view first_extra, std::string_view second_extra = "",
                            bool reversed = false) {
  std::string a = "      - {provider: a, id: dep-a" + std::string(first_extra) + "}\n";
  std::string b = "      - {provider: b, id: dep-b" + std::string(second_extra) + "}\n";
  return kProviders + "routing: {cooldown: {failures: 1}}\nmodels:\n  m:\n    deployments:\n" +
         (reversed ? b + a : a + b);
}

TEST(Router, StateIsCarriedOverForTheSameId) {
  const Router old(make_config(two_deployments(", rpm: 1")), nullptr, t0);
  old.state(0, 0).set_drained(true);
  ASSERT_EQ(old.state(0, 1).begin(t0, 0), Duration::zero());
  old.state(0, 1).end(t0, AttemptResult::kFailure, old.settings());
  ASSERT_EQ(old.state(0, 1).availability(t0), DeploymentState::Availability::kCoolingDown);

  // The same deployments listed the other way round.
  const Router next(make_config(two_deployments(", rpm: 1", "", true)), &old, t0 + 1s);
  EXPECT_EQ(&next.state(0, 1), &old.state(0, 0));
  EXPECT_EQ(&next.state(0, 0), &old.state(0, 1));
  EXPECT_TRUE(next.state(0, 1).drained());
  EXPECT_EQ(next.state(0, 0).availability(t0 + 1s), DeploymentState::Availability::kCoolingDown);
  EXPECT_EQ(next.state(0, 0).report(t0 + 1s).breaker, "open");
}

TEST(Router, ChangedLimitsGetAFreshLimiterButKeepTheDrainedFlag) {
  const Router old(make_config(two_deployments(", rpm: 1")), nullptr, t0);
  ASSERT_EQ(old.state(0, 0).begin(t0, 0), Duration::zero());
  old.state(0, 0).end(t0, AttemptResult::kSuccess, old.settings());
  ASSERT_GT(old.state(0, 0).begin(t0, 0), Duration::zero());
  old.state(0, 0).set_drained(true);

  const Router same(make_config(two_deployments(", rpm: 1")), &old, t0);
  const Router changed(make_config(two_deployments(", rpm: 2")), &old, t0);
  EXPECT_NE(&changed.state(0, 0), &old.state(0, 0));
  EXPECT_TRUE(changed.state(0, 0).drained());
  EXPECT_TRUE(same.state(0, 0).drained());
  changed.state(0, 0).set_drained(false);
  same.state(0, 0).set_drained(false);
  EXPECT_EQ(changed.state(0, 0).begin(t0, 0), Duration::zero());
  EXPECT_EQ(same.state(0, 0).begin(t0, 0), 60s);  // the old limiter, still empty
}

TEST(Router, RenamedDeploymentStartsFresh) {
  const Router old(make_config(two_deployments("")), nullptr, t0);
  old.state(0, 0).set_drained(true);
  auto yaml = two_deployments("");
  yaml.replace(yaml.find("dep-a"), 5, "dep-x");
  const Router next(make_config(yaml), &old, t0);
  EXPECT_FALSE(next.state(0, 0).drained());
  EXPECT_EQ(&next.state(0, 1), &old.state(0, 1));
}

TEST(Router, RetryBudgetIsCarriedOverByModelName) {
  const auto yaml = three("round-robin", "routing: {retry_budget: {ratio: 0, burst: 1}}\n");
  const Router old(make_config(yaml), nullptr, t0);
  ASSERT_TRUE(old.budget(0).try_retry());
  const Router next(make_config(yaml), &old, t0);
  EXPECT_FALSE(next.budget(0).try_retry());
}

// ---- Router: readiness and reports

TEST(Router, UnavailableModelsAreThoseWithoutAnAvailableDeployment) {
  Routing r(kFallback);
  EXPECT_TRUE(r.router.unavailable_models(t0).empty());
  r.router.state(2, 0).set_drained(true);
  EXPECT_EQ(r.router.unavailable_models(t0), std::vector<std::string>{"backup"});
  r.router.state(2, 0).set_drained(false);
  // A fallback does not make a model available.
  r.router.state(0, 0).health_check(t0, AttemptResult::kFailure, r.router.settings());
  EXPECT_EQ(r.router.unavailable_models(t0), std::vector<std::string>{"primary"});
}

TEST(Router, ProviderStatesListEveryDeploymentOfTheProvider) {
  Routing r(kProviders + R"(
models:
  x:
    deployments: [{provider: a}, {provider: b}]
  y:
    deployments: [{provider: b}]
)");
  const auto states = r.router.provider_states(1);
  ASSERT_EQ(states.size(), 2u);
  EXPECT_EQ(states[0]->id(), "x@b");
  EXPECT_EQ(states[1]->id(), "y@b");
  EXPECT_TRUE(r.router.provider_states(2).empty());
}

TEST(Router, DeploymentsJsonDescribesEveryDeployment) {
  Routing r(kProviders + R"(
routing: {cooldown: {failures: 1, duration: 30s}}
models:
  m:
    strategy: least-busy
    deployments:
      - {provider: a, id: east, region: us-east, max_context: 8000, rpm: 10, weight: 2}
      - {provider: b}
      - {provider: c}
)");
  ASSERT_EQ(r.router.state(0, 0).begin(t0, 0), Duration::zero());  // in flight
  ASSERT_EQ(r.router.state(0, 1).begin(t0, 0), Duration::zero());
  r.router.state(0, 1).end(t0, AttemptResult::kFailure, r.router.settings());
  r.router.state(0, 1).set_last_error("upstream_unreachable");
  r.router.state(0, 2).set_drained(true);

  const auto root = boost::json::parse(r.router.deployments_json(t0 + 10s));
  const auto& list = root.as_object().at("deployments").as_array();
  ASSERT_EQ(list.size(), 3u);
  const auto& east = list[0].as_object();
  EXPECT_EQ(east.at("id").as_string(), "east");
  EXPECT_EQ(east.at("model").as_string(), "m");
  EXPECT_EQ(east.at("provider").as_string(), "a");
  EXPECT_EQ(east.at("region").as_string(), "us-east");
  EXPECT_EQ(east.at("strategy").as_string(), "least-busy");
  EXPECT_EQ(east.at("state").as_string(), "available");
  EXPECT_EQ(east.at("breaker").as_string(), "closed");
  EXPECT_EQ(east.at("in_flight").to_number<int>(), 1);
  EXPECT_EQ(east.at("max_context").to_number<int>(), 8000);
  EXPECT_EQ(east.at("rpm").to_number<int>(), 10);
  EXPECT_EQ(east.at("weight").to_number<double>(), 2.0);
  EXPECT_FALSE(east.contains("retry_in_seconds"));
  EXPECT_TRUE(east.at("latency_ms").as_object().at("total_mean").is_null());

  const auto& b = list[1].as_object();
  EXPECT_EQ(b.at("id").as_string(), "m@b");
  EXPECT_EQ(b.at("state").as_string(), "cooling down");
  EXPECT_EQ(b.at("breaker").as_string(), "open");
  EXPECT_EQ(b.at("in_flight").to_number<int>(), 0);
  EXPECT_EQ(b.at("failures").to_number<int>(), 1);
  EXPECT_EQ(b.at("error_rate").to_number<double>(), 1.0);
  EXPECT_EQ(b.at("retry_in_seconds").to_number<double>(), 20.0);
  EXPECT_EQ(b.at("last_error").as_string(), "upstream_unreachable");
  EXPECT_FALSE(b.contains("region"));

  EXPECT_EQ(list[2].as_object().at("state").as_string(), "drained");
}

TEST(Router, PrometheusTextHasAGaugePerDeployment) {
  Routing r(kProviders + R"(
models:
  m:
    deployments: [{provider: a}, {provider: b, id: "b:1"}]
)");
  r.router.state(0, 1).set_drained(true);
  const auto text = r.router.prometheus_text(t0);
  EXPECT_NE(text.find("# TYPE shepherd_deployment_available gauge"), std::string::npos);
  EXPECT_NE(text.find("shepherd_deployment_available{deployment=\"m@a\",model=\"m\","
                      "provider=\"a\"} 1\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("shepherd_deployment_available{deployment=\"b:1\",model=\"m\","
                      "provider=\"b\"} 0\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("shepherd_deployment_in_flight{deployment=\"m@a\""), std::string::npos);
}

}  // namespace
}  // namespace shepherd::routing
