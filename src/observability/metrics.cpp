#include "observability/metrics.hpp"

#include <algorithm>
#include <boost/json.hpp>
#include <cmath>
#include <cstdio>

#include "api/json_text.hpp"
#include "base/slots.hpp"
#include "observability/metrics_text.hpp"

#ifndef SHEPHERD_VERSION
#define SHEPHERD_VERSION "unknown"
#endif

namespace shepherd::observability {
using detail::header;
using detail::kRelaxed;
using detail::label;
using detail::number;

namespace {

std::size_t status_index(int status) {
  for (std::size_t i = 0; i < kTrackedStatuses.size(); ++i) {
    if (kTrackedStatuses[i] == status) return i;
  }
  return kTrackedStatuses.size();
}

template <typename Buckets>
void observe(Buckets& buckets, std::chrono::nanoseconds d) {
  const double seconds = static_cast<double>(std::max<std::int64_t>(0, d.count())) / 1e9;
  std::size_t b = 0;
  while (b < kLatencyBuckets.size() && seconds > kLatencyBuckets[b]) ++b;
  buckets[b].fetch_add(1, kRelaxed);
}

using BucketCounts = std::array<std::uint64_t, kLatencyBuckets.size() + 1>;

// The _bucket, _sum and _count lines of one histogram series.
void histogram(std::string& out, std::string_view name, const std::string& labels,
               const BucketCounts& buckets, std::uint64_t sum_ns, std::uint64_t count) {
  std::uint64_t cumulative = 0;
  auto bucket = [&](std::string_view le) {
    out.append(name).append("_bucket{").append(labels).append(",le=\"").append(le).append("\"} ");
    out.append(std::to_string(cumulative)).append("\n");
  };
  for (std::size_t b = 0; b < kLatencyBuckets.size(); ++b) {
    cumulative += buckets[b];
    bucket(number(kLatencyBuckets[b]));
  }
  cumulative += buckets.back();
  bucket("+Inf");
  out.append(name).append("_sum{").append(labels).append("} ");
  out.append(number(static_cast<double>(sum_ns) / 1e9)).append("\n");
  out.append(name).append("_count{").append(labels).append("} ");
  out.append(std::to_string(count)).append("\n");
}

}  // namespace

struct Metrics::Totals {
  std::uint64_t requests = 0, errors = 0, disconnects = 0, prompt = 0, completion = 0;
  std::uint64_t cached = 0, reasoning = 0;
  std::uint64_t cost_nano = 0, latency_ns = 0, attempts = 0, fallbacks = 0, hedges = 0;
  std::uint64_t unpriced = 0, estimated = 0;
  std::array<std::uint64_t, kTrackedStatuses.size() + 1> status{};
  BucketCounts buckets{};
  std::uint64_t first_byte_ns = 0, first_byte_count = 0;
  BucketCounts first_byte_buckets{};
};

Metrics::Metrics(int threads)
    : routes_(std::make_unique<Route[]>(kMaxRoutes)),
      key_slot_count_(base::key_slots().overflow() + 1) {
  for (int t = 0; t < threads; ++t) {
    shards_.push_back(std::make_unique<Counters[]>(kMaxRoutes));
    key_shards_.push_back(std::make_unique<KeyCounters[]>(key_slot_count_));
  }
}

base::Result<RouteTable> Metrics::add_routes(const config::Config& config) {
  RouteTable table;
  auto count = route_count();
  for (const auto& m : config.models) {
    auto& row = table.routes.emplace_back();
    for (const auto& d : m.deployments) {
      std::size_t found = 0;
      for (std::size_t i = 1; i < count && !found; ++i) {
        const auto& o = routes_[i];
        if (o.model == m.name && o.deployment == d.id && o.provider == d.provider) found = i;
      }
      if (!found) {
        if (count == kMaxRoutes) {
          return base::make_error(base::ErrorCode::kBadRequest,
                                  "more than " + std::to_string(kMaxRoutes - 1) +
                                      " metric routes since start; restart to apply this config");
        }
        auto& r = routes_[count];
        r.model = m.name;
        r.deployment = d.id;
        r.provider = d.provider;
        found = count++;
      }
      // A reload may change prices: costs from now on use the new ones.
      routes_[found].input_price.store(d.price.input_per_million, kRelaxed);
      routes_[found].output_price.store(d.price.output_per_million, kRelaxed);
      routes_[found].cached_input_price.store(d.price.cached_input(), kRelaxed);
      row.push_back(found);
    }
  }
  route_count_.store(count, std::memory_order_release);
  return table;
}

bool Metrics::record(int thread, std::size_t route, const Outcome& o) {
  auto& c = shards_[static_cast<std::size_t>(thread)][route];
  c.requests.fetch_add(1, kRelaxed);
  if (!o.ok) c.errors.fetch_add(1, kRelaxed);
  if (o.client_disconnected) c.disconnects.fetch_add(1, kRelaxed);
  if (o.attempts) c.attempts.fetch_add(static_cast<std::uint64_t>(o.attempts), kRelaxed);
  if (o.fallback) c.fallbacks.fetch_add(1, kRelaxed);
  if (o.hedged) c.hedges.fetch_add(1, kRelaxed);
  c.status[status_index(o.status)].fetch_add(1, kRelaxed);
  const auto ns = static_cast<std::uint64_t>(std::max<std::int64_t>(0, o.latency.count()));
  c.latency_ns.fetch_add(ns, kRelaxed);
  observe(c.buckets, o.latency);
  if (o.first_byte) {
    c.first_byte_ns.fetch_add(
        static_cast<std::uint64_t>(std::max<std::int64_t>(0, o.first_byte->count())), kRelaxed);
    c.first_byte_count.fetch_add(1, kRelaxed);
    observe(c.first_byte_buckets, *o.first_byte);
  }
  KeyCounters* key = o.key_slot && o.key_slot < key_slot_count_
                         ? &key_shards_[static_cast<std::size_t>(thread)][o.key_slot]
                         : nullptr;
  if (key) {
    key->requests.fetch_add(1, kRelaxed);
    if (!o.ok) key->errors.fetch_add(1, kRelaxed);
    if (o.usage) key->tokens.fetch_add(static_cast<std::uint64_t>(o.usage->total_tokens), kRelaxed);
    if (o.budget_used) {
      key->budget_period.store(o.budget_period, kRelaxed);
      key->budget_ppm.store(
          static_cast<std::uint64_t>(std::llround(std::clamp(*o.budget_used, 0.0, 1e6) * 1e6)),
          kRelaxed);
    }
  }
  if (o.usage_estimated) c.estimated.fetch_add(1, kRelaxed);
  if (o.usage) {
    c.prompt_tokens.fetch_add(static_cast<std::uint64_t>(o.usage->prompt_tokens), kRelaxed);
    c.completion_tokens.fetch_add(static_cast<std::uint64_t>(o.usage->completion_tokens), kRelaxed);
    c.cached_tokens.fetch_add(static_cast<std::uint64_t>(o.usage->cached_tokens), kRelaxed);
    c.reasoning_tokens.fetch_add(static_cast<std::uint64_t>(o.usage->reasoning_tokens), kRelaxed);
    auto& r = routes_[route];
    const double input = r.input_price.load(kRelaxed), output = r.output_price.load(kRelaxed);
    if (input == 0 && output == 0 && route != kNoRoute) {
      c.unpriced.fetch_add(1, kRelaxed);
      return !r.warned_unpriced.exchange(true, kRelaxed);
    }
    const double usd =
        metering::cost_usd(*o.usage, input, output, r.cached_input_price.load(kRelaxed));
    // Clamped: a nonsensical usage report must not overflow the counter's conversion.
    const double nano = std::clamp(usd * 1e9, 0.0, 1e18);
    c.cost_nano_usd.fetch_add(static_cast<std::uint64_t>(std::llround(nano)), kRelaxed);
    if (key) key->cost_nano_usd.fetch_add(static_cast<std::uint64_t>(std::llround(nano)), kRelaxed);
  }
  return false;
}

Metrics::Totals Metrics::sum(std::size_t route) const {
  Totals t;
  for (const auto& shard : shards_) {
    const auto& c = shard[route];
    t.requests += c.requests.load(kRelaxed);
    t.errors += c.errors.load(kRelaxed);
    t.disconnects += c.disconnects.load(kRelaxed);
    t.prompt += c.prompt_tokens.load(kRelaxed);
    t.completion += c.completion_tokens.load(kRelaxed);
    t.cached += c.cached_tokens.load(kRelaxed);
    t.reasoning += c.reasoning_tokens.load(kRelaxed);
    t.cost_nano += c.cost_nano_usd.load(kRelaxed);
    t.latency_ns += c.latency_ns.load(kRelaxed);
    t.attempts += c.attempts.load(kRelaxed);
    t.fallbacks += c.fallbacks.load(kRelaxed);
    t.hedges += c.hedges.load(kRelaxed);
    t.unpriced += c.unpriced.load(kRelaxed);
    t.estimated += c.estimated.load(kRelaxed);
    for (std::size_t i = 0; i < t.status.size(); ++i) t.status[i] += c.status[i].load(kRelaxed);
    for (std::size_t i = 0; i < t.buckets.size(); ++i) t.buckets[i] += c.buckets[i].load(kRelaxed);
    t.first_byte_ns += c.first_byte_ns.load(kRelaxed);
    t.first_byte_count += c.first_byte_count.load(kRelaxed);
    for (std::size_t i = 0; i < t.first_byte_buckets.size(); ++i) {
      t.first_byte_buckets[i] += c.first_byte_buckets[i].load(kRelaxed);
    }
  }
  return t;
}

std::string Metrics::prometheus_text() const {
  std::string requests, tokens, cost, errors, disconnects, hist, attempts, fallbacks, hedges;
  std::string first_byte;
  std::string unpriced, estimated;
  const auto n = route_count();
  for (std::size_t r = 0; r < n; ++r) {
    const auto t = sum(r);
    if (r == kNoRoute && t.requests == 0) continue;
    const auto labels = "model=\"" + label(routes_[r].model) + "\",deployment=\"" +
                        label(routes_[r].deployment) + "\",provider=\"" +
                        label(routes_[r].provider) + "\"";
    if (r != kNoRoute) {
      attempts +=
          "shepherd_upstream_attempts_total{" + labels + "} " + std::to_string(t.attempts) + "\n";
      fallbacks +=
          "shepherd_fallback_requests_total{" + labels + "} " + std::to_string(t.fallbacks) + "\n";
      hedges += "shepherd_hedged_requests_total{" + labels + "} " + std::to_string(t.hedges) + "\n";
      unpriced +=
          "shepherd_unpriced_requests_total{" + labels + "} " + std::to_string(t.unpriced) + "\n";
      estimated += "shepherd_estimated_usage_requests_total{" + labels + "} " +
                   std::to_string(t.estimated) + "\n";
    }
    for (std::size_t i = 0; i < t.status.size(); ++i) {
      if (t.status[i] == 0) continue;
      const auto status =
          i < kTrackedStatuses.size() ? std::to_string(kTrackedStatuses[i]) : "other";
      requests += "shepherd_requests_total{" + labels + ",status=\"" + status + "\"} " +
                  std::to_string(t.status[i]) + "\n";
    }
    errors += "shepherd_request_errors_total{" + labels + "} " + std::to_string(t.errors) + "\n";
    disconnects +=
        "shepherd_client_disconnects_total{" + labels + "} " + std::to_string(t.disconnects) + "\n";
    tokens +=
        "shepherd_tokens_total{" + labels + ",kind=\"prompt\"} " + std::to_string(t.prompt) + "\n";
    tokens += "shepherd_tokens_total{" + labels + ",kind=\"completion\"} " +
              std::to_string(t.completion) + "\n";
    tokens +=
        "shepherd_tokens_total{" + labels + ",kind=\"cached\"} " + std::to_string(t.cached) + "\n";
    tokens += "shepherd_tokens_total{" + labels + ",kind=\"reasoning\"} " +
              std::to_string(t.reasoning) + "\n";
    cost += "shepherd_cost_usd_total{" + labels + "} " +
            number(static_cast<double>(t.cost_nano) / 1e9) + "\n";
    histogram(hist, "shepherd_request_duration_seconds", labels, t.buckets, t.latency_ns,
              t.requests);
    if (r != kNoRoute) {
      histogram(first_byte, "shepherd_time_to_first_token_seconds", labels, t.first_byte_buckets,
                t.first_byte_ns, t.first_byte_count);
    }
  }
  const double uptime =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
  return "# HELP shepherd_requests_total Requests answered, by model, provider and status.\n"
         "# TYPE shepherd_requests_total counter\n" +
         requests +
         "# HELP shepherd_request_errors_total Requests that did not end in a complete answer.\n"
         "# TYPE shepherd_request_errors_total counter\n" +
         errors +
         "# HELP shepherd_client_disconnects_total Requests whose client left before the end.\n"
         "# TYPE shepherd_client_disconnects_total counter\n" +
         disconnects +
         "# HELP shepherd_tokens_total Tokens reported by upstreams; cached (read from the "
         "provider's cache) are part of prompt, reasoning part of completion.\n"
         "# TYPE shepherd_tokens_total counter\n" +
         tokens +
         "# HELP shepherd_cost_usd_total Cost of the tokens at the configured prices.\n"
         "# TYPE shepherd_cost_usd_total counter\n" +
         cost +
         "# HELP shepherd_unpriced_requests_total Requests with token usage served by a "
         "deployment without a price (their cost counts as 0).\n"
         "# TYPE shepherd_unpriced_requests_total counter\n" +
         unpriced +
         "# HELP shepherd_estimated_usage_requests_total Requests whose upstream reported no "
         "usage: their tokens are Shepherd's estimate (about four bytes per token).\n"
         "# TYPE shepherd_estimated_usage_requests_total counter\n" +
         estimated +
         "# HELP shepherd_request_duration_seconds Time from request to the end of the answer.\n"
         "# TYPE shepherd_request_duration_seconds histogram\n" +
         hist +
         "# HELP shepherd_upstream_attempts_total Upstream attempts (retries and hedges included) "
         "of requests that ended on this deployment.\n"
         "# TYPE shepherd_upstream_attempts_total counter\n" +
         attempts +
         "# HELP shepherd_fallback_requests_total Requests served by a fallback model.\n"
         "# TYPE shepherd_fallback_requests_total counter\n" +
         fallbacks +
         "# HELP shepherd_hedged_requests_total Requests for which a hedged second attempt "
         "started.\n"
         "# TYPE shepherd_hedged_requests_total counter\n" +
         hedges +
         "# HELP shepherd_time_to_first_token_seconds Time from request to the first byte of "
         "the answer: a stream's first event, or a whole answer's head.\n"
         "# TYPE shepherd_time_to_first_token_seconds histogram\n" +
         first_byte +
         "# HELP shepherd_uptime_seconds Seconds since start.\n"
         "# TYPE shepherd_uptime_seconds gauge\n"
         "shepherd_uptime_seconds " +
         number(uptime) + "\n" + key_text() + pool_text() +
         "# HELP shepherd_config_reloads_total Config reloads (SIGHUP or the admin API), by "
         "outcome.\n"
         "# TYPE shepherd_config_reloads_total counter\n"
         "shepherd_config_reloads_total{outcome=\"applied\"} " +
         std::to_string(reloads_applied_.load(kRelaxed)) +
         "\nshepherd_config_reloads_total{outcome=\"refused\"} " +
         std::to_string(reloads_refused_.load(kRelaxed)) +
         "\n# HELP shepherd_build_info The running build.\n"
         "# TYPE shepherd_build_info gauge\n"
         "shepherd_build_info{version=\"" SHEPHERD_VERSION "\"} 1\n";
}

std::string Metrics::stats_json() const {
  namespace json = boost::json;
  json::array rows;
  std::uint64_t all_requests = 0, all_errors = 0, all_tokens = 0, all_latency = 0;
  const auto n = route_count();
  for (std::size_t r = 1; r < n; ++r) {
    const auto t = sum(r);
    const auto ok = t.requests - t.errors;
    all_requests += t.requests;
    all_errors += t.errors;
    all_tokens += t.prompt + t.completion;
    all_latency += t.latency_ns;
    rows.push_back(json::object{
        {"model", routes_[r].model},
        {"deployment", routes_[r].deployment},
        {"provider", routes_[r].provider},
        {"requests", t.requests},
        {"successes", ok},
        {"errors", t.errors},
        {"client_disconnects", t.disconnects},
        {"success_rate",
         api::rounded(t.requests ? static_cast<double>(ok) / static_cast<double>(t.requests) : 1.0,
                      4)},
        {"avg_latency_ms", api::rounded(t.requests ? static_cast<double>(t.latency_ns) / 1e6 /
                                                         static_cast<double>(t.requests)
                                                   : 0.0,
                                        3)},
        {"avg_time_to_first_token_ms",
         api::rounded(t.first_byte_count ? static_cast<double>(t.first_byte_ns) / 1e6 /
                                               static_cast<double>(t.first_byte_count)
                                         : 0.0,
                      3)},
        {"prompt_tokens", t.prompt},
        {"completion_tokens", t.completion},
        {"cached_tokens", t.cached},
        {"reasoning_tokens", t.reasoning},
        {"total_tokens", t.prompt + t.completion},
        {"cost_usd", api::rounded(static_cast<double>(t.cost_nano) / 1e9, 9)},
    });
  }
  const auto refused = sum(kNoRoute);
  json::object totals{
      {"requests", all_requests},
      {"errors", all_errors},
      {"success_rate", api::rounded(all_requests ? static_cast<double>(all_requests - all_errors) /
                                                       static_cast<double>(all_requests)
                                                 : 1.0,
                                    4)},
      {"avg_latency_ms", api::rounded(all_requests ? static_cast<double>(all_latency) / 1e6 /
                                                         static_cast<double>(all_requests)
                                                   : 0.0,
                                      3)},
      {"total_tokens", all_tokens},
      {"refused_before_routing", refused.requests},
  };
  const double uptime =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
  return api::json_text(json::object{{"uptime_seconds", api::rounded(uptime, 2)},
                                     {"totals", std::move(totals)},
                                     {"routes", std::move(rows)}});
}

}  // namespace shepherd::observability
