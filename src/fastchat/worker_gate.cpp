#include "fastchat/worker_gate.hpp"

#include <algorithm>

namespace shepherd::fastchat {

net::Task<bool> WorkerGate::acquire(net::Clock::time_point deadline) {
  const auto executor = co_await net::asio::this_coro::executor;
  auto waiter = std::make_shared<Waiter>(executor);
  {
    std::lock_guard lock(mu_);
    if (closed_) co_return false;
    if (running_ < limit_) {
      ++running_;
      co_return true;
    }
    waiting_.push_back(waiter);
  }
  waiter->timer.expires_at(deadline);
  co_await waiter->timer.async_wait(net::kUseTuple);  // expiry or a wake: both end the wait
  std::lock_guard lock(mu_);
  // A slot handed over races with the deadline: whichever, the grant under the lock decides.
  if (waiter->granted) co_return true;
  std::erase(waiting_, waiter);
  co_return false;
}

void WorkerGate::release() {
  std::lock_guard lock(mu_);
  if (!waiting_.empty()) {
    auto next = std::move(waiting_.front());
    waiting_.pop_front();
    next->granted = true;  // the slot passes on: running_ stays
    wake(std::move(next));
    return;
  }
  if (running_ > 0) --running_;
}

void WorkerGate::close() {
  std::lock_guard lock(mu_);
  closed_ = true;
  for (auto& w : waiting_) wake(std::move(w));
  waiting_.clear();
}

std::int64_t WorkerGate::queue_length() const {
  std::lock_guard lock(mu_);
  return running_ + static_cast<std::int64_t>(waiting_.size());
}

void WorkerGate::wake(std::shared_ptr<Waiter> w) {
  auto executor = w->timer.get_executor();
  net::asio::post(executor, [w = std::move(w)] { w->timer.cancel(); });
}

}  // namespace shepherd::fastchat
