// The worker's concurrency limit: slots up to the limit, waiters served in order, a deadline and
// close() that send waiters away, and a slot released on another thread.
#include "fastchat/worker_gate.hpp"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace shepherd::fastchat {
namespace {

using namespace std::chrono_literals;

class WorkerGateTest : public ::testing::Test {
 protected:
  // Takes a slot (or fails to by `deadline`), noting the outcome in `results` by `index`.
  net::Task<void> take(WorkerGate& gate, int index, net::Clock::time_point deadline) {
    const bool got = co_await gate.acquire(deadline);
    results_.push_back({index, got});
  }
  void spawn(WorkerGate& gate, int index, net::Clock::duration wait = 10s) {
    net::asio::co_spawn(ioc_, take(gate, index, net::Clock::now() + wait), net::asio::detached);
  }
  // Runs what is ready now (posts included), without waiting for timers.
  void settle() {
    ioc_.restart();
    ioc_.poll();
  }

  // Runs handlers (waiting for timers when none is ready) until `n` outcomes are in.
  void run_until(std::size_t n) {
    ioc_.restart();
    while (results_.size() < n && ioc_.run_one() > 0) {
    }
  }

  net::asio::io_context ioc_;
  std::vector<std::pair<int, bool>> results_;
};

TEST_F(WorkerGateTest, GrantsUpToTheLimitThenQueuesInOrder) {
  WorkerGate gate(2);
  for (int i = 0; i < 4; ++i) spawn(gate, i);
  settle();
  ASSERT_EQ(results_.size(), 2u);
  EXPECT_EQ(gate.queue_length(), 4);  // two running, two waiting
  gate.release();
  settle();
  ASSERT_EQ(results_.size(), 3u);
  EXPECT_EQ(results_[2], std::make_pair(2, true));  // the first waiter first
  EXPECT_EQ(gate.queue_length(), 3);
  gate.release();
  settle();
  ASSERT_EQ(results_.size(), 4u);
  EXPECT_EQ(results_[3], std::make_pair(3, true));
  gate.release();
  gate.release();
  gate.release();
  EXPECT_EQ(gate.queue_length(), 0);
}

TEST_F(WorkerGateTest, AWaiterGivesUpAtItsDeadline) {
  WorkerGate gate(1);
  spawn(gate, 0);
  spawn(gate, 1, 20ms);
  settle();
  EXPECT_EQ(gate.queue_length(), 2);
  run_until(2);  // the waiter's timer
  ASSERT_EQ(results_.size(), 2u);
  EXPECT_EQ(results_[1], std::make_pair(1, false));
  EXPECT_EQ(gate.queue_length(), 1);  // it left the queue
  gate.release();
  EXPECT_EQ(gate.queue_length(), 0);  // and the slot went back to the pool, not to it
}

TEST_F(WorkerGateTest, CloseSendsEveryWaiterAwayAndRefusesNewcomers) {
  WorkerGate gate(1);
  spawn(gate, 0);
  spawn(gate, 1);
  spawn(gate, 2);
  settle();
  gate.close();
  settle();
  ASSERT_EQ(results_.size(), 3u);
  EXPECT_FALSE(results_[1].second);
  EXPECT_FALSE(results_[2].second);
  spawn(gate, 3);
  settle();
  ASSERT_EQ(results_.size(), 4u);
  EXPECT_FALSE(results_[3].second);
  EXPECT_EQ(gate.queue_length(), 1);  // the one still running
}

TEST_F(WorkerGateTest, ASlotReleasedOnAnotherThreadWakesTheWaiterOnItsOwnLoop) {
  WorkerGate gate(1);
  spawn(gate, 0);
  spawn(gate, 1);
  settle();
  ASSERT_EQ(results_.size(), 1u);
  std::thread other([&gate] { gate.release(); });
  other.join();
  run_until(2);  // the posted wake
  ASSERT_EQ(results_.size(), 2u);
  EXPECT_EQ(results_[1], std::make_pair(1, true));
}

}  // namespace
}  // namespace shepherd::fastchat
