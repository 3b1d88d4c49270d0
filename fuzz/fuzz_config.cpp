// The YAML configuration loader (config::parse_config) on arbitrary text, with a fixed fake
// environment for env: secrets. Properties checked:
//  - it never crashes, throws or hangs: every problem comes back as a kBadRequest Error with a
//    message, and that message never reveals a secret value the text does not itself contain;
//  - a config that loads meets the guarantees the loader documents (providers and deployment ids
//    unique, every deployment and fallback resolved to an existing provider or model, positive
//    durations, values within their ranges, no CORS credentials with "*");
//  - loading the same text again yields the same result (every field compared).
// Inputs that could name a file: secret are skipped, so the fuzzer never reads arbitrary files
// (/dev/zero, a FIFO): such a reference is spelled either literally, through a backslash escape
// in a double-quoted scalar, or in UTF-16/32 (which needs NUL bytes).
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>

#include "config/config.hpp"

namespace {

namespace config = shepherd::config;

const std::map<std::string, std::string>& fake_env_values() {
  static const std::map<std::string, std::string> values = {
      {"OPENAI_API_KEY", "sk-fuzz-openai-7f3a9c"},
      {"RELAY_API_KEY", "sk-fuzz-relay-2b8e41"},
      {"SHEPHERD_API_KEY", "sk-fuzz-client-90d2aa"},
      {"SHEPHERD_MASTER_KEY", "sk-fuzz-master-c41f07"},
      {"EMPTY_VAR", ""},
  };
  return values;
}

std::optional<std::string> fake_env(const std::string& name) {
  const auto& values = fake_env_values();
  auto it = values.find(name);
  if (it == values.end()) return std::nullopt;
  return it->second;
}

void check(bool ok) {
  if (!ok) std::abort();
}

bool positive(config::Millis d) { return d.count() > 0; }

// Every field of a loaded config, as text: two loads are the same when their texts are.
std::string describe(const config::Config& c) {
  std::ostringstream o;
  const auto& s = c.server;
  o << "server " << s.host << ' ' << s.port << ' ' << s.threads << ' ' << s.cors_credentials << ' '
    << s.max_body_bytes << ' ' << s.max_header_bytes << ' ' << s.max_json_depth << ' '
    << s.request_timeout.count() << ' ' << s.keepalive_timeout.count() << ' '
    << s.drain_timeout.count() << " master[" << s.master_key << "]\n";
  for (const auto& k : s.api_keys) o << " key[" << k << "]\n";
  for (const auto& origin : s.cors_origins) o << " origin[" << origin << "]\n";
  for (const auto& p : c.providers) {
    const auto& e = p.endpoint;
    o << "provider[" << p.name << "] " << p.kind << " [" << p.base_url << "] " << e.tls << " ["
      << e.host << "] " << e.port << " [" << e.path_prefix << "] [" << e.host_header << "] ["
      << p.api_key << "] " << p.pool.max_idle << ' ' << p.pool.max_connections << ' '
      << p.timeouts.connect.count() << ' ' << p.timeouts.first_byte.count() << ' '
      << p.timeouts.idle.count() << ' ' << p.timeouts.total.count() << ' ' << p.tls_verify << " ["
      << p.ca_file << "] " << static_cast<int>(p.health_check.kind) << ' '
      << p.health_check.interval.count() << ' ' << p.health_check.timeout.count() << '\n';
  }
  for (const auto& m : c.models) {
    o << "model[" << m.name << "] " << config::strategy_name(m.strategy) << ' '
      << (m.latency_bound ? m.latency_bound->count() : -1) << ' ' << m.hedge.enabled << ' '
      << (m.hedge.after ? m.hedge.after->count() : -1) << '\n';
    for (std::size_t i = 0; i < m.fallbacks.size(); ++i) {
      o << " fallback[" << m.fallbacks[i] << "] "
        << (i < m.fallback_indices.size() ? m.fallback_indices[i] : 0) << '\n';
    }
    for (const auto& d : m.deployments) {
      o << " deployment[" << d.id << "] [" << d.provider << "] " << d.provider_index << " ["
        << d.model << "] " << d.price.input_per_million << ' ' << d.price.output_per_million << ' '
        << d.weight << " [" << d.region << "] " << d.max_context << ' ' << d.rpm << ' ' << d.tpm
        << '\n';
    }
  }
  const auto& r = c.routing;
  o << "routing " << config::strategy_name(r.strategy) << ' ' << r.max_attempts << ' '
    << r.backoff_base.count() << ' ' << r.backoff_max.count() << ' ' << r.retry_after_cap.count()
    << ' ' << r.retry_budget_ratio << ' ' << r.retry_budget_burst << ' ' << r.deadline.count()
    << ' ' << r.breaker_failures << ' ' << r.breaker_window.count() << ' ' << r.cooldown.count()
    << ' ' << r.auth_cooldown.count() << ' ' << r.exploration << ' ' << r.queue_size << ' '
    << r.queue_wait.count() << " [" << c.source << "]\n";
  return o.str();
}

void check_valid(const config::Config& c) {
  const auto& s = c.server;
  check(s.threads >= 0 && s.threads <= 256);
  check(s.max_body_bytes > 0 && s.max_header_bytes > 0);
  check(s.max_json_depth >= 2 && s.max_json_depth <= 1000);
  check(positive(s.request_timeout) && positive(s.keepalive_timeout) && positive(s.drain_timeout));
  for (const auto& k : s.api_keys) check(!k.empty());
  for (const auto& origin : s.cors_origins) check(!s.cors_credentials || origin != "*");

  for (std::size_t i = 0; i < c.providers.size(); ++i) {
    const auto& p = c.providers[i];
    for (std::size_t j = 0; j < i; ++j) check(c.providers[j].name != p.name);
    check(p.kind == "openai");
    check(!p.endpoint.host.empty() && p.endpoint.port != 0);
    check(p.endpoint.path_prefix.empty() || p.endpoint.path_prefix.back() != '/');
    check(p.pool.max_connections >= 1);
    check(positive(p.timeouts.connect) && positive(p.timeouts.first_byte) &&
          positive(p.timeouts.idle) && positive(p.timeouts.total));
    check(positive(p.health_check.interval) && positive(p.health_check.timeout));
  }

  for (std::size_t mi = 0; mi < c.models.size(); ++mi) {
    const auto& m = c.models[mi];
    check(!m.name.empty() && c.find_model(m.name) == &m);
    check(!m.deployments.empty());
    check(!m.latency_bound || positive(*m.latency_bound));
    check(!m.hedge.after || (m.hedge.enabled && positive(*m.hedge.after)));
    check(m.fallbacks.size() == m.fallback_indices.size());
    for (std::size_t i = 0; i < m.fallbacks.size(); ++i) {
      const auto target = m.fallback_indices[i];
      check(target < c.models.size() && target != mi);
      check(c.models[target].name == m.fallbacks[i]);
    }
    for (std::size_t di = 0; di < m.deployments.size(); ++di) {
      const auto& d = m.deployments[di];
      check(d.provider_index < c.providers.size());
      check(c.providers[d.provider_index].name == d.provider);
      check(!d.model.empty() && !d.id.empty());
      // Ids are unique across the config: the lookup by id finds this very deployment.
      const auto found = c.find_deployment(d.id);
      check(found && found->first == mi && found->second == di);
      check(std::isfinite(d.price.input_per_million) && d.price.input_per_million >= 0);
      check(std::isfinite(d.price.output_per_million) && d.price.output_per_million >= 0);
      check(std::isfinite(d.weight) && d.weight > 0);
    }
  }

  const auto& r = c.routing;
  check(r.max_attempts >= 1 && r.max_attempts <= 10);
  check(positive(r.backoff_base) && positive(r.backoff_max) && positive(r.retry_after_cap));
  check(r.retry_budget_ratio >= 0 && r.retry_budget_ratio <= 10 && r.retry_budget_burst >= 0);
  check(positive(r.deadline) && positive(r.breaker_window) && positive(r.cooldown) &&
        positive(r.auth_cooldown) && positive(r.queue_wait));
  check(r.breaker_failures >= 1 && r.breaker_failures <= 64);
  check(r.exploration >= 0 && r.exploration <= 1);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  if (text.find("file:") != std::string_view::npos ||
      text.find_first_of(std::string_view("\\\0", 2)) != std::string_view::npos) {
    return 0;
  }
  const config::EnvLookup env = fake_env;
  const auto first = config::parse_config(text, env);
  const auto second = config::parse_config(text, env);
  check(first.ok() == second.ok());
  if (!first) {
    const auto& e = first.error();
    check(e.code == shepherd::base::ErrorCode::kBadRequest && !e.message.empty());
    check(e.message == second.error().message);
    for (const auto& [name, value] : fake_env_values()) {
      if (value.empty()) continue;
      check(e.message.find(value) == std::string::npos ||
            text.find(value) != std::string_view::npos);
    }
    return 0;
  }
  check_valid(*first);
  check(describe(*first) == describe(*second));
  return 0;
}
