// The config sections about keeping records and counting use: storage, keys, audit, redis.
#include <string>

#include "config/parse_util.hpp"

namespace shepherd::config::detail {
namespace {

constexpr Millis kDay{86'400'000};

// A URL that may carry a password: a secret reference, or plain text when it has none.
std::string url_or_secret(const YAML::Node& node, const std::string& path, const EnvLookup& env) {
  const auto text = scalar(node, path);
  if (text.rfind("env:", 0) == 0 || text.rfind("file:", 0) == 0) return secret(node, path, env);
  const auto scheme_end = text.find("://");
  const auto at = text.find('@');
  if (scheme_end != std::string::npos && at != std::string::npos) {
    const auto userinfo = text.substr(scheme_end + 3, at - scheme_end - 3);
    if (userinfo.find(':') != std::string::npos && userinfo.find('/') == std::string::npos) {
      fail(path,
           "this URL carries a password: give it as a reference (env:VARIABLE or "
           "file:/path) so it is never written in the config file");
    }
  }
  return text;
}

void parse_storage(const YAML::Node& node, const EnvLookup& env, StorageConfig& s) {
  check_keys(node, "storage", {"url"});
  if (auto n = node["url"]) {
    s.url = url_or_secret(n, "storage.url", env);
    const bool known = s.url.rfind("sqlite://", 0) == 0 || s.url == "sqlite::memory:" ||
                       s.url.rfind("postgres://", 0) == 0 || s.url.rfind("postgresql://", 0) == 0;
    if (!known || s.url == "sqlite://") {
      fail("storage.url",
           "expected sqlite://PATH, sqlite::memory: or postgres://user@host:port/database");
    }
  }
}

void parse_keys(const YAML::Node& node, const EnvLookup& env, KeysConfig& k) {
  check_keys(node, "keys", {"secret", "refresh", "reserve_completion_tokens"});
  if (auto n = node["secret"]) {
    k.secret = secret(n, "keys.secret", env);
    // HMAC-SHA256 is only as strong as its key: 16 bytes is the floor of NIST SP 800-107's
    // guidance for a 128-bit security level.
    if (k.secret.size() < 16) fail("keys.secret", "must be at least 16 characters long");
  }
  if (auto n = node["refresh"]) k.refresh = duration(n, "keys.refresh");
  if (auto n = node["reserve_completion_tokens"]) {
    k.reserve_completion_tokens =
        static_cast<std::uint64_t>(integer(n, "keys.reserve_completion_tokens", 1, 10'000'000));
  }
}

void parse_audit(const YAML::Node& node, AuditConfig& a) {
  check_keys(node, "audit", {"enabled", "bodies", "retention", "flush_interval", "queue", "spool"});
  if (auto n = node["enabled"]) a.enabled = boolean(n, "audit.enabled");
  if (auto n = node["bodies"]) a.bodies = boolean(n, "audit.bodies");
  if (auto n = node["retention"]) {
    a.retention = duration(n, "audit.retention");
    // The audit log is the record of what was served: a day is the least anyone may keep.
    if (a.retention < kDay) fail("audit.retention", "must be at least 24h");
  }
  if (auto n = node["flush_interval"]) {
    a.flush_interval = duration(n, "audit.flush_interval");
    if (a.flush_interval > Millis(10'000)) fail("audit.flush_interval", "must be at most 10s");
  }
  if (auto n = node["queue"]) {
    a.queue = static_cast<std::size_t>(integer(n, "audit.queue", 1'000, 10'000'000));
  }
  if (auto n = node["spool"]) a.spool = scalar(n, "audit.spool");
}

void parse_redis(const YAML::Node& node, const EnvLookup& env, RedisConfig& r) {
  check_keys(node, "redis", {"url", "timeout"});
  if (auto n = node["url"]) {
    r.url = url_or_secret(n, "redis.url", env);
    if (r.url.rfind("redis://", 0) != 0)
      fail("redis.url", "expected redis://[:password@]host:port[/db]");
  }
  if (auto n = node["timeout"]) r.timeout = duration(n, "redis.timeout");
}

}  // namespace

void parse_governance(const YAML::Node& root, const EnvLookup& env, Config& config) {
  if (auto n = root["storage"]) parse_storage(n, env, config.storage);
  if (auto n = root["keys"]) parse_keys(n, env, config.keys);
  if (auto n = root["audit"]) parse_audit(n, config.audit);
  if (auto n = root["redis"]) parse_redis(n, env, config.redis);
}

}  // namespace shepherd::config::detail
