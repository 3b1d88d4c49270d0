// Request metrics: counters, token and cost totals and a latency histogram per route (model ×
// deployment). Each event-loop thread writes only its own shard (relaxed atomics, no sharing on
// the hot path); readers sum the shards. Served as Prometheus text (/metrics) and as the
// original worker's statistics (/stats).
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "metering/cost.hpp"

namespace shepherd::observability {

// Upper bounds of the latency histogram, in seconds.
inline constexpr std::array<double, 16> kLatencyBuckets = {
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120};

// Statuses counted individually; anything else is counted as "other".
inline constexpr std::array<int, 14> kTrackedStatuses = {200, 400, 401, 403, 404, 405, 408,
                                                         413, 429, 431, 500, 502, 503, 504};

class Metrics {
 public:
  // Routes are fixed at construction: route 0 is "no route" (requests refused before a model
  // was chosen); then one per (model, deployment) in config order.
  Metrics(const config::Config& config, int threads);

  static constexpr std::size_t kNoRoute = 0;
  std::size_t route(std::size_t model_index, std::size_t deployment_index) const {
    return model_first_route_[model_index] + deployment_index;
  }

  struct Outcome {
    int status = 0;
    bool ok = false;  // a complete, successful answer
    std::chrono::nanoseconds latency{0};
    std::optional<api::Usage> usage;
    // The answer was a stream that failed after it started (counted as an error).
    bool stream_failed = false;
    // The client went away before the answer was complete.
    bool client_disconnected = false;
  };
  // Called on thread `thread` (0-based event-loop index) when a request completes.
  void record(int thread, std::size_t route, const Outcome& outcome);

  std::string prometheus_text() const;
  std::string stats_json() const;

 private:
  struct Counters {
    std::atomic<std::uint64_t> requests{0}, errors{0}, disconnects{0};
    std::atomic<std::uint64_t> prompt_tokens{0}, completion_tokens{0};
    std::atomic<std::uint64_t> cost_nano_usd{0}, latency_ns{0};
    std::array<std::atomic<std::uint64_t>, kTrackedStatuses.size() + 1> status{};
    std::array<std::atomic<std::uint64_t>, kLatencyBuckets.size() + 1> buckets{};
  };
  struct Route {
    std::string model, provider;
    double input_price = 0, output_price = 0;
  };
  struct Totals;
  Totals sum(std::size_t route) const;

  std::vector<Route> routes_;
  std::vector<std::size_t> model_first_route_;
  // shards_[thread][route]
  std::vector<std::unique_ptr<Counters[]>> shards_;
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
};

}  // namespace shepherd::observability
