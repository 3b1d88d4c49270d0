// The concurrency limit of `shepherd worker` (FastChat's --limit-worker-concurrency): at most
// `limit` generate requests run at once, the others wait their turn in arrival order. FastChat
// reports `running + waiting` as the worker's queue length (in /worker_get_status and in its
// heartbeats) and the controller's shortest_queue dispatch reads it.
//
// Unlike FastChat's semaphore, a request waits at most until its deadline, and close() (a
// graceful stop) sends every waiter away; they then answer "overloaded" rather than wait forever.
//
// Thread-safe: the event loops of one process share one gate. A waiter is woken on its own loop
// (through a post to its executor), never on the thread that released the slot.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>

#include "net/asio.hpp"

namespace shepherd::fastchat {

class WorkerGate {
 public:
  explicit WorkerGate(int limit) : limit_(limit < 1 ? 1 : limit) {}

  // A slot, once one is free: true when the caller holds it (and must release() it), false when
  // `deadline` passed first or the gate is closed.
  net::Task<bool> acquire(net::Clock::time_point deadline);
  // Gives a slot back: to the first waiter, or to the pool.
  void release();
  // From now on acquire() fails at once, and every waiter is sent away.
  void close();

  // Requests running plus requests waiting (FastChat's queue_length).
  std::int64_t queue_length() const;
  int limit() const { return limit_; }

 private:
  struct Waiter {
    explicit Waiter(net::Executor executor) : timer(executor) {}
    net::Timer timer;
    bool granted = false;  // under mu_: the releasing thread handed its slot over
  };
  // Wakes `w` on its own loop.
  static void wake(std::shared_ptr<Waiter> w);

  const int limit_;
  mutable std::mutex mu_;
  int running_ = 0;
  std::deque<std::shared_ptr<Waiter>> waiting_;
  bool closed_ = false;
};

}  // namespace shepherd::fastchat
