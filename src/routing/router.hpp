// The routing decisions of one config snapshot: run-time state of every deployment (kept across
// reloads by deployment id), retry budgets, and the per-request Plan that picks deployments,
// decides retries and walks the fallback chain. No I/O: the net layer carries out what the
// Plan decides.
#pragma once

#include <boost/container/small_vector.hpp>
#include <memory>
#include <optional>
#include <variant>
#include <vector>

#include "base/error.hpp"
#include "base/random.hpp"
#include "config/config.hpp"
#include "routing/state.hpp"
#include "routing/strategy.hpp"

namespace shepherd::routing {

// Built when a config is applied; shared (const) by every event-loop thread. All state it hands
// out is thread-safe.
class Router {
 public:
  // State of deployments whose id (and limits) did not change is taken over from `previous`.
  Router(std::shared_ptr<const config::Config> config, const Router* previous, TimePoint now);

  const config::Config& config() const { return *config_; }
  const std::shared_ptr<const config::Config>& config_ptr() const { return config_; }
  DeploymentState& state(std::size_t model, std::size_t deployment) const {
    return *states_[model][deployment];
  }
  RetryBudget& budget(std::size_t model) const { return *budgets_[model]; }
  // Requests of `model` waiting for a rate-limited deployment (bounded by routing.queue.size).
  std::atomic<std::size_t>& queued(std::size_t model) const { return queued_[model]; }
  const DeploymentSettings& settings() const { return settings_; }

  // Every deployment of `provider_index`'s provider, for health checks.
  std::vector<DeploymentState*> provider_states(std::size_t provider_index) const;

  // The models without an available deployment of their own (fallbacks aside), in config order.
  std::vector<std::string> unavailable_models(TimePoint now) const;

  // GET /admin/deployments: every deployment with its health, breaker, load and latency.
  std::string deployments_json(TimePoint now) const;
  // Prometheus gauges and counters per deployment.
  std::string prometheus_text(TimePoint now) const;

 private:
  std::shared_ptr<const config::Config> config_;
  DeploymentSettings settings_;
  std::vector<std::vector<std::shared_ptr<DeploymentState>>> states_;
  std::vector<std::shared_ptr<RetryBudget>> budgets_;
  std::unique_ptr<std::atomic<std::size_t>[]> queued_;
};

struct RequestShape {
  bool stream = false;
  // Estimated prompt + completion tokens, for max_context and tokens-per-minute limits.
  double tokens = 0;
};

// One request's walk over deployments. Lives on the request's coroutine; not thread-safe.
class Plan {
 public:
  Plan(const Router& router, std::size_t model, RequestShape shape, TimePoint deadline);

  struct Pick {
    std::size_t model = 0;             // may be a fallback model
    std::size_t deployment = 0;        // index into that model's deployments
    DeploymentState* state = nullptr;  // admitted: in flight until state->end()
  };
  // Every deployment that could serve is rate-limited: wait this long, call waited(), ask again.
  struct Wait {
    Duration duration;
  };
  using Next = std::variant<Pick, Wait, base::Error>;

  // The next attempt. Errors: context too long for every deployment (400), every deployment
  // rate-limited beyond what may be waited (429 with Retry-After), none available (503 with
  // Retry-After when one is cooling down).
  Next next(TimePoint now, base::Random& random, std::uint64_t& cursor);
  void waited(Duration d) { waited_ += d; }
  // The queue is full: next() no longer offers to wait.
  void no_waiting() { may_wait_ = false; }

  // After a failed attempt (not yet committed): how long to back off before next(), or nullopt
  // when the failure is final (not retryable, attempts or retry budget spent, or the deadline
  // would pass; or every deployment left is excluded; or only tried deployments are left and
  // the upstream's Retry-After is beyond routing.retry_after_cap). No delay when an untried
  // deployment is available.
  std::optional<Duration> retry_delay(const base::Error& failure, TimePoint now,
                                      base::Random& random);
  // The deployment cannot take this request (its upstream said the request is too long for it,
  // or its provider cannot express what the request asks): it is not tried again for it.
  void exclude(std::size_t model, std::size_t deployment) {
    excluded_.emplace_back(model, deployment);
  }

  // Whether a hedged second attempt may start (counts against attempts and the retry budget).
  bool may_hedge(TimePoint now);

  int attempts() const { return attempts_; }
  TimePoint deadline() const { return deadline_; }
  const RequestShape& shape() const { return shape_; }

 private:
  bool tried(std::size_t model, std::size_t deployment) const;
  bool fits(const config::DeploymentConfig& d) const;
  bool is_excluded(std::size_t model, std::size_t deployment) const;
  // An untried deployment that is available now, in the current or a later chain model.
  bool untried_available(TimePoint now) const;
  // Whether any deployment of the chain that fits the request is not excluded.
  bool any_not_excluded() const;

  const Router& router_;
  const config::RoutingConfig& routing_;
  RequestShape shape_;
  TimePoint deadline_;
  // Inline capacity covers the usual sizes without allocating per request.
  boost::container::small_vector<std::size_t, 4> chain_;  // the model, then its fallbacks
  std::size_t chain_pos_ = 0;
  boost::container::small_vector<std::pair<std::size_t, std::size_t>, 4> tried_;
  boost::container::small_vector<std::pair<std::size_t, std::size_t>, 2> excluded_;
  int attempts_ = 0;
  int retries_ = 0;
  Duration waited_{};
  bool may_wait_ = true;
};

// Full jitter: uniform in [0, min(max, base * 2^retry)) (retry counts from 0).
Duration backoff(int retry, Duration base, Duration max, base::Random& random);

}  // namespace shepherd::routing
