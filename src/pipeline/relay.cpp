// The attempt loop: the Plan picks deployments (retries, fallbacks, the rate-limit queue), each
// attempt runs up to its commit point (with hedging when the model asks for it), and the first
// attempt that commits is delivered. A failure before the commit point goes back to the Plan.
#include <spdlog/spdlog.h>

#include "pipeline/attempt.hpp"
#include "pipeline/stages.hpp"

namespace shepherd::pipeline {

using base::Error;
using base::ErrorCode;
using routing::AttemptResult;

namespace {

// Hedging on a measured p95 needs this many samples first.
constexpr int kHedgeMinSamples = 20;

double seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// Waits `d` unless the client leaves first; false when it left.
Task<bool> pause(RequestContext& rc, Clock::duration d, net::CancelState& request) {
  if (d <= Clock::duration::zero()) co_return !request.client_gone;
  net::Timer timer(rc.loop.ioc, d);
  request.waiting = &timer;
  co_await timer.async_wait(net::kUseTuple);
  request.waiting = nullptr;
  co_return !request.client_gone;
}

// When a second attempt starts alongside the first, if the model hedges.
std::optional<Clock::duration> hedge_delay(const config::ModelConfig& model,
                                           const routing::Plan::Pick& pick) {
  if (!model.hedge.enabled) return std::nullopt;
  if (model.hedge.after) return *model.hedge.after;
  if (auto p95 = pick.state->first_byte_p95(kHedgeMinSamples)) {
    return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(*p95));
  }
  return std::nullopt;
}

// x-shepherd-* headers: what routing did (no URLs, no keys).
void set_route_headers(RequestContext& rc, const Attempt* served, int attempts, bool hedged) {
  auto& h = rc.conn.request_headers();
  if (served) {
    h.append("X-Shepherd-Deployment: ").append(served->deployment->id).append("\r\n");
    if (served->pick.model != rc.model_index) {
      h.append("X-Shepherd-Model: ").append(rc.config().models[served->pick.model].name);
      h.append("\r\n");
    }
  }
  h.append("X-Shepherd-Attempts: ").append(std::to_string(attempts)).append("\r\n");
  if (hedged) h.append("X-Shepherd-Hedged: true\r\n");
}

// The served attempt at its commit point: what the record stage and the client's headers say
// of the routing.
void commit(RequestContext& rc, Attempt& a, const routing::Plan& plan, bool hedged) {
  auto& out = rc.outcome;
  rc.route = rc.view->snap->routes.route(a.pick.model, a.pick.deployment);
  rc.served = a.deployment;
  rc.first_byte_sent = Clock::now();
  out.attempts = plan.attempts();
  out.fallback = a.pick.model != rc.model_index;
  out.hedged = hedged;
  set_route_headers(rc, &a, plan.attempts(), hedged);
}

// The committed attempt's answer, to its end; then the deployment is told how it went.
Task<void> deliver(RequestContext& rc, Attempt& a) {
  auto& out = rc.outcome;
  bool clean = true;
  if (!rc.chat.stream) {
    co_await deliver_answer(rc, a);
  } else {
    const bool reusable = co_await deliver_stream(rc, a);
    a.pool().release(std::move(a.c), reusable);
    a.cancel.active = nullptr;
    rc.conn.end_watch();
    clean = !out.stream_failed;
  }
  if (clean) {
    a.pick.state->record_latency(rc.chat.stream, seconds(a.first_byte - a.started),
                                 seconds(Clock::now() - a.started));
  }
  if (out.usage) {
    a.pick.state->settle_tokens(rc.shape.tokens, static_cast<double>(out.usage->total_tokens));
  }
  finish_attempt(rc, a, clean ? AttemptResult::kSuccess : AttemptResult::kFailure);
}

}  // namespace

Task<void> relay(RequestContext& rc) {
  auto& out = rc.outcome;
  const auto& config = rc.config();
  const auto& router = rc.view->router();
  const auto& routing = config.routing;
  routing::Plan plan(router, rc.model_index, rc.shape, Clock::now() + routing.deadline);

  auto& request = rc.cancel;  // a disconnect cancels the attempts linked to it
  rc.conn.begin_watch(request);
  std::optional<Error> failure;
  // On the heap: a committed stream's attempt may go on after this frame (rc.detach_streams).
  std::unique_ptr<Attempt> first;
  std::unique_ptr<Attempt> second;
  bool hedged = false;

  while (!request.client_gone) {
    // The router's state is written and read on one clock, the precise one: the admin API,
    // the probes and health checks use it too. Read on the coarse clock (a tick behind), a
    // deployment the admin API had just reported half-open still read as cooling down here.
    auto next = plan.next(Clock::now(), rc.loop.random, rc.loop.cursor);
    if (auto* wait = std::get_if<routing::Plan::Wait>(&next)) {
      // Every deployment that could serve is at its rate limit: wait in the bounded queue.
      auto& queued = router.queued(rc.model_index);
      if (queued.fetch_add(1, std::memory_order_relaxed) >= routing.queue_size) {
        queued.fetch_sub(1, std::memory_order_relaxed);
        plan.no_waiting();
        continue;
      }
      const bool stayed = co_await pause(rc, wait->duration, request);
      queued.fetch_sub(1, std::memory_order_relaxed);
      plan.waited(wait->duration);
      if (!stayed) break;
      continue;
    }
    if (auto* error = std::get_if<Error>(&next)) {
      // After a failed attempt, its failure says more than "nothing left to try".
      if (!failure || error->code == ErrorCode::kRateLimited) failure = std::move(*error);
      break;
    }
    const auto pick = std::get<routing::Plan::Pick>(next);
    // Metrics count the request on the deployment of its last attempt.
    rc.route = rc.view->snap->routes.route(pick.model, pick.deployment);
    rc.tried = &config.models[pick.model].deployments[pick.deployment];
    first.reset();
    second.reset();
    first = std::make_unique<Attempt>();
    prepare_attempt(rc, *first, pick, plan);
    Attempt* served = first.get();
    if (first->failure) {
      // Not sent: this deployment cannot take the request; the plan may have another.
    } else if (const auto delay = hedge_delay(config.models[pick.model], pick)) {
      served = co_await open_hedged(rc, *first, second, plan, *delay, request);
      hedged = second != nullptr;
    } else {
      request.attempts[0] = &first->cancel;
      co_await open_attempt(rc, *first);
      request.attempts[0] = nullptr;
    }
    if (served->ok()) {
      // Commit point: from here on, no other attempt. A disconnect or a deadline still reaches
      // the served one.
      request.attempts = {&served->cancel, nullptr};
      commit(rc, *served, plan, hedged);
      if (rc.chat.stream && rc.detach_streams) {
        // The stream goes on in continue_stream(); the client's watch stays on rc.cancel.
        rc.stream = std::move(served == first.get() ? first : second);
        co_return;
      }
      co_await deliver(rc, *served);
      co_return;
    }
    failure = served->failure;
    if (request.client_gone || !failure) break;
    if (served->unfit) plan.exclude(served->pick.model, served->pick.deployment);
    const auto delay = plan.retry_delay(*failure, Clock::now(), rc.loop.random);
    if (!delay) break;
    spdlog::debug("request {}: attempt {} on {} failed ({}); retrying", rc.request_id,
                  plan.attempts(), served->deployment->id, failure->message);
    if (!co_await pause(rc, *delay, request)) break;
  }
  rc.conn.end_watch();
  out.attempts = plan.attempts();
  out.hedged = hedged;
  if (request.client_gone) {
    // Nobody is left to answer; the upstream connections were closed.
    rc.conn.mark_gone();
    out.status = 499;
    out.client_disconnected = true;
    rc.error_class = "client_disconnected";
    co_return;
  }
  if (!failure) failure = base::make_error(ErrorCode::kInternal, "no attempt was made");
  rc.error_class = base::code_name(failure->code);
  if (plan.attempts() > 0) set_route_headers(rc, nullptr, plan.attempts(), hedged);
  out.status = base::http_status(*failure);
  co_await respond_error(rc.conn, rc.dialect, *failure, rc.request_id, rc.write_timeout());
}

Task<void> continue_stream(RequestContext& rc) {
  co_await deliver(rc, *rc.stream);
  rc.stream.reset();
  co_await record(rc);
}

}  // namespace shepherd::pipeline
