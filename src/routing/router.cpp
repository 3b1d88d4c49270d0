#include "routing/router.hpp"

#include <algorithm>
#include <boost/json.hpp>
#include <cmath>
#include <string>

namespace shepherd::routing {

using base::Error;
using base::ErrorCode;

namespace {

long ceil_seconds(Duration d) {
  const auto s = std::chrono::ceil<std::chrono::seconds>(d).count();
  return std::max<long>(1, static_cast<long>(s));
}

void append_escaped_label(std::string& out, std::string_view v) {
  for (char c : v) {
    if (c == '\\' || c == '"') out.push_back('\\');
    if (c == '\n') {
      out.append("\\n");
      continue;
    }
    out.push_back(c);
  }
}

}  // namespace

Router::Router(std::shared_ptr<const config::Config> config, const Router* previous, TimePoint now)
    : config_(std::move(config)) {
  const auto& r = config_->routing;
  settings_.breaker.failures = r.breaker_failures;
  settings_.breaker.window = r.breaker_window;
  settings_.breaker.cooldown = r.cooldown;
  settings_.auth_cooldown = r.auth_cooldown;
  for (const auto& m : config_->models) {
    auto& row = states_.emplace_back();
    for (const auto& d : m.deployments) {
      std::shared_ptr<DeploymentState> state;
      if (previous) {
        if (auto at = previous->config().find_deployment(d.id)) {
          const auto& old = previous->config().models[at->first].deployments[at->second];
          if (old.rpm == d.rpm && old.tpm == d.tpm) {
            state = previous->states_[at->first][at->second];
          } else {
            state = std::make_shared<DeploymentState>(d.id, d.rpm, d.tpm, now);
            state->set_drained(previous->states_[at->first][at->second]->drained());
          }
        }
      }
      if (!state) state = std::make_shared<DeploymentState>(d.id, d.rpm, d.tpm, now);
      row.push_back(std::move(state));
    }
    std::shared_ptr<RetryBudget> budget;
    if (previous) {
      if (const auto* old = previous->config().find_model(m.name)) {
        budget =
            previous->budgets_[static_cast<std::size_t>(old - previous->config().models.data())];
      }
    }
    if (!budget) budget = std::make_shared<RetryBudget>(r.retry_budget_ratio, r.retry_budget_burst);
    budgets_.push_back(std::move(budget));
  }
  queued_ = std::make_unique<std::atomic<std::size_t>[]>(config_->models.size());
}

std::vector<DeploymentState*> Router::provider_states(std::size_t provider_index) const {
  std::vector<DeploymentState*> out;
  for (std::size_t m = 0; m < config_->models.size(); ++m) {
    const auto& deployments = config_->models[m].deployments;
    for (std::size_t d = 0; d < deployments.size(); ++d) {
      if (deployments[d].provider_index == provider_index) out.push_back(states_[m][d].get());
    }
  }
  return out;
}

std::vector<std::string> Router::unavailable_models(TimePoint now) const {
  std::vector<std::string> out;
  for (std::size_t m = 0; m < config_->models.size(); ++m) {
    bool any = false;
    for (const auto& s : states_[m]) {
      any |= s->availability(now) == DeploymentState::Availability::kAvailable;
    }
    if (!any) out.push_back(config_->models[m].name);
  }
  return out;
}

std::string Router::deployments_json(TimePoint now) const {
  boost::json::array list;
  for (std::size_t m = 0; m < config_->models.size(); ++m) {
    const auto& model = config_->models[m];
    for (std::size_t d = 0; d < model.deployments.size(); ++d) {
      const auto& dc = model.deployments[d];
      const auto r = states_[m][d]->report(now);
      boost::json::object o;
      o["id"] = dc.id;
      o["model"] = model.name;
      o["provider"] = dc.provider;
      o["upstream_model"] = dc.model;
      if (!dc.region.empty()) o["region"] = dc.region;
      o["weight"] = dc.weight;
      o["price"] = {{"input", dc.price.input_per_million}, {"output", dc.price.output_per_million}};
      if (dc.max_context) o["max_context"] = dc.max_context;
      if (dc.rpm) o["rpm"] = dc.rpm;
      if (dc.tpm) o["tpm"] = dc.tpm;
      o["strategy"] = config::strategy_name(model.strategy);
      o["state"] = r.availability;
      o["breaker"] = r.breaker;
      if (r.reopens_in > 0) o["retry_in_seconds"] = r.reopens_in;
      o["health_check_ok"] = r.health_ok;
      o["in_flight"] = r.in_flight;
      o["requests"] = r.requests;
      o["failures"] = r.failures;
      o["auth_failures"] = r.auth_failures;
      o["breaker_opened"] = r.breaker_opened;
      o["error_rate"] = r.error_rate;
      auto opt = [](const std::optional<double>& v) -> boost::json::value {
        if (!v) return nullptr;
        return std::round(*v * 1e6) / 1e3;  // milliseconds, to the microsecond
      };
      o["latency_ms"] = {{"first_byte_mean", opt(r.first_byte_mean)},
                         {"first_byte_p95", opt(r.first_byte_p95)},
                         {"total_mean", opt(r.total_mean)},
                         {"total_p95", opt(r.total_p95)}};
      if (!r.last_error.empty()) o["last_error"] = r.last_error;
      list.push_back(std::move(o));
    }
  }
  boost::json::object root;
  root["deployments"] = std::move(list);
  return boost::json::serialize(root);
}

std::string Router::prometheus_text(TimePoint now) const {
  std::string healthy, flight, breaker_open, auth, opened;
  healthy.append(
      "# HELP shepherd_deployment_available 1 when the deployment takes traffic (not drained, "
      "cooling down, rate limited or unhealthy).\n# TYPE shepherd_deployment_available gauge\n");
  flight.append(
      "# HELP shepherd_deployment_in_flight Upstream requests in flight.\n"
      "# TYPE shepherd_deployment_in_flight gauge\n");
  breaker_open.append(
      "# HELP shepherd_deployment_breaker_open 1 while the deployment is cooling down.\n"
      "# TYPE shepherd_deployment_breaker_open gauge\n");
  auth.append(
      "# HELP shepherd_deployment_auth_failures_total Upstream 401/403 answers: the provider "
      "refused Shepherd's key (alert on any increase).\n"
      "# TYPE shepherd_deployment_auth_failures_total counter\n");
  opened.append(
      "# HELP shepherd_deployment_cooldowns_total Times the deployment was taken out of "
      "rotation.\n# TYPE shepherd_deployment_cooldowns_total counter\n");
  for (std::size_t m = 0; m < config_->models.size(); ++m) {
    const auto& model = config_->models[m];
    for (std::size_t d = 0; d < model.deployments.size(); ++d) {
      const auto& dc = model.deployments[d];
      const auto r = states_[m][d]->report(now);
      std::string labels = "{deployment=\"";
      append_escaped_label(labels, dc.id);
      labels.append("\",model=\"");
      append_escaped_label(labels, model.name);
      labels.append("\",provider=\"");
      append_escaped_label(labels, dc.provider);
      labels.append("\"} ");
      auto line = [&](std::string& out, const char* name, auto value) {
        out.append(name).append(labels).append(std::to_string(value)).append("\n");
      };
      line(healthy, "shepherd_deployment_available", r.availability == "available" ? 1 : 0);
      line(flight, "shepherd_deployment_in_flight", r.in_flight);
      line(breaker_open, "shepherd_deployment_breaker_open", r.breaker == "closed" ? 0 : 1);
      line(auth, "shepherd_deployment_auth_failures_total", r.auth_failures);
      line(opened, "shepherd_deployment_cooldowns_total", r.breaker_opened);
    }
  }
  return healthy + flight + breaker_open + auth + opened;
}

// ---- Plan

Plan::Plan(const Router& router, std::size_t model, RequestShape shape, TimePoint deadline)
    : router_(router), routing_(router.config().routing), shape_(shape), deadline_(deadline) {
  chain_.push_back(model);
  for (auto f : router.config().models[model].fallback_indices) {
    if (std::find(chain_.begin(), chain_.end(), f) == chain_.end()) chain_.push_back(f);
  }
  router.budget(model).on_request();
}

bool Plan::tried(std::size_t model, std::size_t deployment) const {
  return std::find(tried_.begin(), tried_.end(), std::pair{model, deployment}) != tried_.end();
}

bool Plan::is_excluded(std::size_t model, std::size_t deployment) const {
  return std::find(excluded_.begin(), excluded_.end(), std::pair{model, deployment}) !=
         excluded_.end();
}

bool Plan::fits(const config::DeploymentConfig& d) const {
  return d.max_context == 0 || shape_.tokens <= static_cast<double>(d.max_context);
}

bool Plan::untried_available(TimePoint now) const {
  const auto& models = router_.config().models;
  for (std::size_t ci = chain_pos_; ci < chain_.size(); ++ci) {
    const auto m = chain_[ci];
    for (std::size_t d = 0; d < models[m].deployments.size(); ++d) {
      if (!tried(m, d) && fits(models[m].deployments[d]) && !is_excluded(m, d) &&
          router_.state(m, d).availability(now) == DeploymentState::Availability::kAvailable) {
        return true;
      }
    }
  }
  return false;
}

bool Plan::any_not_excluded() const {
  const auto& models = router_.config().models;
  for (const auto m : chain_) {
    for (std::size_t d = 0; d < models[m].deployments.size(); ++d) {
      if (fits(models[m].deployments[d]) && !is_excluded(m, d)) return true;
    }
  }
  return false;
}

Plan::Next Plan::next(TimePoint now, base::Random& random, std::uint64_t& cursor) {
  const auto& models = router_.config().models;
  // On the stack, not in the Plan: a Plan lives as long as its request (a stream's, minutes).
  boost::container::small_vector<Candidate, 8> candidates;
  bool any_fits = false;
  auto soonest = TimePoint::max();
  auto rate_wait = Duration::max();
  auto rate_limited = Duration::max();  // this model's deployments benched by upstream limits
  // First deployments not tried yet, walking the chain from the current model; then, when all
  // have been tried, those that may be tried again, from the start of the chain.
  for (int pass = 0; pass < 2; ++pass) {
    for (std::size_t ci = pass == 0 ? chain_pos_ : 0; ci < chain_.size(); ++ci) {
      const auto m = chain_[ci];
      const auto& model = models[m];
      candidates.clear();
      for (std::size_t d = 0; d < model.deployments.size(); ++d) {
        const auto& dc = model.deployments[d];
        if (!fits(dc) || is_excluded(m, d)) continue;
        any_fits = true;
        if (pass == 0 && tried(m, d)) continue;
        auto& state = router_.state(m, d);
        const auto availability = state.availability(now);
        if (availability == DeploymentState::Availability::kRateLimited) {
          // Benched by the upstream's own limit: like Shepherd's limits, worth a short wait.
          rate_limited = std::min(rate_limited, state.available_at(now) - now);
          continue;
        }
        if (availability != DeploymentState::Availability::kAvailable) {
          soonest = std::min(soonest, state.available_at(now));
          continue;
        }
        Candidate c;
        c.deployment = d;
        c.weight = dc.weight;
        c.price = dc.price.input_per_million + dc.price.output_per_million;
        c.in_flight = state.in_flight();
        if (model.strategy == config::Strategy::kLowestLatency ||
            (model.strategy == config::Strategy::kCheapest && model.latency_bound)) {
          c.latency = state.latency(shape_.stream);
        }
        candidates.push_back(c);
      }
      ChoiceSettings settings;
      settings.exploration = routing_.exploration;
      if (model.latency_bound) {
        settings.latency_bound = std::chrono::duration<double>(*model.latency_bound).count();
      }
      auto model_wait = rate_limited;
      rate_limited = Duration::max();
      while (!candidates.empty()) {
        const auto i = choose(model.strategy, candidates, settings, random, cursor);
        const auto d = candidates[i].deployment;
        auto& state = router_.state(m, d);
        const auto wait = state.begin(now, shape_.tokens);
        if (wait == Duration::zero()) {
          tried_.emplace_back(m, d);
          ++attempts_;
          if (pass == 0) chain_pos_ = ci;
          return Pick{m, d, &state};
        }
        if (wait != Duration::max()) model_wait = std::min(model_wait, wait);
        candidates.erase(candidates.begin() + static_cast<std::ptrdiff_t>(i));
      }
      if (model_wait != Duration::max()) {
        rate_wait = std::min(rate_wait, model_wait);
        // Rather wait a little for this model than fall back to another one.
        if (may_wait_ && waited_ + model_wait <= routing_.queue_wait &&
            now + model_wait < deadline_) {
          return Wait{model_wait};
        }
      }
    }
    if (pass == 0 && (soonest != TimePoint::max() || rate_wait != Duration::max()) &&
        attempts_ == 0) {
      // Nothing was tried yet and nothing is free: trying again cannot help.
      break;
    }
  }
  const auto& name = models[chain_.front()].name;
  if (!any_fits) {
    std::uint64_t largest = 0;
    for (auto m : chain_) {
      for (const auto& d : models[m].deployments) largest = std::max(largest, d.max_context);
    }
    auto e = base::make_error(ErrorCode::kBadRequest,
                              "this request needs about " +
                                  std::to_string(static_cast<std::uint64_t>(shape_.tokens)) +
                                  " tokens (prompt and max_tokens), more than any deployment of '" +
                                  name + "' accepts (largest context: " + std::to_string(largest) +
                                  " tokens); shorten the messages or lower max_tokens");
    e.param = "messages";
    e.upstream_body = "context_length_exceeded";
    return e;
  }
  if (rate_wait != Duration::max()) {
    auto e = base::make_error(ErrorCode::kRateLimited,
                              "the rate limits of every deployment of '" + name +
                                  "' are reached; retry after the time in Retry-After");
    e.retry_after = ceil_seconds(rate_wait);
    return e;
  }
  auto e = base::make_error(ErrorCode::kUnavailable,
                            "no deployment of '" + name +
                                "' can take requests now (cooling down after failures, "
                                "unhealthy or drained); retry later",
                            "model " + name + ": no available deployment");
  if (soonest != TimePoint::max()) e.retry_after = ceil_seconds(soonest - now);
  return e;
}

std::optional<Duration> Plan::retry_delay(const Error& failure, TimePoint now,
                                          base::Random& random) {
  if (!failure.retryable || attempts_ >= routing_.max_attempts) return std::nullopt;
  if (!any_not_excluded()) return std::nullopt;  // nothing left that could take it
  Duration delay{};
  if (!untried_available(now)) {
    // The same deployments again: back off, and wait out a Retry-After unless it is longer
    // than Shepherd waits (the client then gets the 429 and its Retry-After).
    if (failure.retry_after &&
        std::chrono::seconds(*failure.retry_after) > routing_.retry_after_cap) {
      return std::nullopt;
    }
    delay = backoff(retries_, routing_.backoff_base, routing_.backoff_max, random);
    if (failure.retry_after) {
      delay = std::max<Duration>(delay, std::chrono::seconds(*failure.retry_after));
    }
  }
  if (now + delay >= deadline_) return std::nullopt;
  if (!router_.budget(chain_.front()).try_retry()) return std::nullopt;
  ++retries_;
  return delay;
}

bool Plan::may_hedge(TimePoint now) {
  if (attempts_ >= routing_.max_attempts || !untried_available(now)) return false;
  return router_.budget(chain_.front()).try_retry();
}

Duration backoff(int retry, Duration base, Duration max, base::Random& random) {
  auto ceiling = base;
  for (int i = 0; i < retry && ceiling < max; ++i) ceiling *= 2;
  ceiling = std::min(ceiling, max);
  return std::chrono::duration_cast<Duration>(std::chrono::duration<double, Duration::period>(
      random.uniform() * static_cast<double>(ceiling.count())));
}

}  // namespace shepherd::routing
