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
#include <vector>

#include "base/result.hpp"

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
};

struct Price {
  double input_per_million = 0;
  double output_per_million = 0;
};

struct DeploymentConfig {
  std::string provider;
  std::size_t provider_index = 0;
  std::string model;  // the upstream's model id
  Price price;
};

struct ModelConfig {
  std::string name;  // the name clients use
  std::vector<DeploymentConfig> deployments;
};

struct Config {
  ServerConfig server;
  std::vector<ProviderConfig> providers;
  std::vector<ModelConfig> models;
  std::string source;  // file path, or a description of the built-in default

  const ModelConfig* find_model(std::string_view name) const;
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

// Parses "250ms", "5s", "2m", "1h" (a bare number is seconds).
std::optional<Millis> parse_duration(std::string_view text);
// Parses "4MiB", "512KiB", "1024" (bytes).
std::optional<std::size_t> parse_size(std::string_view text);
// Parses an http(s) base URL.
base::Result<Endpoint> parse_endpoint(std::string_view url);

}  // namespace shepherd::config
