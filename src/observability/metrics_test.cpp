#include "observability/metrics.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "base/slots.hpp"

namespace shepherd::observability {
namespace {

// Metrics with the routes of one config, addressed as before: metrics.route(model, deployment).
struct TestMetrics : Metrics {
  TestMetrics(const config::Config& config, int threads)
      : Metrics(threads), table(add_routes(config).value()) {}
  std::size_t route(std::size_t m, std::size_t d) const { return table.route(m, d); }
  RouteTable table;
};

namespace json = boost::json;
using namespace std::chrono_literals;

// Model "m" has two deployments (p priced, q free); the others test label escaping.
constexpr std::string_view kConfig = R"(
providers:
  p:
    base_url: http://p.example/v1
  q:
    base_url: http://q.example/v1
models:
  m:
    deployments:
      - provider: p
        price: {input: 2.5, output: 10}
      - provider: q
  'we"ird\model':
    deployments:
      - provider: p
  "line\nbreak":
    deployments:
      - provider: q
        price: {input: 1, output: 1}
)";

config::Config test_config() {
  auto r = config::parse_config(kConfig, [](const std::string&) { return std::nullopt; });
  EXPECT_TRUE(r.ok()) << r.error().message;
  return r.ok() ? std::move(r).value() : config::Config{};
}

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

// The value of the sample whose name and labels are exactly `series`, e.g.
// `shepherd_tokens_total{model="m",deployment="m@p",provider="p",kind="prompt"}`; nullopt when
// absent.
std::optional<std::string> sample(const std::string& text, const std::string& series) {
  std::optional<std::string> found;
  for (const auto& line : lines(text)) {
    if (line.size() > series.size() && line.compare(0, series.size(), series) == 0 &&
        line[series.size()] == ' ') {
      EXPECT_FALSE(found.has_value()) << "duplicate series " << series;
      found = line.substr(series.size() + 1);
    }
  }
  return found;
}

bool has_line(const std::string& text, const std::string& line) {
  const auto all = lines(text);
  return std::find(all.begin(), all.end(), line) != all.end();
}

json::object parse_stats(const std::string& text) {
  boost::system::error_code ec;
  auto v = json::parse(text, ec);
  EXPECT_FALSE(ec) << text;
  EXPECT_TRUE(v.is_object()) << text;
  return v.is_object() ? v.get_object() : json::object{};
}

const json::object& route_stats(const json::object& stats, std::size_t i) {
  return stats.at("routes").as_array().at(i).as_object();
}

std::string str(const json::value& v) {
  EXPECT_TRUE(v.is_string()) << json::serialize(v);
  return v.is_string() ? std::string(v.get_string()) : std::string();
}
std::uint64_t u64(const json::value& v) { return v.to_number<std::uint64_t>(); }
double dbl(const json::value& v) { return v.to_number<double>(); }

Metrics::Outcome ok_outcome(std::chrono::nanoseconds latency,
                            std::optional<api::Usage> usage = std::nullopt) {
  Metrics::Outcome o;
  o.status = 200;
  o.ok = true;
  o.latency = latency;
  o.usage = usage;
  return o;
}

Metrics::Outcome error_outcome(int status) {
  Metrics::Outcome o;
  o.status = status;
  o.ok = false;
  o.latency = 1ms;
  return o;
}

constexpr const char* kMP = R"(model="m",deployment="m@p",provider="p")";
constexpr const char* kMQ = R"(model="m",deployment="m@q",provider="q")";

TEST(Metrics, RouteIndexesFollowConfigOrder) {
  const auto config = test_config();
  TestMetrics metrics(config, 1);
  EXPECT_EQ(Metrics::kNoRoute, 0u);
  EXPECT_EQ(metrics.route(0, 0), 1u);
  EXPECT_EQ(metrics.route(0, 1), 2u);
  EXPECT_EQ(metrics.route(1, 0), 3u);
  EXPECT_EQ(metrics.route(2, 0), 4u);
}

TEST(Metrics, RoutesMapToTheirModelAndProvider) {
  const auto config = test_config();
  TestMetrics metrics(config, 1);
  metrics.record(0, metrics.route(0, 1), ok_outcome(1ms));
  const auto text = metrics.prometheus_text();
  EXPECT_TRUE(has_line(text, std::string("shepherd_requests_total{") + kMQ + ",status=\"200\"} 1"))
      << text;
  EXPECT_FALSE(sample(text, std::string("shepherd_requests_total{") + kMP + ",status=\"200\"}"));

  const auto stats = parse_stats(metrics.stats_json());
  ASSERT_EQ(stats.at("routes").as_array().size(), 4u);
  EXPECT_EQ(str(route_stats(stats, 1).at("model")), "m");
  EXPECT_EQ(str(route_stats(stats, 1).at("deployment")), "m@q");
  EXPECT_EQ(str(route_stats(stats, 1).at("provider")), "q");
  EXPECT_EQ(u64(route_stats(stats, 1).at("requests")), 1u);
  EXPECT_EQ(u64(route_stats(stats, 0).at("requests")), 0u);
}

TEST(Metrics, TrafficOnAnUnpricedDeploymentIsCountedAndReportedOnce) {
  const auto config = test_config();
  TestMetrics metrics(config, 2);
  const auto priced = metrics.route(0, 0), unpriced = metrics.route(0, 1);
  EXPECT_FALSE(metrics.record(0, priced, ok_outcome(1ms, api::Usage{10, 10, 20, 0, 0})));
  // The first usage on the unpriced route asks for a warning; later ones, on any shard, do not.
  EXPECT_TRUE(metrics.record(0, unpriced, ok_outcome(1ms, api::Usage{10, 10, 20, 0, 0})));
  EXPECT_FALSE(metrics.record(1, unpriced, ok_outcome(1ms, api::Usage{10, 10, 20, 0, 0})));
  // Without usage there is nothing to price.
  EXPECT_FALSE(metrics.record(0, unpriced, ok_outcome(1ms)));
  const auto text = metrics.prometheus_text();
  EXPECT_EQ(sample(text, std::string("shepherd_unpriced_requests_total{") + kMQ + "}"), "2");
  EXPECT_EQ(sample(text, std::string("shepherd_unpriced_requests_total{") + kMP + "}"), "0");
}

TEST(Metrics, RecordsOnDifferentShardsAreSummed) {
  const auto config = test_config();
  TestMetrics metrics(config, 2);
  const auto route = metrics.route(0, 0);
  metrics.record(0, route, ok_outcome(10ms, api::Usage{100, 50, 150, 0, 0}));
  metrics.record(1, route, ok_outcome(30ms, api::Usage{200, 25, 225, 0, 0}));

  const auto text = metrics.prometheus_text();
  EXPECT_TRUE(has_line(text, std::string("shepherd_requests_total{") + kMP + ",status=\"200\"} 2"))
      << text;
  EXPECT_EQ(sample(text, std::string("shepherd_tokens_total{") + kMP + ",kind=\"prompt\"}"), "300");
  EXPECT_EQ(sample(text, std::string("shepherd_tokens_total{") + kMP + ",kind=\"completion\"}"),
            "75");
  EXPECT_EQ(sample(text, std::string("shepherd_request_errors_total{") + kMP + "}"), "0");
  EXPECT_EQ(sample(text, std::string("shepherd_request_duration_seconds_count{") + kMP + "}"), "2");
  EXPECT_EQ(sample(text, std::string("shepherd_request_duration_seconds_sum{") + kMP + "}"),
            "0.04");

  const auto stats = parse_stats(metrics.stats_json());
  const auto& row = route_stats(stats, 0);
  EXPECT_EQ(str(row.at("model")), "m");
  EXPECT_EQ(str(row.at("deployment")), "m@p");
  EXPECT_EQ(str(row.at("provider")), "p");
  EXPECT_EQ(u64(row.at("requests")), 2u);
  EXPECT_EQ(u64(row.at("successes")), 2u);
  EXPECT_EQ(u64(row.at("errors")), 0u);
  EXPECT_EQ(u64(row.at("prompt_tokens")), 300u);
  EXPECT_EQ(u64(row.at("completion_tokens")), 75u);
  EXPECT_EQ(u64(row.at("total_tokens")), 375u);
  EXPECT_DOUBLE_EQ(dbl(row.at("success_rate")), 1.0);
  EXPECT_DOUBLE_EQ(dbl(row.at("avg_latency_ms")), 20.0);
  const auto& totals = stats.at("totals").as_object();
  EXPECT_EQ(u64(totals.at("requests")), 2u);
  EXPECT_EQ(u64(totals.at("total_tokens")), 375u);
  EXPECT_DOUBLE_EQ(dbl(totals.at("avg_latency_ms")), 20.0);
  EXPECT_GE(dbl(stats.at("uptime_seconds")), 0.0);
}

TEST(Metrics, ConcurrentThreadsEachWritingTheirShardAreSummed) {
  const auto config = test_config();
  TestMetrics metrics(config, 2);
  const auto route = metrics.route(0, 1);
  constexpr int kPerThread = 5000;
  auto work = [&](int thread) {
    for (int i = 0; i < kPerThread; ++i) {
      metrics.record(thread, route, ok_outcome(2ms, api::Usage{3, 4, 7, 0, 0}));
    }
  };
  std::thread t0(work, 0);
  std::thread t1(work, 1);
  t0.join();
  t1.join();
  const auto text = metrics.prometheus_text();
  EXPECT_EQ(sample(text, std::string("shepherd_requests_total{") + kMQ + ",status=\"200\"}"),
            std::to_string(2 * kPerThread));
  EXPECT_EQ(sample(text, std::string("shepherd_tokens_total{") + kMQ + ",kind=\"prompt\"}"),
            std::to_string(2 * 3 * kPerThread));
  const auto stats = parse_stats(metrics.stats_json());
  EXPECT_EQ(u64(route_stats(stats, 1).at("completion_tokens")), 2u * 4 * kPerThread);
}

TEST(Metrics, HistogramBucketsAreCumulativeAndInfEqualsCount) {
  const auto config = test_config();
  TestMetrics metrics(config, 1);
  const auto route = metrics.route(0, 0);
  for (auto latency : {std::chrono::nanoseconds(500us), std::chrono::nanoseconds(1ms),
                       std::chrono::nanoseconds(3ms), std::chrono::nanoseconds(2s),
                       std::chrono::nanoseconds(200s), std::chrono::nanoseconds(-5ms)}) {
    metrics.record(0, route, ok_outcome(latency));
  }
  const auto text = metrics.prometheus_text();
  const std::string bucket = std::string("shepherd_request_duration_seconds_bucket{") + kMP;
  // 500us, 1ms (a bound is inclusive) and a negative latency (counted as 0) are <= 0.001.
  EXPECT_TRUE(has_line(text, bucket + ",le=\"0.001\"} 3")) << text;
  EXPECT_TRUE(has_line(text, bucket + ",le=\"0.0025\"} 3"));
  EXPECT_TRUE(has_line(text, bucket + ",le=\"0.005\"} 4"));
  EXPECT_TRUE(has_line(text, bucket + ",le=\"1\"} 4"));
  EXPECT_TRUE(has_line(text, bucket + ",le=\"2.5\"} 5"));
  EXPECT_TRUE(has_line(text, bucket + ",le=\"120\"} 5"));
  EXPECT_TRUE(has_line(text, bucket + ",le=\"+Inf\"} 6"));
  EXPECT_EQ(sample(text, std::string("shepherd_request_duration_seconds_count{") + kMP + "}"), "6");
  EXPECT_EQ(sample(text, std::string("shepherd_request_duration_seconds_sum{") + kMP + "}"),
            "202.0045");

  // Every bound is present once, in order, and counts never decrease.
  std::vector<std::uint64_t> counts;
  for (double le : kLatencyBuckets) {
    char bound[32];
    std::snprintf(bound, sizeof bound, "%.9g", le);
    const auto v = sample(text, bucket + ",le=\"" + bound + "\"}");
    ASSERT_TRUE(v.has_value()) << "no bucket " << bound;
    counts.push_back(std::stoull(*v));
  }
  EXPECT_TRUE(std::is_sorted(counts.begin(), counts.end()));
  EXPECT_LE(counts.back(), 6u);
}

TEST(Metrics, CountsErrorsStatusesAndDisconnects) {
  const auto config = test_config();
  TestMetrics metrics(config, 1);
  const auto route = metrics.route(0, 0);
  metrics.record(0, route, error_outcome(502));
  metrics.record(0, route, error_outcome(418));
  metrics.record(0, route, error_outcome(299));
  auto cut = ok_outcome(1ms);
  cut.ok = false;
  cut.stream_failed = true;
  cut.client_disconnected = true;
  metrics.record(0, route, cut);
  metrics.record(0, route, ok_outcome(1ms));

  const auto text = metrics.prometheus_text();
  const std::string requests = std::string("shepherd_requests_total{") + kMP;
  EXPECT_TRUE(has_line(text, requests + ",status=\"502\"} 1")) << text;
  EXPECT_TRUE(has_line(text, requests + ",status=\"other\"} 2")) << text;
  EXPECT_TRUE(has_line(text, requests + ",status=\"200\"} 2")) << text;
  EXPECT_FALSE(sample(text, requests + ",status=\"404\"}"));
  EXPECT_EQ(sample(text, std::string("shepherd_request_errors_total{") + kMP + "}"), "4");
  EXPECT_EQ(sample(text, std::string("shepherd_client_disconnects_total{") + kMP + "}"), "1");

  const auto stats = parse_stats(metrics.stats_json());
  const auto& row = route_stats(stats, 0);
  EXPECT_EQ(u64(row.at("requests")), 5u);
  EXPECT_EQ(u64(row.at("errors")), 4u);
  EXPECT_EQ(u64(row.at("successes")), 1u);
  EXPECT_EQ(u64(row.at("client_disconnects")), 1u);
  EXPECT_DOUBLE_EQ(dbl(row.at("success_rate")), 0.2);
  EXPECT_DOUBLE_EQ(dbl(stats.at("totals").at("success_rate")), 0.2);
  EXPECT_EQ(u64(stats.at("totals").at("errors")), 4u);
}

TEST(Metrics, EscapesQuotesBackslashesAndNewlinesInLabels) {
  const auto config = test_config();
  TestMetrics metrics(config, 1);
  metrics.record(0, metrics.route(1, 0), ok_outcome(1ms));
  metrics.record(0, metrics.route(2, 0), ok_outcome(1ms));
  const auto text = metrics.prometheus_text();
  EXPECT_TRUE(has_line(
      text,
      R"(shepherd_requests_total{model="we\"ird\\model",deployment="we\"ird\\model@p",provider="p",status="200"} 1)"))
      << text;
  EXPECT_TRUE(has_line(
      text,
      R"(shepherd_requests_total{model="line\nbreak",deployment="line\nbreak@q",provider="q",status="200"} 1)"))
      << text;

  // The JSON keeps the names as they are.
  const auto stats = parse_stats(metrics.stats_json());
  EXPECT_EQ(str(route_stats(stats, 2).at("model")), "we\"ird\\model");
  EXPECT_EQ(str(route_stats(stats, 3).at("model")), "line\nbreak");
  EXPECT_EQ(str(route_stats(stats, 2).at("deployment")), "we\"ird\\model@p");
  EXPECT_EQ(str(route_stats(stats, 3).at("deployment")), "line\nbreak@q");
}

TEST(Metrics, AccumulatesCostFromConfiguredPrices) {
  const auto config = test_config();
  TestMetrics metrics(config, 2);
  // At $2.5 / $10 per million: 1000 prompt + 500 completion cost $0.0075.
  metrics.record(0, metrics.route(0, 0), ok_outcome(1ms, api::Usage{1000, 500, 1500, 0, 0}));
  metrics.record(1, metrics.route(0, 0), ok_outcome(1ms, api::Usage{1000, 500, 1500, 0, 0}));
  // Provider q has no price for model m: tokens count, cost stays 0.
  metrics.record(0, metrics.route(0, 1), ok_outcome(1ms, api::Usage{1000, 500, 1500, 0, 0}));
  // At $1 / $1 per million: 3 million tokens cost $3.
  metrics.record(0, metrics.route(2, 0),
                 ok_outcome(1ms, api::Usage{1'000'000, 2'000'000, 0, 0, 0}));

  const auto text = metrics.prometheus_text();
  EXPECT_TRUE(has_line(text, std::string("shepherd_cost_usd_total{") + kMP + "} 0.015")) << text;
  EXPECT_TRUE(has_line(text, std::string("shepherd_cost_usd_total{") + kMQ + "} 0")) << text;
  EXPECT_TRUE(has_line(
      text,
      R"(shepherd_cost_usd_total{model="line\nbreak",deployment="line\nbreak@q",provider="q"} 3)"))
      << text;
  EXPECT_EQ(sample(text, std::string("shepherd_tokens_total{") + kMQ + ",kind=\"prompt\"}"),
            "1000");

  const auto stats = parse_stats(metrics.stats_json());
  EXPECT_NEAR(dbl(route_stats(stats, 0).at("cost_usd")), 0.015, 1e-12);
  EXPECT_EQ(dbl(route_stats(stats, 1).at("cost_usd")), 0.0);
  EXPECT_NEAR(dbl(route_stats(stats, 3).at("cost_usd")), 3.0, 1e-12);
}

TEST(Metrics, RequestsWithoutUsageAddNoTokensOrCost) {
  const auto config = test_config();
  TestMetrics metrics(config, 1);
  metrics.record(0, metrics.route(0, 0), ok_outcome(1ms));
  const auto text = metrics.prometheus_text();
  EXPECT_EQ(sample(text, std::string("shepherd_tokens_total{") + kMP + ",kind=\"prompt\"}"), "0");
  EXPECT_EQ(sample(text, std::string("shepherd_cost_usd_total{") + kMP + "}"), "0");
}

TEST(Metrics, RefusedRequestsAreCountedUnderNoRoute) {
  const auto config = test_config();
  TestMetrics metrics(config, 1);
  const std::string no_route = R"(shepherd_requests_total{model="",deployment="",provider="")";
  EXPECT_FALSE(sample(metrics.prometheus_text(), no_route + ",status=\"401\"}"));

  metrics.record(0, Metrics::kNoRoute, error_outcome(401));
  metrics.record(0, Metrics::kNoRoute, error_outcome(404));
  const auto text = metrics.prometheus_text();
  EXPECT_TRUE(has_line(text, no_route + ",status=\"401\"} 1")) << text;
  EXPECT_TRUE(has_line(text, no_route + ",status=\"404\"} 1")) << text;

  const auto stats = parse_stats(metrics.stats_json());
  EXPECT_EQ(u64(stats.at("totals").at("refused_before_routing")), 2u);
  EXPECT_EQ(u64(stats.at("totals").at("requests")), 0u);
  EXPECT_EQ(stats.at("routes").as_array().size(), 4u);  // route 0 is not a row
}

TEST(Metrics, EmptyMetricsAreWellFormed) {
  const auto config = test_config();
  TestMetrics metrics(config, 3);
  const auto stats = parse_stats(metrics.stats_json());
  EXPECT_EQ(u64(stats.at("totals").at("requests")), 0u);
  EXPECT_DOUBLE_EQ(dbl(stats.at("totals").at("success_rate")), 1.0);
  EXPECT_DOUBLE_EQ(dbl(stats.at("totals").at("avg_latency_ms")), 0.0);
  EXPECT_DOUBLE_EQ(dbl(route_stats(stats, 0).at("success_rate")), 1.0);

  const auto text = metrics.prometheus_text();
  EXPECT_FALSE(sample(text, std::string("shepherd_requests_total{") + kMP + ",status=\"200\"}"));
  EXPECT_EQ(sample(text, std::string("shepherd_request_errors_total{") + kMP + "}"), "0");
  EXPECT_EQ(sample(text, std::string("shepherd_request_duration_seconds_bucket{") + kMP +
                             ",le=\"+Inf\"}"),
            "0");
  EXPECT_TRUE(sample(text, "shepherd_uptime_seconds").has_value());
}

TEST(Metrics, EveryFamilyHasHelpAndTypeBeforeItsSamples) {
  const auto config = test_config();
  TestMetrics metrics(config, 1);
  metrics.record(0, metrics.route(0, 0), ok_outcome(1ms, api::Usage{1, 1, 2, 0, 0}));
  const auto all = lines(metrics.prometheus_text());
  const std::vector<std::pair<std::string, std::string>> families = {
      {"shepherd_requests_total", "counter"},
      {"shepherd_request_errors_total", "counter"},
      {"shepherd_client_disconnects_total", "counter"},
      {"shepherd_tokens_total", "counter"},
      {"shepherd_cost_usd_total", "counter"},
      {"shepherd_request_duration_seconds", "histogram"},
      {"shepherd_upstream_attempts_total", "counter"},
      {"shepherd_uptime_seconds", "gauge"},
  };
  for (const auto& family : families) {
    const std::string& name = family.first;
    const std::string& type = family.second;
    const auto help = std::find_if(all.begin(), all.end(), [&](const std::string& l) {
      return l.rfind("# HELP " + name + " ", 0) == 0;
    });
    ASSERT_NE(help, all.end()) << name;
    ASSERT_NE(help + 1, all.end());
    EXPECT_EQ(*(help + 1), "# TYPE " + name + " " + type);
    ASSERT_NE(help + 2, all.end());
    EXPECT_EQ((help + 2)->rfind(name, 0), 0u) << *(help + 2);
  }
  for (const auto& line : all) {
    if (line.empty() || line[0] == '#') continue;
    EXPECT_EQ(line.rfind("shepherd_", 0), 0u) << line;
    EXPECT_NE(line.find(' '), std::string::npos) << line;
  }
}

// Hand-built configs for add_routes(): parse_config() would reject some of these ids.
config::DeploymentConfig deployment(std::string id, std::string provider, double input = 0,
                                    double output = 0) {
  config::DeploymentConfig d;
  d.id = std::move(id);
  d.provider = std::move(provider);
  d.price.input_per_million = input;
  d.price.output_per_million = output;
  return d;
}

config::Config one_model(std::string name, std::vector<config::DeploymentConfig> deployments) {
  config::Config c;
  auto& m = c.models.emplace_back();
  m.name = std::move(name);
  m.deployments = std::move(deployments);
  return c;
}

// `n` deployments "d<first>" .. "d<first + n - 1>" of one model.
config::Config many_deployments(std::size_t first, std::size_t n) {
  std::vector<config::DeploymentConfig> ds;
  for (std::size_t i = first; i < first + n; ++i)
    ds.push_back(deployment("d" + std::to_string(i), "p"));
  return one_model("big", std::move(ds));
}

std::size_t route_rows(const Metrics& metrics) {
  return parse_stats(metrics.stats_json()).at("routes").as_array().size();
}

TEST(Metrics, AddRoutesKeepsKnownDeploymentsAndTakesTheirNewPrices) {
  TestMetrics metrics(test_config(), 1);
  const auto old_p = metrics.route(0, 0);
  const auto old_q = metrics.route(0, 1);
  metrics.record(0, old_p, ok_outcome(1ms, api::Usage{1000, 500, 1500, 0, 0}));
  metrics.record(0, old_q, ok_outcome(1ms, api::Usage{10, 10, 20, 0, 0}));

  // A new model first (so positions shift), m@p unchanged, m@q with a price now.
  auto second = config::parse_config(R"(
providers:
  p:
    base_url: http://p.example/v1
  q:
    base_url: http://q.example/v1
models:
  n:
    deployments:
      - provider: p
  m:
    deployments:
      - provider: p
        price: {input: 2.5, output: 10}
      - provider: q
        price: {input: 1, output: 2}
)",
                                     [](const std::string&) { return std::nullopt; });
  ASSERT_TRUE(second.ok()) << second.error().message;
  auto table = metrics.add_routes(second.value());
  ASSERT_TRUE(table.ok()) << table.error().message;
  const auto& routes = table.value();
  ASSERT_EQ(routes.routes.size(), 2u);
  ASSERT_EQ(routes.routes[1].size(), 2u);
  const auto new_n = routes.route(0, 0);
  const auto new_p = routes.route(1, 0);
  const auto new_q = routes.route(1, 1);
  EXPECT_EQ(new_p, old_p);
  EXPECT_EQ(new_q, old_q);  // same model, id and provider: one series, whatever the price
  EXPECT_EQ(new_n, 5u);     // after the four routes of the first config
  EXPECT_EQ(route_rows(metrics), 5u);

  metrics.record(0, new_p, ok_outcome(1ms, api::Usage{1000, 500, 1500, 0, 0}));
  metrics.record(0, new_q, ok_outcome(1ms, api::Usage{1'000'000, 1'000'000, 0, 0, 0}));

  // m@p's counters continue across the reload.
  const auto text = metrics.prometheus_text();
  EXPECT_TRUE(has_line(text, std::string("shepherd_requests_total{") + kMP + ",status=\"200\"} 2"))
      << text;
  EXPECT_EQ(sample(text, std::string("shepherd_tokens_total{") + kMP + ",kind=\"prompt\"}"),
            "2000");
  EXPECT_TRUE(has_line(text, std::string("shepherd_cost_usd_total{") + kMP + "} 0.015")) << text;

  // m@q continues too; requests after the reload are priced at the new price (the first was
  // free), and the Prometheus output has one series for it, not two.
  const auto stats = parse_stats(metrics.stats_json());
  const auto& q_row = route_stats(stats, new_q - 1);
  EXPECT_EQ(str(q_row.at("deployment")), "m@q");
  EXPECT_EQ(u64(q_row.at("requests")), 2u);
  EXPECT_NEAR(dbl(q_row.at("cost_usd")), 3.0, 1e-12);
  std::size_t q_series = 0;
  for (auto at = text.find(std::string("shepherd_cost_usd_total{") + kMQ); at != std::string::npos;
       at = text.find(std::string("shepherd_cost_usd_total{") + kMQ, at + 1)) {
    ++q_series;
  }
  EXPECT_EQ(q_series, 1u) << text;
  EXPECT_EQ(str(route_stats(stats, new_n - 1).at("model")), "n");
  EXPECT_EQ(str(route_stats(stats, new_n - 1).at("deployment")), "n@p");

  // Adding the same config again changes nothing.
  auto again = metrics.add_routes(second.value());
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again.value().routes, routes.routes);
  EXPECT_EQ(route_rows(metrics), 5u);
}

TEST(Metrics, AddRoutesMatchesOnModelIdAndProviderNotPrices) {
  Metrics metrics(1);
  const auto base = metrics.add_routes(one_model("m", {deployment("a", "p", 1, 2)}));
  ASSERT_TRUE(base.ok());
  EXPECT_EQ(base.value().route(0, 0), 1u);
  const config::Config variants[] = {
      one_model("other", {deployment("a", "p", 1, 2)}),  // model
      one_model("m", {deployment("b", "p", 1, 2)}),      // deployment id
      one_model("m", {deployment("a", "q", 1, 2)}),      // provider
  };
  std::size_t expected = 2;
  for (const auto& variant : variants) {
    const auto table = metrics.add_routes(variant);
    ASSERT_TRUE(table.ok());
    EXPECT_EQ(table.value().route(0, 0), expected++) << variant.models[0].name;
  }
  for (const auto& repriced : {one_model("m", {deployment("a", "p", 3, 2)}),
                               one_model("m", {deployment("a", "p", 1, 3)})}) {
    const auto same = metrics.add_routes(repriced);
    ASSERT_TRUE(same.ok());
    EXPECT_EQ(same.value().route(0, 0), 1u);
  }
  EXPECT_EQ(route_rows(metrics), 4u);
}

TEST(Metrics, AddRoutesFailsBeyondMaxRoutes) {
  Metrics metrics(1);
  // Route 0 is "no route": kMaxRoutes - 1 deployments fit.
  const auto full = metrics.add_routes(many_deployments(0, Metrics::kMaxRoutes - 1));
  ASSERT_TRUE(full.ok()) << full.error().message;
  EXPECT_EQ(full.value().route(0, Metrics::kMaxRoutes - 2), Metrics::kMaxRoutes - 1);
  EXPECT_EQ(route_rows(metrics), Metrics::kMaxRoutes - 1);

  // One more deployment, together with ones already known: refused, nothing added.
  const auto over = metrics.add_routes(many_deployments(Metrics::kMaxRoutes - 10, 10));
  ASSERT_FALSE(over.ok());
  EXPECT_NE(over.error().message.find("metric routes"), std::string::npos) << over.error().message;
  EXPECT_EQ(route_rows(metrics), Metrics::kMaxRoutes - 1);

  // Known deployments still resolve, and the last route still counts.
  const auto known = metrics.add_routes(many_deployments(5, 3));
  ASSERT_TRUE(known.ok()) << known.error().message;
  EXPECT_EQ(known.value().route(0, 0), 6u);
  metrics.record(0, Metrics::kMaxRoutes - 1, ok_outcome(1ms));
  const auto stats = parse_stats(metrics.stats_json());
  EXPECT_EQ(str(route_stats(stats, Metrics::kMaxRoutes - 2).at("deployment")),
            "d" + std::to_string(Metrics::kMaxRoutes - 2));
  EXPECT_EQ(u64(route_stats(stats, Metrics::kMaxRoutes - 2).at("requests")), 1u);
}

TEST(Metrics, AddRoutesTooManyInOneConfigAddsNone) {
  Metrics metrics(1);
  const auto over = metrics.add_routes(many_deployments(0, Metrics::kMaxRoutes));
  EXPECT_FALSE(over.ok());
  EXPECT_EQ(route_rows(metrics), 0u);
  // The routes of a config that fits can still be added afterwards.
  const auto fits = metrics.add_routes(many_deployments(0, 2));
  ASSERT_TRUE(fits.ok()) << fits.error().message;
  EXPECT_EQ(fits.value().route(0, 1), 2u);
  EXPECT_EQ(route_rows(metrics), 2u);
}

TEST(Metrics, CountsUpstreamAttemptsFallbacksAndHedges) {
  TestMetrics metrics(test_config(), 2);
  const auto route = metrics.route(0, 0);
  auto hedged = ok_outcome(1ms);
  hedged.attempts = 2;
  hedged.hedged = true;
  auto fallback = ok_outcome(1ms);
  fallback.attempts = 3;
  fallback.fallback = true;
  auto failed = error_outcome(502);
  failed.attempts = 4;
  metrics.record(0, route, hedged);
  metrics.record(1, route, fallback);
  metrics.record(0, route, fallback);
  metrics.record(1, route, failed);
  metrics.record(0, route, ok_outcome(1ms));  // attempts 0: adds nothing
  auto refused = error_outcome(401);
  refused.attempts = 7;
  metrics.record(0, Metrics::kNoRoute, refused);

  const auto text = metrics.prometheus_text();
  EXPECT_EQ(sample(text, std::string("shepherd_upstream_attempts_total{") + kMP + "}"), "12")
      << text;
  EXPECT_EQ(sample(text, std::string("shepherd_fallback_requests_total{") + kMP + "}"), "2");
  EXPECT_EQ(sample(text, std::string("shepherd_hedged_requests_total{") + kMP + "}"), "1");
  // Other routes show zeros; "no route" has no upstream series.
  EXPECT_EQ(sample(text, std::string("shepherd_upstream_attempts_total{") + kMQ + "}"), "0");
  EXPECT_EQ(sample(text, std::string("shepherd_fallback_requests_total{") + kMQ + "}"), "0");
  EXPECT_EQ(sample(text, std::string("shepherd_hedged_requests_total{") + kMQ + "}"), "0");
  EXPECT_FALSE(
      sample(text, R"(shepherd_upstream_attempts_total{model="",deployment="",provider=""})"));
  EXPECT_TRUE(has_line(
      text, R"(shepherd_requests_total{model="",deployment="",provider="",status="401"} 1)"))
      << text;
  // The other counters are unaffected.
  EXPECT_TRUE(has_line(text, std::string("shepherd_requests_total{") + kMP + ",status=\"200\"} 4"));
  EXPECT_EQ(sample(text, std::string("shepherd_request_errors_total{") + kMP + "}"), "1");
}

TEST(Metrics, EscapesTheDeploymentLabel) {
  TestMetrics metrics(one_model("plain", {deployment("a\"b\\c\nd", "p")}), 1);
  auto o = ok_outcome(1ms);
  o.attempts = 1;
  metrics.record(0, metrics.route(0, 0), o);
  const auto text = metrics.prometheus_text();
  const std::string labels = R"(model="plain",deployment="a\"b\\c\nd",provider="p")";
  EXPECT_TRUE(has_line(text, "shepherd_requests_total{" + labels + ",status=\"200\"} 1")) << text;
  EXPECT_EQ(sample(text, "shepherd_upstream_attempts_total{" + labels + "}"), "1");
  EXPECT_EQ(sample(text, "shepherd_request_duration_seconds_bucket{" + labels + ",le=\"+Inf\"}"),
            "1");
  // No raw newline splits a sample: every line is a comment or starts with a metric name.
  for (const auto& line : lines(text)) {
    EXPECT_TRUE(line.empty() || line[0] == '#' || line.rfind("shepherd_", 0) == 0) << line;
  }
  // The JSON keeps the id as it is.
  const auto stats = parse_stats(metrics.stats_json());
  EXPECT_EQ(str(route_stats(stats, 0).at("deployment")), "a\"b\\c\nd");
}

}  // namespace
}  // namespace shepherd::observability

namespace shepherd::observability {
namespace {

TEST(Metrics, TimeToFirstTokenIsAHistogramOfTheRequestsThatSentSomething) {
  const auto config = test_config();
  TestMetrics metrics(config, 2);
  const auto route = metrics.route(0, 0);
  auto sent = ok_outcome(900ms);
  sent.first_byte = 2ms;
  metrics.record(0, route, sent);
  sent.first_byte = 300ms;
  metrics.record(1, route, sent);
  metrics.record(0, route, error_outcome(502));  // nothing sent: not observed
  const auto text = metrics.prometheus_text();
  const std::string family = "shepherd_time_to_first_token_seconds";
  EXPECT_TRUE(has_line(text, "# TYPE " + family + " histogram")) << text;
  const std::string bucket = family + "_bucket{" + kMP;
  EXPECT_TRUE(has_line(text, bucket + ",le=\"0.001\"} 0")) << text;
  EXPECT_TRUE(has_line(text, bucket + ",le=\"0.0025\"} 1"));
  EXPECT_TRUE(has_line(text, bucket + ",le=\"0.25\"} 1"));
  EXPECT_TRUE(has_line(text, bucket + ",le=\"0.5\"} 2"));
  EXPECT_TRUE(has_line(text, bucket + ",le=\"+Inf\"} 2"));
  EXPECT_EQ(sample(text, family + "_count{" + kMP + "}"), "2");
  EXPECT_EQ(sample(text, family + "_sum{" + kMP + "}"), "0.302");
  EXPECT_EQ(sample(text, family + "_count{" + kMQ + "}"), "0");
  const auto stats = parse_stats(metrics.stats_json());
  EXPECT_DOUBLE_EQ(dbl(route_stats(stats, 0).at("avg_time_to_first_token_ms")), 151);
}

TEST(Metrics, PerKeySeriesNameTheBusiestKeysAndSumTheRest) {
  const auto config = test_config();
  TestMetrics metrics(config, 2);
  const auto route = metrics.route(0, 0);
  // Ids unique to this test: the slot table is process-wide.
  std::vector<std::size_t> slots;
  for (std::size_t i = 0; i < Metrics::kTopKeys + 3; ++i) {
    slots.push_back(base::key_slots().slot("key_ttest" + std::to_string(i)));
  }
  // Key i sends i + 1 requests (half on each shard); the three quietest go to "other".
  for (std::size_t i = 0; i < slots.size(); ++i) {
    for (std::size_t n = 0; n <= i; ++n) {
      auto o = ok_outcome(1ms, api::Usage{10, 5, 15, 0, 0});
      o.key_slot = slots[i];
      metrics.record(static_cast<int>(n % 2), route, o);
    }
  }
  auto failed = error_outcome(500);
  failed.key_slot = slots.back();
  metrics.record(1, route, failed);
  const auto text = metrics.prometheus_text();
  const auto last = std::to_string(slots.size() - 1);
  EXPECT_EQ(sample(text, "shepherd_key_requests_total{key=\"key_ttest" + last + "\"}"),
            std::to_string(slots.size() + 1))
      << text;
  EXPECT_EQ(sample(text, "shepherd_key_errors_total{key=\"key_ttest" + last + "\"}"), "1");
  EXPECT_EQ(sample(text, "shepherd_key_tokens_total{key=\"key_ttest" + last + "\"}"),
            std::to_string(15 * slots.size()));
  EXPECT_FALSE(sample(text, "shepherd_key_requests_total{key=\"key_ttest0\"}").has_value());
  EXPECT_FALSE(sample(text, "shepherd_key_requests_total{key=\"key_ttest2\"}").has_value());
  EXPECT_TRUE(sample(text, "shepherd_key_requests_total{key=\"key_ttest3\"}").has_value());
  EXPECT_EQ(sample(text, "shepherd_key_requests_total{key=\"other\"}"), "6");  // 1 + 2 + 3
  // Cost at m@p's prices (2.5 and 10 per 1M): 10 * 2.5e-6 + 5 * 1e-5 = 7.5e-5 per request.
  EXPECT_EQ(sample(text, "shepherd_key_cost_usd_total{key=\"other\"}"), "0.00045");
  std::size_t named = 0;
  for (const auto& line : lines(text)) {
    if (line.rfind("shepherd_key_requests_total{", 0) == 0) ++named;
  }
  EXPECT_EQ(named, Metrics::kTopKeys + 1);
}

TEST(Metrics, BudgetUseIsTheLatestPeriodsLargestOnAnyShard) {
  const auto config = test_config();
  TestMetrics metrics(config, 2);
  const auto route = metrics.route(0, 0);
  const auto slot = base::key_slots().slot("key_tbudget");
  auto o = ok_outcome(1ms);
  o.key_slot = slot;
  o.budget_period = 1000;
  o.budget_used = 0.5;
  metrics.record(0, route, o);
  o.budget_used = 0.92;
  metrics.record(1, route, o);
  auto text = metrics.prometheus_text();
  EXPECT_EQ(sample(text, "shepherd_key_budget_used_ratio{key=\"key_tbudget\"}"), "0.92") << text;
  // A new period starts from its own use, whatever the other shard saw in the last one.
  o.budget_period = 2000;
  o.budget_used = 0.01;
  metrics.record(0, route, o);
  text = metrics.prometheus_text();
  EXPECT_EQ(sample(text, "shepherd_key_budget_used_ratio{key=\"key_tbudget\"}"), "0.01");
  // A key without a budget has no budget series.
  const auto plain = base::key_slots().slot("key_tnobudget");
  auto p = ok_outcome(1ms);
  p.key_slot = plain;
  metrics.record(0, route, p);
  text = metrics.prometheus_text();
  EXPECT_TRUE(sample(text, "shepherd_key_requests_total{key=\"key_tnobudget\"}").has_value());
  EXPECT_FALSE(sample(text, "shepherd_key_budget_used_ratio{key=\"key_tnobudget\"}").has_value());
}

TEST(Metrics, UpstreamConnectionsAreSummedPerProviderWhileThePoolsLive) {
  Metrics metrics(2);
  auto a = metrics.pool_gauge("relay");
  auto b = metrics.pool_gauge("relay");
  auto c = metrics.pool_gauge("local");
  a->in_use = 3;
  a->idle = 2;
  b->in_use = 1;
  b->idle = 4;
  c->idle = 1;
  auto text = metrics.prometheus_text();
  EXPECT_EQ(sample(text, R"(shepherd_upstream_connections{provider="relay",state="open"})"), "10")
      << text;
  EXPECT_EQ(sample(text, R"(shepherd_upstream_connections{provider="relay",state="idle"})"), "6");
  EXPECT_EQ(sample(text, R"(shepherd_upstream_connections{provider="local",state="open"})"), "1");
  b.reset();  // that pool is gone (a reload replaced its provider)
  c.reset();
  text = metrics.prometheus_text();
  EXPECT_EQ(sample(text, R"(shepherd_upstream_connections{provider="relay",state="open"})"), "5");
  EXPECT_FALSE(
      sample(text, R"(shepherd_upstream_connections{provider="local",state="open"})").has_value());
}

TEST(Metrics, ReloadsAndBuildInfo) {
  Metrics metrics(1);
  metrics.count_reload(true);
  metrics.count_reload(true);
  metrics.count_reload(false);
  const auto text = metrics.prometheus_text();
  EXPECT_EQ(sample(text, R"(shepherd_config_reloads_total{outcome="applied"})"), "2");
  EXPECT_EQ(sample(text, R"(shepherd_config_reloads_total{outcome="refused"})"), "1");
  bool build = false;
  for (const auto& line : lines(text)) {
    if (line.rfind("shepherd_build_info{version=\"", 0) == 0 && line.ends_with("\"} 1")) {
      build = true;
    }
  }
  EXPECT_TRUE(build) << text;
}

TEST(Metrics, StatsNumbersReadAsPeopleWriteThem) {
  const auto config = test_config();
  TestMetrics metrics(config, 1);
  const auto route = metrics.route(0, 0);
  metrics.record(0, route, ok_outcome(1500us, api::Usage{10, 5, 15, 0, 0}));
  metrics.record(0, route, ok_outcome(2ms));
  metrics.record(0, route, error_outcome(502));
  const auto text = metrics.stats_json();
  // Boost.JSON alone writes 1 as 1E0; people read 1, 0.6667 and 1.5.
  EXPECT_EQ(text.find("E0"), std::string::npos) << text;
  EXPECT_EQ(text.find("E-"), std::string::npos) << text;
  EXPECT_NE(text.find("\"success_rate\":0.6667"), std::string::npos) << text;
  EXPECT_NE(text.find("\"avg_latency_ms\":1.5,"), std::string::npos) << text;
  EXPECT_NE(text.find("\"success_rate\":1,"), std::string::npos)
      << text;  // a route without traffic
  EXPECT_NE(text.find("\"cost_usd\":7.5e-05"), std::string::npos) << text;
}

}  // namespace
}  // namespace shepherd::observability
