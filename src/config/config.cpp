#include "config/config.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <limits>
#include <sstream>

#include "config/parse_util.hpp"

namespace shepherd::config {
namespace {

using namespace detail;  // NOLINT(google-build-using-namespace): the YAML walk's vocabulary

using base::Error;
using base::ErrorCode;
using base::Result;

ProviderConfig parse_provider(const std::string& name, const YAML::Node& node,
                              const EnvLookup& env) {
  const auto path = "providers." + name;
  check_keys(
      node, path,
      {"kind", "base_url", "api_key", "pool", "timeouts", "tls", "health_check", "fastchat"});
  ProviderConfig p;
  p.name = name;
  if (auto n = node["kind"]) p.kind = scalar(n, path + ".kind");
  if (p.kind != "openai" && p.kind != "anthropic" && p.kind != "gemini" && p.kind != "fastchat") {
    fail(path + ".kind", "unsupported provider kind '" + p.kind +
                             "' (supported: openai, anthropic, gemini, fastchat)");
  }
  if (auto n = node["fastchat"]) {
    if (p.kind != "fastchat") fail(path + ".fastchat", "only for kind: fastchat");
    parse_fastchat_provider(n, path + ".fastchat", p.fastchat);
  }
  auto url = node["base_url"];
  if (!url) fail(path + ".base_url", "required (e.g. https://api.openai.com/v1)");
  p.base_url = scalar(url, path + ".base_url");
  auto endpoint = parse_endpoint(p.base_url);
  if (!endpoint) fail(path + ".base_url", endpoint.error().message);
  p.endpoint = std::move(endpoint).value();
  if (auto n = node["api_key"]) p.api_key = secret(n, path + ".api_key", env);
  if (auto pool = node["pool"]) {
    check_keys(pool, path + ".pool", {"max_idle", "max_connections"});
    if (auto n = pool["max_idle"]) {
      p.pool.max_idle = static_cast<std::size_t>(integer(n, path + ".pool.max_idle", 0, 100000));
    }
    if (auto n = pool["max_connections"]) {
      p.pool.max_connections =
          static_cast<std::size_t>(integer(n, path + ".pool.max_connections", 1, 100000));
    }
  }
  if (auto t = node["timeouts"]) {
    const auto tp = path + ".timeouts";
    check_keys(t, tp, {"connect", "first_byte", "idle", "total"});
    if (auto n = t["connect"]) p.timeouts.connect = duration(n, tp + ".connect");
    if (auto n = t["first_byte"]) p.timeouts.first_byte = duration(n, tp + ".first_byte");
    if (auto n = t["idle"]) p.timeouts.idle = duration(n, tp + ".idle");
    if (auto n = t["total"]) p.timeouts.total = duration(n, tp + ".total");
  }
  if (auto tls = node["tls"]) {
    check_keys(tls, path + ".tls", {"verify", "ca_file"});
    if (auto n = tls["verify"]) p.tls_verify = boolean(n, path + ".tls.verify");
    if (auto n = tls["ca_file"]) {
      p.ca_file = scalar(n, path + ".tls.ca_file");
      if (!std::ifstream(p.ca_file)) fail(path + ".tls.ca_file", "cannot read " + p.ca_file);
    }
  }
  if (auto hc = node["health_check"]) {
    const auto hp = path + ".health_check";
    check_keys(hc, hp, {"kind", "interval", "timeout"});
    p.health_check.kind = HealthCheckConfig::Kind::kModels;
    if (auto n = hc["kind"]) {
      const auto kind = scalar(n, hp + ".kind");
      if (kind == "models") {
        p.health_check.kind = HealthCheckConfig::Kind::kModels;
      } else if (kind == "connect") {
        p.health_check.kind = HealthCheckConfig::Kind::kConnect;
      } else if (kind == "off") {
        p.health_check.kind = HealthCheckConfig::Kind::kOff;
      } else {
        fail(hp + ".kind", "expected models, connect or off, got '" + kind + "'");
      }
    }
    if (auto n = hc["interval"]) p.health_check.interval = duration(n, hp + ".interval");
    if (auto n = hc["timeout"]) p.health_check.timeout = duration(n, hp + ".timeout");
  }
  return p;
}

Price price(const YAML::Node& node, const std::string& path) {
  check_keys(node, path, {"input", "output", "cached_input"});
  Price p;
  if (auto n = node["input"]) p.input_per_million = number(n, path + ".input");
  if (auto n = node["output"]) p.output_per_million = number(n, path + ".output");
  if (auto n = node["cached_input"]) p.cached_input_per_million = number(n, path + ".cached_input");
  return p;
}

DeploymentConfig parse_deployment(const YAML::Node& node, const std::string& path,
                                  const std::string& model_name, const Config& config) {
  check_keys(node, path,
             {"id", "provider", "model", "price", "list_price", "weight", "region", "max_context",
              "rpm", "tpm"});
  DeploymentConfig d;
  auto provider = node["provider"];
  if (!provider) fail(path + ".provider", "required: the name of a provider");
  d.provider = scalar(provider, path + ".provider");
  auto it = std::find_if(config.providers.begin(), config.providers.end(),
                         [&](const ProviderConfig& p) { return p.name == d.provider; });
  if (it == config.providers.end()) {
    std::string names;
    for (const auto& p : config.providers) names += (names.empty() ? "" : ", ") + p.name;
    fail(path + ".provider", "unknown provider '" + d.provider +
                                 "' (configured: " + (names.empty() ? "none" : names) + ")");
  }
  d.provider_index = static_cast<std::size_t>(it - config.providers.begin());
  d.model = model_name;
  if (auto n = node["model"]) d.model = scalar(n, path + ".model");
  if (d.model.empty()) fail(path + ".model", "must not be empty");
  if (auto n = node["price"]) d.price = price(n, path + ".price");
  if (auto n = node["list_price"]) d.list_price = price(n, path + ".list_price");
  if (auto n = node["id"]) {
    d.id = scalar(n, path + ".id");
    const bool valid = !d.id.empty() && std::all_of(d.id.begin(), d.id.end(), [](char c) {
      return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' ||
             c == '@' || c == ':';
    });
    if (!valid) fail(path + ".id", "use letters, digits and - _ . @ : only");
  }
  if (auto n = node["weight"]) {
    d.weight = number(n, path + ".weight");
    if (d.weight <= 0) fail(path + ".weight", "must be greater than 0");
  }
  if (auto n = node["region"]) d.region = scalar(n, path + ".region");
  constexpr long kMaxCount = 1'000'000'000'000L;
  if (auto n = node["max_context"])
    d.max_context = static_cast<std::uint64_t>(integer(n, path + ".max_context", 1, kMaxCount));
  if (auto n = node["rpm"])
    d.rpm = static_cast<std::uint64_t>(integer(n, path + ".rpm", 1, kMaxCount));
  if (auto n = node["tpm"])
    d.tpm = static_cast<std::uint64_t>(integer(n, path + ".tpm", 1, kMaxCount));
  return d;
}

Strategy strategy(const YAML::Node& node, const std::string& path);

void parse_models(const YAML::Node& node, Config& config) {
  require_map(node, "models");
  for (const auto& item : node) {
    const auto name = item.first.as<std::string>();
    const auto path = "models." + name;
    if (name.empty()) fail(path, "model names must not be empty");
    if (config.find_model(name)) fail(path, "defined twice");
    check_keys(item.second, path,
               {"deployments", "strategy", "latency_bound", "fallbacks", "hedge"});
    ModelConfig m;
    m.name = name;
    m.strategy = config.routing.strategy;
    if (auto n = item.second["strategy"]) m.strategy = strategy(n, path + ".strategy");
    if (auto n = item.second["latency_bound"])
      m.latency_bound = duration(n, path + ".latency_bound");
    if (auto n = item.second["fallbacks"]) {
      if (!n.IsSequence()) fail(path + ".fallbacks", "expected a list of model names");
      for (std::size_t i = 0; i < n.size(); ++i) {
        m.fallbacks.push_back(scalar(n[i], path + ".fallbacks[" + std::to_string(i) + "]"));
      }
    }
    if (auto h = item.second["hedge"]) {
      check_keys(h, path + ".hedge", {"after"});
      m.hedge.enabled = true;
      if (auto n = h["after"]; n && scalar(n, path + ".hedge.after") != "p95") {
        m.hedge.after = duration(n, path + ".hedge.after");
      }
    }
    auto deployments = item.second["deployments"];
    if (!deployments || !deployments.IsSequence() || deployments.size() == 0) {
      fail(path + ".deployments", "expected a non-empty list of {provider, model, price}");
    }
    for (std::size_t i = 0; i < deployments.size(); ++i) {
      m.deployments.push_back(parse_deployment(
          deployments[i], path + ".deployments[" + std::to_string(i) + "]", name, config));
    }
    config.models.push_back(std::move(m));
  }
  // Second pass, once every model is known: fallback names and deployment ids.
  std::vector<std::string> ids;
  for (auto& m : config.models) {
    const auto path = "models." + m.name;
    for (std::size_t i = 0; i < m.fallbacks.size(); ++i) {
      const auto p = path + ".fallbacks[" + std::to_string(i) + "]";
      const auto* target = config.find_model(m.fallbacks[i]);
      if (!target) fail(p, "unknown model '" + m.fallbacks[i] + "'");
      if (target == &m) fail(p, "a model cannot fall back to itself");
      m.fallback_indices.push_back(static_cast<std::size_t>(target - config.models.data()));
    }
    for (std::size_t i = 0; i < m.deployments.size(); ++i) {
      auto& d = m.deployments[i];
      if (d.id.empty()) {
        d.id = m.name + "@" + d.provider;
        const auto same = std::count_if(m.deployments.begin(), m.deployments.end(),
                                        [&](const auto& o) { return o.provider == d.provider; });
        // Appended, not built with `+`: GCC 12 warns (-Wrestrict) about the temporary otherwise.
        if (same > 1) d.id.append("-").append(std::to_string(i + 1));
      }
      if (std::find(ids.begin(), ids.end(), d.id) != ids.end()) {
        fail(path + ".deployments[" + std::to_string(i) + "].id",
             "the id '" + d.id + "' is used twice; ids must be unique");
      }
      ids.push_back(d.id);
    }
  }
}

Strategy strategy(const YAML::Node& node, const std::string& path) {
  const auto s = scalar(node, path);
  for (auto v :
       {Strategy::kRoundRobin, Strategy::kWeighted, Strategy::kLeastBusy, Strategy::kLowestLatency,
        Strategy::kCheapest, Strategy::kLottery, Strategy::kShortestQueue}) {
    if (s == strategy_name(v)) return v;
  }
  fail(path,
       "expected round-robin, weighted, least-busy, lowest-latency, cheapest, lottery or "
       "shortest_queue, got '" +
           s + "'");
}

void parse_routing(const YAML::Node& node, RoutingConfig& r) {
  const std::string path = "routing";
  check_keys(node, path,
             {"strategy", "max_attempts", "backoff", "retry_after_cap", "retry_budget", "deadline",
              "cooldown", "exploration", "queue"});
  if (auto n = node["strategy"]) r.strategy = strategy(n, "routing.strategy");
  if (auto n = node["max_attempts"])
    r.max_attempts = static_cast<int>(integer(n, "routing.max_attempts", 1, 10));
  if (auto b = node["backoff"]) {
    check_keys(b, "routing.backoff", {"base", "max"});
    if (auto n = b["base"]) r.backoff_base = duration(n, "routing.backoff.base");
    if (auto n = b["max"]) r.backoff_max = duration(n, "routing.backoff.max");
  }
  if (auto n = node["retry_after_cap"]) r.retry_after_cap = duration(n, "routing.retry_after_cap");
  if (auto b = node["retry_budget"]) {
    check_keys(b, "routing.retry_budget", {"ratio", "burst"});
    if (auto n = b["ratio"]) {
      r.retry_budget_ratio = number(n, "routing.retry_budget.ratio");
      if (r.retry_budget_ratio > 10) fail("routing.retry_budget.ratio", "must be at most 10");
    }
    if (auto n = b["burst"])
      r.retry_budget_burst = static_cast<int>(integer(n, "routing.retry_budget.burst", 0, 100000));
  }
  if (auto n = node["deadline"]) r.deadline = duration(n, "routing.deadline");
  if (auto c = node["cooldown"]) {
    check_keys(c, "routing.cooldown", {"failures", "window", "duration", "auth"});
    if (auto n = c["failures"])
      r.breaker_failures = static_cast<int>(integer(n, "routing.cooldown.failures", 1, 64));
    if (auto n = c["window"]) r.breaker_window = duration(n, "routing.cooldown.window");
    if (auto n = c["duration"]) r.cooldown = duration(n, "routing.cooldown.duration");
    if (auto n = c["auth"]) r.auth_cooldown = duration(n, "routing.cooldown.auth");
  }
  if (auto n = node["exploration"]) {
    r.exploration = number(n, "routing.exploration");
    if (r.exploration > 1) fail("routing.exploration", "must be between 0 and 1");
  }
  if (auto q = node["queue"]) {
    check_keys(q, "routing.queue", {"size", "wait"});
    if (auto n = q["size"])
      r.queue_size = static_cast<std::size_t>(integer(n, "routing.queue.size", 0, 1000000));
    if (auto n = q["wait"]) r.queue_wait = duration(n, "routing.queue.wait");
  }
}

}  // namespace

const char* strategy_name(Strategy s) {
  switch (s) {
    case Strategy::kRoundRobin:
      return "round-robin";
    case Strategy::kWeighted:
      return "weighted";
    case Strategy::kLeastBusy:
      return "least-busy";
    case Strategy::kLowestLatency:
      return "lowest-latency";
    case Strategy::kCheapest:
      return "cheapest";
    case Strategy::kLottery:
      return "lottery";
    case Strategy::kShortestQueue:
      return "shortest_queue";
  }
  return "?";
}

std::optional<std::pair<std::size_t, std::size_t>> Config::find_deployment(
    std::string_view id) const {
  for (std::size_t m = 0; m < models.size(); ++m) {
    for (std::size_t d = 0; d < models[m].deployments.size(); ++d) {
      if (models[m].deployments[d].id == id) return std::pair{m, d};
    }
  }
  return std::nullopt;
}

const ModelConfig* Config::find_model(std::string_view name) const {
  for (const auto& m : models) {
    if (m.name == name) return &m;
  }
  return nullptr;
}

std::string Config::model_names() const {
  std::string out;
  for (const auto& m : models) out += (out.empty() ? "" : ", ") + m.name;
  return out;
}

EnvLookup process_env() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* v = std::getenv(name.c_str());
    if (!v) return std::nullopt;
    return std::string(v);
  };
}

std::optional<Millis> parse_duration(std::string_view text) {
  double value = 0;
  std::size_t i = 0;
  std::string digits;
  while (i < text.size() && ((text[i] >= '0' && text[i] <= '9') || text[i] == '.')) {
    digits += text[i++];
  }
  if (digits.empty()) return std::nullopt;
  char* end = nullptr;
  value = std::strtod(digits.c_str(), &end);
  if (end != digits.c_str() + digits.size()) return std::nullopt;
  const auto unit = text.substr(i);
  double ms = 0;
  if (unit.empty() || unit == "s") {
    ms = value * 1000;
  } else if (unit == "ms") {
    ms = value;
  } else if (unit == "m") {
    ms = value * 60'000;
  } else if (unit == "h") {
    ms = value * 3'600'000;
  } else if (unit == "d") {
    ms = value * 86'400'000;
  } else {
    return std::nullopt;
  }
  if (ms > 1e12) return std::nullopt;
  return Millis(static_cast<long long>(ms));
}

std::optional<std::size_t> parse_size(std::string_view text) {
  std::size_t i = 0;
  std::size_t value = 0;
  while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
    if (value > (std::size_t{1} << 40)) return std::nullopt;
    value = value * 10 + static_cast<std::size_t>(text[i++] - '0');
  }
  if (i == 0) return std::nullopt;
  const auto unit = text.substr(i);
  std::size_t multiplier = 0;
  if (unit.empty() || unit == "B") multiplier = 1;
  if (unit == "KiB" || unit == "KB" || unit == "K") multiplier = std::size_t{1} << 10;
  if (unit == "MiB" || unit == "MB" || unit == "M") multiplier = std::size_t{1} << 20;
  if (unit == "GiB" || unit == "GB" || unit == "G") multiplier = std::size_t{1} << 30;
  if (multiplier == 0 || value > std::numeric_limits<std::size_t>::max() / multiplier) {
    return std::nullopt;
  }
  return value * multiplier;
}

Result<Endpoint> parse_endpoint(std::string_view url) {
  Endpoint e;
  std::string_view rest;
  if (url.rfind("https://", 0) == 0) {
    e.tls = true;
    e.port = 443;
    rest = url.substr(8);
  } else if (url.rfind("http://", 0) == 0) {
    e.port = 80;
    rest = url.substr(7);
  } else {
    return base::make_error(ErrorCode::kBadRequest, "expected an http:// or https:// URL");
  }
  const auto slash = rest.find_first_of("/?#");  // the authority ends at any of them
  auto authority = rest.substr(0, slash);
  auto path = slash == std::string_view::npos ? std::string_view{} : rest.substr(slash);
  if (authority.find('@') != std::string_view::npos) {
    return base::make_error(ErrorCode::kBadRequest,
                            "credentials in the URL are not allowed; use api_key: env:NAME");
  }
  if (path.find_first_of("?#") != std::string_view::npos) {
    return base::make_error(ErrorCode::kBadRequest, "a base URL cannot have a query or fragment");
  }
  e.host_header = std::string(authority);
  std::string_view port_text;
  bool has_port = false;  // a ':' after the host, even with nothing after it
  if (!authority.empty() && authority.front() == '[') {
    const auto close = authority.find(']');
    if (close == std::string_view::npos) {
      return base::make_error(ErrorCode::kBadRequest, "unterminated IPv6 address");
    }
    e.host = std::string(authority.substr(1, close - 1));
    if (close + 1 < authority.size()) {
      if (authority[close + 1] != ':') {
        return base::make_error(ErrorCode::kBadRequest, "unexpected text after the IPv6 address");
      }
      port_text = authority.substr(close + 2);
      has_port = true;
    }
  } else {
    const auto colon = authority.find(':');
    e.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) {
      port_text = authority.substr(colon + 1);
      has_port = true;
    }
  }
  if (e.host.empty()) return base::make_error(ErrorCode::kBadRequest, "the URL has no host");
  if (has_port) {
    unsigned port = 0;
    auto [p, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (port_text.empty() || ec != std::errc{} || p != port_text.data() + port_text.size() ||
        port == 0 || port > 65535) {
      return base::make_error(ErrorCode::kBadRequest, "invalid port in the URL");
    }
    e.port = static_cast<std::uint16_t>(port);
  }
  while (!path.empty() && path.back() == '/') path.remove_suffix(1);
  e.path_prefix = std::string(path);
  return e;
}

Result<Config> parse_config(std::string_view yaml, const EnvLookup& env, std::string source) {
  try {
    Config config;
    config.source = std::move(source);
    YAML::Node root = YAML::Load(std::string(yaml));
    if (root.IsNull()) {
      throw ConfigError{"the configuration is empty; it needs at least providers and models"};
    }
    check_keys(root, "",
               {"server", "log", "tracing", "routing", "providers", "models", "storage", "keys",
                "audit", "redis", "fastchat"});
    if (auto n = root["server"]) parse_server(n, env, config.server);
    if (auto n = root["log"]) parse_log(n, config.log);
    if (auto n = root["tracing"]) parse_tracing(n, config.tracing);
    parse_governance(root, env, config);
    if (auto n = root["routing"]) parse_routing(n, config.routing);
    if (auto providers = root["providers"]) {
      require_map(providers, "providers");
      for (const auto& item : providers) {
        const auto name = item.first.as<std::string>();
        for (const auto& p : config.providers) {
          if (p.name == name) fail("providers." + name, "defined twice");
        }
        config.providers.push_back(parse_provider(name, item.second, env));
      }
    }
    if (auto models = root["models"]) parse_models(models, config);
    if (auto n = root["fastchat"]) parse_fastchat(n, config);
    return config;
  } catch (const ConfigError& e) {
    return base::make_error(ErrorCode::kBadRequest, e.message);
  } catch (const YAML::Exception& e) {
    return base::make_error(ErrorCode::kBadRequest, std::string("invalid YAML: ") + e.what());
  }
}

Result<Config> load_config_file(const std::string& path, const EnvLookup& env) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return base::make_error(ErrorCode::kBadRequest, "cannot read config file " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  auto result = parse_config(ss.str(), env, path);
  if (result) {
    std::error_code ec;
    const auto folder = std::filesystem::absolute(path, ec).parent_path();
    if (!ec) result->storage.base_dir = folder.string();
  }
  if (!result) {
    auto error = std::move(result).error();
    error.message = path + ": " + error.message;
    return error;
  }
  return result;
}

}  // namespace shepherd::config
