#include "config/parse_util.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sstream>

// The YAML walk is start-up code, where exceptions (ConfigError) keep the many checks readable.
namespace shepherd::config::detail {

[[noreturn]] void fail(const std::string& path, const std::string& what) {
  throw ConfigError{path + ": " + what};
}

std::string join_path(const std::string& parent, const std::string& key) {
  return parent.empty() ? key : parent + "." + key;
}

void require_map(const YAML::Node& node, const std::string& path) {
  if (!node.IsMap()) {
    if (path.empty())
      throw ConfigError{"the configuration must be a mapping (server, providers, models)"};
    fail(path, "expected a mapping");
  }
}

void check_keys(const YAML::Node& node, const std::string& path,
                std::initializer_list<std::string_view> allowed) {
  require_map(node, path);
  for (const auto& item : node) {
    const auto key = item.first.as<std::string>();
    if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
      std::string list;
      for (auto a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
      fail(join_path(path, key), "unknown key (allowed here: " + list + ")");
    }
  }
}

std::string scalar(const YAML::Node& node, const std::string& path) {
  if (!node.IsScalar()) fail(path, "expected a single value");
  return node.Scalar();
}

bool boolean(const YAML::Node& node, const std::string& path) {
  const auto s = scalar(node, path);
  if (s == "true" || s == "yes" || s == "on") return true;
  if (s == "false" || s == "no" || s == "off") return false;
  fail(path, "expected true or false, got '" + s + "'");
}

long integer(const YAML::Node& node, const std::string& path, long min, long max) {
  const auto s = scalar(node, path);
  long v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || p != s.data() + s.size())
    fail(path, "expected an integer, got '" + s + "'");
  if (v < min || v > max) {
    fail(path, "must be between " + std::to_string(min) + " and " + std::to_string(max));
  }
  return v;
}

double number(const YAML::Node& node, const std::string& path) {
  const auto s = scalar(node, path);
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  if (s.empty() || end != s.c_str() + s.size() || !std::isfinite(v) || v < 0) {
    fail(path, "expected a non-negative number, got '" + s + "'");
  }
  return v;
}

Millis duration(const YAML::Node& node, const std::string& path) {
  const auto s = scalar(node, path);
  auto d = parse_duration(s);
  if (!d || d->count() <= 0) {
    fail(path, "expected a positive duration like 250ms, 5s or 2m, got '" + s + "'");
  }
  return *d;
}

std::size_t size(const YAML::Node& node, const std::string& path) {
  const auto s = scalar(node, path);
  auto v = parse_size(s);
  if (!v || *v == 0) fail(path, "expected a size like 512KiB, 4MiB or 1048576, got '" + s + "'");
  return *v;
}

std::string secret(const YAML::Node& node, const std::string& path, const EnvLookup& env) {
  const auto s = scalar(node, path);
  if (s.rfind("env:", 0) == 0) {
    const auto name = s.substr(4);
    if (name.empty()) fail(path, "env: needs a variable name");
    auto value = env(name);
    if (!value || value->empty()) {
      fail(path, "environment variable " + name + " is not set (export it before starting)");
    }
    return *value;
  }
  if (s.rfind("file:", 0) == 0) {
    std::ifstream in(s.substr(5), std::ios::binary);
    if (!in) fail(path, "cannot read secret file " + s.substr(5));
    std::stringstream ss;
    ss << in.rdbuf();
    auto value = ss.str();
    while (!value.empty() && (value.back() == '\n' || value.back() == '\r')) value.pop_back();
    if (value.empty()) fail(path, "secret file " + s.substr(5) + " is empty");
    return value;
  }
  fail(path, "secrets must be references: env:VARIABLE or file:/path (never the key itself)");
}

std::pair<std::string, std::uint16_t> host_port(const std::string& s, const std::string& path) {
  const auto colon = s.rfind(':');
  if (colon == std::string::npos) fail(path, "expected host:port, got '" + s + "'");
  auto host = s.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  const auto port_text = s.substr(colon + 1);
  long port = 0;
  auto [p, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (host.empty() || ec != std::errc{} || p != port_text.data() + port_text.size() || port < 0 ||
      port > 65535) {
    fail(path, "expected host:port with a port from 0 to 65535, got '" + s + "'");
  }
  return {host, static_cast<std::uint16_t>(port)};
}

}  // namespace shepherd::config::detail
