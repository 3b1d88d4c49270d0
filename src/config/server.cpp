// The server section (listener, keys, CORS, limits, timeouts, TLS), and the log and tracing
// sections.
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <fstream>
#include <iterator>
#include <string>
#include <tuple>

#include "config/parse_util.hpp"

namespace shepherd::config::detail {

namespace {

void parse_listen(const std::string& s, const std::string& path, ServerConfig& server) {
  std::tie(server.host, server.port) = host_port(s, path);
}

}  // namespace

void parse_listener_tls(const YAML::Node& node, const std::string& path, ListenerTlsConfig& tls) {
  check_keys(node, path, {"cert", "key", "min_version"});
  if (!node["cert"] || !node["key"]) {
    fail(path, "needs both cert and key (PEM files: the certificate chain and its private key)");
  }
  for (auto [name, file] : {std::pair{"cert", &tls.cert}, std::pair{"key", &tls.key}}) {
    const auto p = path + "." + name;
    *file = scalar(node[name], p);
    if (!std::ifstream(*file)) fail(p, "cannot read " + *file);
  }
  if (auto n = node["min_version"]) {
    tls.min_version = scalar(n, path + ".min_version");
    if (tls.min_version != "1.2" && tls.min_version != "1.3") {
      fail(path + ".min_version", "expected 1.2 or 1.3, got '" + tls.min_version + "'");
    }
  }
}

void parse_log(const YAML::Node& node, LogConfig& log) {
  check_keys(node, "log", {"level", "format", "access"});
  if (auto n = node["level"]) {
    log.level = scalar(n, "log.level");
    static constexpr std::string_view kLevels[] = {"trace", "debug", "info", "warn", "error"};
    if (std::find(std::begin(kLevels), std::end(kLevels), log.level) == std::end(kLevels)) {
      fail("log.level", "expected trace, debug, info, warn or error, got '" + log.level + "'");
    }
  }
  if (auto n = node["format"]) {
    const auto format = scalar(n, "log.format");
    if (format != "json" && format != "text") {
      fail("log.format", "expected json or text, got '" + format + "'");
    }
    log.json = format == "json";
  }
  if (auto n = node["access"]) log.access = boolean(n, "log.access");
}

void parse_tracing(const YAML::Node& node, TracingConfig& tracing) {
  check_keys(node, "tracing", {"otlp_endpoint", "service_name", "sample_ratio", "interval"});
  if (auto n = node["otlp_endpoint"]) {
    auto url = scalar(n, "tracing.otlp_endpoint");
    if (auto e = parse_endpoint(url); !e) fail("tracing.otlp_endpoint", e.error().message);
    while (url.ends_with('/')) url.pop_back();
    tracing.otlp_endpoint = url;
  }
  if (auto n = node["service_name"]) tracing.service_name = scalar(n, "tracing.service_name");
  if (auto n = node["sample_ratio"]) {
    tracing.sample_ratio = number(n, "tracing.sample_ratio");
    if (!(tracing.sample_ratio >= 0 && tracing.sample_ratio <= 1)) {
      fail("tracing.sample_ratio", "expected a number from 0 to 1");
    }
  }
  if (auto n = node["interval"]) tracing.interval = duration(n, "tracing.interval");
}

void parse_server(const YAML::Node& node, const EnvLookup& env, ServerConfig& server) {
  const std::string path = "server";
  check_keys(node, path,
             {"listen", "ui_listen", "threads", "api_keys", "master_key", "cors", "limits",
              "timeouts", "tls", "metrics_auth", "metrics_token", "readiness"});
  using Readiness = ServerConfig::Readiness;
  if (auto n = node["readiness"]) {
    server.readiness = one_of<Readiness>(
        n, "server.readiness",
        {{"serving", Readiness::kServing}, {"all_models", Readiness::kAllModels}});
  }
  if (auto n = node["tls"]) parse_listener_tls(n, "server.tls", server.tls);
  if (auto n = node["metrics_token"]) {
    server.metrics_token = secret(n, "server.metrics_token", env);
    server.metrics_auth = ServerConfig::MetricsAuth::kToken;
  }
  if (auto n = node["metrics_auth"]) {
    using Auth = ServerConfig::MetricsAuth;
    server.metrics_auth = one_of<Auth>(
        n, "server.metrics_auth",
        {{"none", Auth::kOpen}, {"master_key", Auth::kMasterKey}, {"token", Auth::kToken}});
  }
  if (server.metrics_auth == ServerConfig::MetricsAuth::kToken && server.metrics_token.empty()) {
    fail("server.metrics_auth", "token needs server.metrics_token (env:NAME or file:PATH)");
  }
  if (server.metrics_auth == ServerConfig::MetricsAuth::kMasterKey && server.master_key.empty()) {
    fail("server.metrics_auth", "master_key needs server.master_key");
  }
  if (auto n = node["master_key"]) server.master_key = secret(n, "server.master_key", env);
  if (auto n = node["listen"]) parse_listen(scalar(n, "server.listen"), "server.listen", server);
  if (auto n = node["ui_listen"]) {
    server.ui_given = true;
    const auto value = scalar(n, "server.ui_listen");
    if (value == "off" || value == "false") {
      server.ui_enabled = false;
    } else {
      std::tie(server.ui_host, server.ui_port) = host_port(value, "server.ui_listen");
    }
  }
  if (auto n = node["threads"])
    server.threads = static_cast<int>(integer(n, "server.threads", 0, 256));
  if (auto n = node["api_keys"]) {
    if (!n.IsSequence()) fail("server.api_keys", "expected a list of env:NAME or file:PATH");
    for (std::size_t i = 0; i < n.size(); ++i) {
      server.api_keys.push_back(secret(n[i], "server.api_keys[" + std::to_string(i) + "]", env));
    }
  }
  if (auto cors = node["cors"]) {
    check_keys(cors, "server.cors", {"origins", "credentials"});
    if (auto o = cors["origins"]) {
      if (!o.IsSequence()) fail("server.cors.origins", "expected a list of origins");
      for (std::size_t i = 0; i < o.size(); ++i) {
        const auto p = "server.cors.origins[" + std::to_string(i) + "]";
        auto origin = scalar(o[i], p);
        if (origin != "*" && origin.rfind("http://", 0) != 0 && origin.rfind("https://", 0) != 0) {
          fail(p, "expected \"*\" or an origin like https://app.example.com, got '" + origin + "'");
        }
        while (origin.size() > 1 && origin.back() == '/') origin.pop_back();
        server.cors_origins.push_back(origin);
      }
    }
    if (auto c = cors["credentials"])
      server.cors_credentials = boolean(c, "server.cors.credentials");
    const bool wildcard = std::find(server.cors_origins.begin(), server.cors_origins.end(), "*") !=
                          server.cors_origins.end();
    if (server.cors_credentials && wildcard) {
      fail("server.cors.credentials",
           "credentials need explicit origins; remove \"*\" from server.cors.origins");
    }
  }
  if (auto limits = node["limits"]) {
    check_keys(limits, "server.limits",
               {"max_body", "max_headers", "max_json_depth", "max_connections",
                "max_connections_per_client"});
    if (auto n = limits["max_connections"]) {
      server.max_connections =
          static_cast<std::size_t>(integer(n, "server.limits.max_connections", 1, 10'000'000));
    }
    if (auto n = limits["max_connections_per_client"]) {
      server.max_connections_per_client = static_cast<std::size_t>(
          integer(n, "server.limits.max_connections_per_client", 1, 10'000'000));
    }
    if (auto n = limits["max_body"]) server.max_body_bytes = size(n, "server.limits.max_body");
    if (auto n = limits["max_headers"]) {
      server.max_header_bytes = size(n, "server.limits.max_headers");
    }
    if (auto n = limits["max_json_depth"]) {
      server.max_json_depth = static_cast<int>(integer(n, "server.limits.max_json_depth", 2, 1000));
    }
  }
  if (auto t = node["timeouts"]) {
    check_keys(t, "server.timeouts", {"request", "keepalive", "drain", "drain_idle"});
    if (auto n = t["drain_idle"]) {
      // 0 is allowed: idle connections close at once.
      const auto text = scalar(n, "server.timeouts.drain_idle");
      const auto d = parse_duration(text);
      if (!d)
        fail("server.timeouts.drain_idle",
             "expected a duration like 0s, 500ms or 1s, got '" + text + "'");
      server.drain_idle = *d;
    }
    if (auto n = t["request"]) server.request_timeout = duration(n, "server.timeouts.request");
    if (auto n = t["keepalive"])
      server.keepalive_timeout = duration(n, "server.timeouts.keepalive");
    if (auto n = t["drain"]) server.drain_timeout = duration(n, "server.timeouts.drain");
  }
}

}  // namespace shepherd::config::detail
