// Validated, immutable configuration. Built once by load_config()/parse_config(); the server holds
// it through a shared_ptr<const Config> so a request keeps the snapshot it started with.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/result.hpp"
#include "config/fastchat.hpp"
#include "config/governance.hpp"

namespace shepherd::config {

using Millis = std::chrono::milliseconds;

struct ServerConfig {
  std::string host = "127.0.0.1";
  std::uint16_t port = 8000;
  // Event-loop threads; 0 means one per core.
  int threads = 0;
  // Resolved API keys (secret values). Empty: open mode.
  std::vector<std::string> api_keys;
  // Allowed CORS origins; "*" allows any origin but then never with credentials.
  std::vector<std::string> cors_origins;
  bool cors_credentials = false;
  std::size_t max_body_bytes = 4 * 1024 * 1024;
  std::size_t max_header_bytes = 16 * 1024;
  int max_json_depth = 64;
  // A client must deliver a whole request (headers and body) within this time.
  Millis request_timeout{30'000};
  // An idle keep-alive client connection is closed after this time.
  Millis keepalive_timeout{60'000};
  // Graceful stop: how long open requests may take to finish after SIGTERM.
  Millis drain_timeout{30'000};
  // Graceful stop: how long a kept-alive connection that was not told to close may still bring
  // one more request (answered with Connection: close) before it is closed.
  Millis drain_idle{1'000};
  // Client connections open at once (0: as many as the descriptor limit allows, less a reserve)
  // and from one address (0: no cap); above them a new connection gets 503 and is closed.
  std::size_t max_connections = 0;
  std::size_t max_connections_per_client = 0;
  // The web UI's own listener (server.ui_listen); off: only /ui on the API port. When not given,
  // 127.0.0.1:8501 if free.
  bool ui_enabled = true;
  bool ui_given = false;
  std::string ui_host = "127.0.0.1";
  std::uint16_t ui_port = 8501;
  // Resolved master key for the admin API (secret value). Empty: admin routes answer 403.
  std::string master_key;
  ListenerTlsConfig tls;  // HTTPS on `listen`
  // Who may read /metrics and /stats: anyone (kOpen), the master key (kMasterKey), or the master
  // key and `metrics_token` (kToken).
  enum class MetricsAuth { kOpen, kMasterKey, kToken };
  MetricsAuth metrics_auth = MetricsAuth::kOpen;
  // /health/ready: 200 while the process serves, naming models without an available deployment
  // (kServing); or 503 as soon as one model has none (kAllModels).
  enum class Readiness { kServing, kAllModels };
  Readiness readiness = Readiness::kServing;
  std::string metrics_token;  // resolved secret, for kToken
};

struct PoolConfig {
  std::size_t max_idle = 20;
  std::size_t max_connections = 100;
};

struct TimeoutConfig {
  Millis connect{5'000};
  Millis first_byte{30'000};
  Millis idle{60'000};
  Millis total{120'000};
};

// A base URL split into what the upstream client needs.
struct Endpoint {
  bool tls = false;
  std::string host;  // as written: name, IPv4 or IPv6 literal (without brackets)
  std::uint16_t port = 0;
  std::string path_prefix;  // "/v1", never ending in '/'
  std::string host_header;  // "host[:port]" as sent in the Host header
};

// Active health checks: they spend no tokens.
struct HealthCheckConfig {
  enum class Kind { kOff, kModels, kConnect };
  Kind kind =
      Kind::kOff;  // kModels: GET {base_url}/models; kConnect: TCP connect (+ TLS handshake)
  Millis interval{30'000};
  Millis timeout{5'000};
};

struct ProviderConfig {
  std::string name;
  std::string kind = "openai";
  std::string base_url;
  Endpoint endpoint;
  std::string api_key;  // resolved secret; empty when the upstream needs none
  PoolConfig pool;
  TimeoutConfig timeouts;
  bool tls_verify = true;
  std::string ca_file;  // extra trusted CA bundle (PEM), in addition to the system store
  HealthCheckConfig health_check;
  FastChatProviderConfig fastchat;  // kind fastchat only
};

struct Price {
  double input_per_million = 0;
  double output_per_million = 0;
  // Prompt tokens the provider read from its cache (usually a fraction of the input price);
  // nullopt: the input price.
  std::optional<double> cached_input_per_million;
  double cached_input() const { return cached_input_per_million.value_or(input_per_million); }
};

struct DeploymentConfig {
  // Unique across the config; names the deployment in admin routes, metrics and the
  // x-shepherd-deployment header. Default "<model>@<provider>" (with "-<n>" when a model lists
  // one provider twice).
  std::string id;
  std::string provider;
  std::size_t provider_index = 0;
  std::string model;  // the upstream's model id
  Price price;
  // The provider's public list price, for savings reports; nullopt: the same as price.
  std::optional<Price> list_price;
  double weight = 1;              // for the weighted strategy
  std::string region;             // informational: regional endpoints are separate deployments
  std::uint64_t max_context = 0;  // tokens the deployment accepts (prompt + completion); 0: unknown
  std::uint64_t rpm = 0;          // requests per minute Shepherd sends it; 0: no limit
  std::uint64_t tpm = 0;          // tokens per minute; 0: no limit
};

// lottery and shortest_queue are FastChat's controller's dispatch methods, with a deployment's
// weight as the worker's speed.
enum class Strategy {
  kRoundRobin,
  kWeighted,
  kLeastBusy,
  kLowestLatency,
  kCheapest,
  kLottery,
  kShortestQueue,
};
const char* strategy_name(Strategy s);

struct HedgeConfig {
  bool enabled = false;
  // Start the second attempt when the first has not answered after this long; absent: the first
  // deployment's measured p95 time to first byte (no hedging until it has enough samples).
  std::optional<Millis> after;
};

struct ModelConfig {
  std::string name;  // the name clients use
  std::vector<DeploymentConfig> deployments;
  Strategy strategy = Strategy::kRoundRobin;
  // cheapest: only deployments whose measured latency is within this bound (when any are).
  std::optional<Millis> latency_bound;
  // Models tried in order once this model's own deployments are exhausted.
  std::vector<std::string> fallbacks;
  std::vector<std::size_t> fallback_indices;  // into Config::models
  HedgeConfig hedge;
};

// Retries, cool-down, deadlines and queueing; the same for every model.
struct RoutingConfig {
  Strategy strategy = Strategy::kRoundRobin;  // default for models that name none
  int max_attempts = 3;                       // per request, across deployments and fallbacks
  Millis backoff_base{50};                    // full jitter: uniform(0, min(max, base * 2^n))
  Millis backoff_max{2'000};
  Millis retry_after_cap{5'000};    // longest upstream Retry-After Shepherd waits out
  double retry_budget_ratio = 0.2;  // retries per request, over time
  int retry_budget_burst = 10;      // retries allowed at once before requests have earned any
  // End to end, across attempts, backoff and queueing.
  Millis deadline{120'000};
  // Cool-down: `failures` within `window` take a deployment out for `cooldown`, then one request
  // tries it (half-open). A provider's 401/403 takes it out for `auth_cooldown`.
  int breaker_failures = 5;
  Millis breaker_window{30'000};
  Millis cooldown{30'000};
  Millis auth_cooldown{300'000};
  double exploration = 0.05;  // lowest-latency: share of requests sent to a random deployment
  // Requests waiting for a rate-limited deployment: at most `queue_size` per model, each at most
  // `queue_wait`.
  std::size_t queue_size = 100;
  Millis queue_wait{5'000};
};

// Logs (docs/config.md "log"): spdlog's lines, and one access line per request.
struct LogConfig {
  std::string level = "info";  // trace, debug, info, warn, error
  bool json = false;           // format: json (one object per line) or text
  bool access = true;          // one line per request, as its audit record reads
};

// Tracing (docs/config.md "tracing"): W3C traceparent passed on, and OTLP/HTTP span export.
struct TracingConfig {
  std::string otlp_endpoint;  // "http://host:4318": spans go to <endpoint>/v1/traces; empty: none
  std::string service_name = "shepherd";
  double sample_ratio = 1.0;  // of requests that start a trace (a client's traceparent decides
                              // for its own requests)
  Millis interval{1'000};     // the longest a span waits to be sent
};

struct Config {
  ServerConfig server;
  LogConfig log;
  TracingConfig tracing;
  std::vector<ProviderConfig> providers;
  std::vector<ModelConfig> models;
  RoutingConfig routing;
  StorageConfig storage;
  KeysConfig keys;
  AuditConfig audit;
  RedisConfig redis;
  FastChatConfig fastchat;
  std::string source;  // file path, or a description of the built-in default

  const ModelConfig* find_model(std::string_view name) const;
  // The deployment with this id: {model index, deployment index}, or nullopt.
  std::optional<std::pair<std::size_t, std::size_t>> find_deployment(std::string_view id) const;
  // Comma-separated model names, for error messages.
  std::string model_names() const;
};

// Looks up environment variables; injectable so tests do not touch the process environment.
using EnvLookup = std::function<std::optional<std::string>(const std::string&)>;
EnvLookup process_env();

// Parses and validates YAML text. Errors name the key path ("providers.relay.base_url: ...").
base::Result<Config> parse_config(std::string_view yaml, const EnvLookup& env,
                                  std::string source = "<string>");
base::Result<Config> load_config_file(const std::string& path, const EnvLookup& env);

// `base` with a model for each name a `kind: fastchat` provider lists (`discovered`: provider
// name → model names) that `base` does not name itself: one deployment on that provider, with
// id "<name>@<provider>" and the routing's default strategy. Names of providers that are not
// fastchat providers of `base` are ignored. Its source says the models were discovered.
Config with_discovered(
    const Config& base,
    const std::vector<std::pair<std::string, std::vector<std::string>>>& discovered);

// Parses "250ms", "5s", "2m", "1h", "30d" (a bare number is seconds).
std::optional<Millis> parse_duration(std::string_view text);
// Parses "4MiB", "512KiB", "1024" (bytes).
std::optional<std::size_t> parse_size(std::string_view text);
// Parses an http(s) base URL.
base::Result<Endpoint> parse_endpoint(std::string_view url);

}  // namespace shepherd::config
