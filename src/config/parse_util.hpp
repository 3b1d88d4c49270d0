// The vocabulary of the YAML walk, shared by the files that parse a section of the config: each
// function reads one node and throws ConfigError naming its key path when the value is wrong.
// Start-up code only; parse_config() turns a ConfigError into an Error at its boundary.
#pragma once

#include <yaml-cpp/yaml.h>

#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

#include "config/config.hpp"

namespace shepherd::config::detail {

struct ConfigError {
  std::string message;
};

[[noreturn]] void fail(const std::string& path, const std::string& what);
std::string join_path(const std::string& parent, const std::string& key);
void require_map(const YAML::Node& node, const std::string& path);
// Rejects keys other than `allowed`, naming the first unknown one.
void check_keys(const YAML::Node& node, const std::string& path,
                std::initializer_list<std::string_view> allowed);
std::string scalar(const YAML::Node& node, const std::string& path);
bool boolean(const YAML::Node& node, const std::string& path);
long integer(const YAML::Node& node, const std::string& path, long min, long max);
// A finite, non-negative number.
double number(const YAML::Node& node, const std::string& path);
// A positive duration ("250ms", "5s", "2m", "1h", "30d").
Millis duration(const YAML::Node& node, const std::string& path);
std::size_t size(const YAML::Node& node, const std::string& path);
// The choice a scalar names among `choices` (its name, then its value); anything else fails
// with "expected a, b or c, got '...'".
template <typename T>
T one_of(const YAML::Node& node, const std::string& path,
         std::initializer_list<std::pair<std::string_view, T>> choices) {
  const auto value = scalar(node, path);
  std::string names;
  std::size_t i = 0;
  for (const auto& [name, choice] : choices) {
    if (name == value) return choice;
    names.append(i == 0 ? "" : i + 1 == choices.size() ? " or " : ", ").append(name);
    ++i;
  }
  fail(path, "expected " + names + ", got '" + value + "'");
}
// Resolves a secret reference: "env:NAME" or "file:PATH". Plain values are refused so a key
// cannot end up committed in a config file by accident.
std::string secret(const YAML::Node& node, const std::string& path, const EnvLookup& env);

// The sections storage, keys, audit and redis of `root` (governance.cpp).
void parse_governance(const YAML::Node& root, const EnvLookup& env, Config& config);
// The server section (server.cpp).
// A listener's `tls` section at `path` (server.tls and the FastChat listeners').
void parse_listener_tls(const YAML::Node& node, const std::string& path, ListenerTlsConfig& tls);
void parse_log(const YAML::Node& node, LogConfig& log);
void parse_tracing(const YAML::Node& node, TracingConfig& tracing);
void parse_server(const YAML::Node& node, const EnvLookup& env, ServerConfig& server);
// The fastchat section (fastchat.cpp).
void parse_fastchat(const YAML::Node& node, Config& config);
// providers.<name>.fastchat of a kind: fastchat provider at `path` (fastchat.cpp).
void parse_fastchat_provider(const YAML::Node& node, const std::string& path,
                             FastChatProviderConfig& f);
// "host:port" ("[v6]:port" too) with a port from 0 to 65535.
std::pair<std::string, std::uint16_t> host_port(const std::string& s, const std::string& path);

}  // namespace shepherd::config::detail
