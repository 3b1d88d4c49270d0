// Gauges one thread writes and any thread reads: plain relaxed atomics, each owned by one writer
// so that writing never contends.
#pragma once

#include <atomic>
#include <cstdint>

namespace shepherd::base {

// The connections of one upstream pool (one provider on one event loop): in use (connecting or
// carrying a request) and idle. Written by the pool's loop, read by /metrics.
struct PoolGauge {
  std::atomic<std::int64_t> in_use{0}, idle{0};
};

}  // namespace shepherd::base
