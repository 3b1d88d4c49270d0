// Hedging: a second attempt alongside a slow first one; the first to reach its commit point is
// served and the other cancelled (its deployment not judged by it, and nothing billed for it).
#include "pipeline/attempt.hpp"

namespace shepherd::pipeline {

using routing::AttemptResult;
namespace asio = net::asio;

Task<Attempt*> open_hedged(RequestContext& rc, Attempt& first, std::unique_ptr<Attempt>& second,
                           routing::Plan& plan, Clock::duration delay, net::CancelState& request) {
  // Both attempts run as their own coroutines on this loop; `signal` wakes this one when either
  // finishes. Nothing here returns before both have finished: they use this frame's state.
  net::Timer signal(rc.loop.ioc);
  int running = 0;
  auto launch = [&](Attempt& a, std::size_t slot) {
    ++running;
    request.attempts[slot] = &a.cancel;
    asio::co_spawn(rc.loop.ioc, open_attempt(rc, a), [&a, &signal, &running](std::exception_ptr e) {
      if (e && !a.failure) {
        a.failure = base::make_error(base::ErrorCode::kInternal, "attempt failed");
      }
      a.finished = true;
      --running;
      signal.cancel();
    });
  };
  launch(first, 0);
  signal.expires_after(delay);
  co_await signal.async_wait(net::kUseTuple);
  if (!first.finished && !request.client_gone && plan.may_hedge(Clock::now())) {
    auto next = plan.next(Clock::now(), rc.loop.random, rc.loop.cursor);
    if (auto* pick = std::get_if<routing::Plan::Pick>(&next)) {
      second = std::make_unique<Attempt>();
      prepare_attempt(rc, *second, *pick, plan);
      if (second->failure) {
        second.reset();  // this deployment cannot take the request; the first goes on alone
      } else {
        launch(*second, 1);
      }
    }
  }
  Attempt* winner = nullptr;
  for (;;) {
    if (first.finished && first.ok()) {
      winner = &first;
    } else if (second && second->finished && second->ok()) {
      winner = &*second;
    }
    if (winner || (first.finished && (!second || second->finished)) || request.client_gone) break;
    signal.expires_at(Clock::time_point::max());
    co_await signal.async_wait(net::kUseTuple);
  }
  // The loser is cancelled and billed nothing: its deployment's health is not judged by it.
  for (Attempt* a : {&first, second ? &*second : nullptr}) {
    if (a && a != winner && !a->finished) a->cancel.cancel();
  }
  while (running > 0) {
    signal.expires_at(Clock::time_point::max());
    co_await signal.async_wait(net::kUseTuple);
  }
  request.attempts = {};
  for (Attempt* a : {&first, second ? &*second : nullptr}) {
    if (!a || a == winner) continue;
    if (a->c) {
      a->cancel.active = nullptr;
      a->pool().release(std::move(a->c), false);
    }
    if (a->ok()) finish_attempt(rc, *a, AttemptResult::kNeutral);  // finished too late
  }
  if (winner) co_return winner;
  // Both failed: report the first one's failure (the second's is recorded on its deployment).
  co_return &first;
}

}  // namespace shepherd::pipeline
