// Request metrics: counters, token and cost totals, latency and time-to-first-byte histograms per
// route (model × deployment), and per virtual key. Each event-loop thread writes only its own
// shard (relaxed atomics, no sharing on the hot path); readers sum the shards. Served as
// Prometheus text (/metrics) and as the original worker's statistics (/stats). Also: the
// upstream pools' connections, config reloads and the build.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "base/gauge.hpp"
#include "base/result.hpp"
#include "config/config.hpp"
#include "metering/cost.hpp"

namespace shepherd::observability {

// Upper bounds of the latency histogram, in seconds.
inline constexpr std::array<double, 16> kLatencyBuckets = {
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120};

// Statuses counted individually; anything else is counted as "other".
inline constexpr std::array<int, 14> kTrackedStatuses = {200, 400, 401, 403, 404, 405, 408,
                                                         413, 429, 431, 500, 502, 503, 504};

// The metric routes of one config: route(model, deployment) for Metrics::record().
struct RouteTable {
  std::vector<std::vector<std::size_t>> routes;
  std::size_t route(std::size_t model_index, std::size_t deployment_index) const {
    return routes[model_index][deployment_index];
  }
};

class Metrics {
 public:
  // Route 0 is "no route" (requests refused before a model was chosen); add_routes() adds one
  // per (model, deployment).
  explicit Metrics(int threads);

  static constexpr std::size_t kNoRoute = 0;
  static constexpr std::size_t kMaxRoutes = 1024;
  // Per-key series name at most this many keys (the busiest; by budget used for the budget
  // gauge), and sum the rest under key="other", so that their number stays bounded.
  static constexpr std::size_t kTopKeys = 20;

  // The routes of `config`: a deployment seen before (same model, id and provider) keeps its
  // counters across reloads; its prices become those of `config`. Called by one thread at a time,
  // concurrently with record() and the readers. Fails when more than kMaxRoutes would exist.
  base::Result<RouteTable> add_routes(const config::Config& config);

  struct Outcome {
    int status = 0;
    bool ok = false;  // a complete, successful answer
    std::chrono::nanoseconds latency{0};
    std::optional<api::Usage> usage;
    bool usage_estimated = false;  // the upstream reported none: `usage` is Shepherd's estimate
    // The answer was a stream that failed after it started (counted as an error).
    bool stream_failed = false;
    // The client went away before the answer was complete.
    bool client_disconnected = false;
    int attempts = 0;       // upstream attempts, retries and hedges included
    bool fallback = false;  // served by a fallback model
    bool hedged = false;    // a hedged second attempt was started
    // Arrival to the first byte of the answer sent (the head of a whole answer, a stream's first
    // event); none when nothing was sent.
    std::optional<std::chrono::nanoseconds> first_byte;
    std::size_t key_slot = 0;  // the virtual key's base::key_slots() slot; 0: none
    // A budgeted key: its period's spend after this request, over the budget; and the period.
    std::optional<double> budget_used;
    std::int64_t budget_period = 0;
  };
  // Called on thread `thread` (0-based event-loop index) when a request completes. Returns
  // true the first time a request with usage is recorded on a route whose deployment has no
  // price (the caller warns once; the metric counts every one).
  bool record(int thread, std::size_t route, const Outcome& outcome);

  std::string prometheus_text() const;
  std::string stats_json() const;

  // The gauge of a new upstream pool of `provider` (kept up to date by the pool, summed per
  // provider into shepherd_upstream_connections while the pool lives). Any thread.
  std::shared_ptr<base::PoolGauge> pool_gauge(const std::string& provider);
  // A config reload was applied, or refused. Any thread.
  void count_reload(bool applied) {
    (applied ? reloads_applied_ : reloads_refused_).fetch_add(1, std::memory_order_relaxed);
  }

 private:
  struct Counters {
    std::atomic<std::uint64_t> requests{0}, errors{0}, disconnects{0};
    std::atomic<std::uint64_t> prompt_tokens{0}, completion_tokens{0};
    std::atomic<std::uint64_t> cached_tokens{0}, reasoning_tokens{0};
    std::atomic<std::uint64_t> cost_nano_usd{0}, latency_ns{0};
    std::atomic<std::uint64_t> attempts{0}, fallbacks{0}, hedges{0};
    std::atomic<std::uint64_t> unpriced{0};   // requests with usage at no configured price
    std::atomic<std::uint64_t> estimated{0};  // requests whose usage is Shepherd's estimate
    std::array<std::atomic<std::uint64_t>, kTrackedStatuses.size() + 1> status{};
    std::array<std::atomic<std::uint64_t>, kLatencyBuckets.size() + 1> buckets{};
    std::atomic<std::uint64_t> first_byte_ns{0}, first_byte_count{0};
    std::array<std::atomic<std::uint64_t>, kLatencyBuckets.size() + 1> first_byte_buckets{};
  };
  struct KeyCounters {
    std::atomic<std::uint64_t> requests{0}, errors{0}, tokens{0}, cost_nano_usd{0};
    // The last budget use seen on this shard: millionths of the budget, in period budget_period.
    std::atomic<std::int64_t> budget_period{0};
    std::atomic<std::uint64_t> budget_ppm{0};
    bool used() const { return requests.load(std::memory_order_relaxed) != 0; }
  };
  struct Route {
    std::string model, deployment, provider;
    std::atomic<double> input_price{0}, output_price{0}, cached_input_price{0};
    std::atomic<bool> warned_unpriced{false};
  };
  struct Totals;
  Totals sum(std::size_t route) const;
  std::size_t route_count() const { return route_count_.load(std::memory_order_acquire); }

  // Fixed capacity: routes are written before route_count_ publishes them and never move.
  std::unique_ptr<Route[]> routes_;
  std::atomic<std::size_t> route_count_{1};
  // shards_[thread][route]
  std::vector<std::unique_ptr<Counters[]>> shards_;
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
  // key_shards_[thread][slot], slots as base::key_slots() numbers them (overflow included).
  std::vector<std::unique_ptr<KeyCounters[]>> key_shards_;
  std::size_t key_slot_count_ = 0;
  std::string key_text() const;

  mutable std::mutex gauges_mu_;
  mutable std::vector<std::pair<std::string, std::weak_ptr<base::PoolGauge>>> pool_gauges_;
  std::string pool_text() const;
  std::atomic<std::uint64_t> reloads_applied_{0}, reloads_refused_{0};
};

}  // namespace shepherd::observability
