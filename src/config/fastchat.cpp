// The fastchat section: FastChat's processes that `serve` runs beside the gateway.
#include <algorithm>

#include "config/parse_util.hpp"

namespace shepherd::config::detail {

namespace {

// An http(s) URL such as a worker's or controller's address, without a trailing slash.
std::string http_url(const YAML::Node& node, const std::string& path) {
  auto url = scalar(node, path);
  if (auto endpoint = parse_endpoint(url); !endpoint) fail(path, endpoint.error().message);
  while (url.ends_with('/')) url.pop_back();
  return url;
}

// A FastChat version, which decides how sep_style is numbered.
std::string fastchat_version(const YAML::Node& node, const std::string& path) {
  auto v = scalar(node, path);
  if (v != "0.2.36" && v != "head") fail(path, "expected 0.2.36 or head, got '" + v + "'");
  return v;
}

void parse_controller(const YAML::Node& node, FastChatControllerConfig& c) {
  const std::string path = "fastchat.controller";
  c.enabled = true;
  if (node.IsNull()) return;  // `controller:` alone: every default
  check_keys(node, path, {"listen", "dispatch", "heart_beat_expiration", "tls"});
  if (auto n = node["tls"]) parse_listener_tls(n, path + ".tls", c.tls);
  if (auto n = node["listen"]) {
    std::tie(c.host, c.port) = host_port(scalar(n, path + ".listen"), path + ".listen");
  }
  if (auto n = node["dispatch"]) {
    c.dispatch = scalar(n, path + ".dispatch");
    if (c.dispatch != "lottery" && c.dispatch != "shortest_queue") {
      fail(path + ".dispatch", "expected lottery or shortest_queue, got '" + c.dispatch + "'");
    }
  }
  if (auto n = node["heart_beat_expiration"]) {
    c.heart_beat_expiration = duration(n, path + ".heart_beat_expiration");
  }
}

void parse_worker(const YAML::Node& node, const Config& config, FastChatWorkerConfig& w) {
  const std::string path = "fastchat.worker";
  w.enabled = true;
  if (node.IsNull()) return;  // `worker:` alone: every default
  check_keys(node, path,
             {"listen", "address", "controller", "models", "conv_template", "conv_templates",
              "limit_concurrency", "queue_timeout", "context_length", "heart_beat_interval",
              "fastchat_version", "tls"});
  if (auto n = node["tls"]) parse_listener_tls(n, path + ".tls", w.tls);
  if (auto n = node["listen"]) {
    std::tie(w.host, w.port) = host_port(scalar(n, path + ".listen"), path + ".listen");
  }
  if (auto n = node["address"]) w.address = http_url(n, path + ".address");
  if (auto n = node["controller"]) {
    w.controller_given = true;
    // `controller: none` (or null) runs the worker without registering.
    w.controller = n.IsNull() || (n.IsScalar() && n.Scalar() == "none")
                       ? std::string()
                       : http_url(n, path + ".controller");
  }
  if (auto n = node["models"]) {
    if (!n.IsSequence()) fail(path + ".models", "expected a list of model names");
    for (std::size_t i = 0; i < n.size(); ++i) {
      const auto p = path + ".models[" + std::to_string(i) + "]";
      w.models.push_back(scalar(n[i], p));
      if (!config.find_model(w.models.back())) {
        fail(p, "unknown model '" + w.models.back() + "' (models: " + config.model_names() + ")");
      }
    }
  }
  if (auto n = node["conv_template"]) w.conv_template = scalar(n, path + ".conv_template");
  if (auto n = node["conv_templates"]) {
    require_map(n, path + ".conv_templates");
    for (const auto& kv : n) {
      const auto model = kv.first.as<std::string>();
      if (!config.find_model(model)) {
        fail(path + ".conv_templates." + model,
             "unknown model (models: " + config.model_names() + ")");
      }
      w.conv_templates.emplace_back(model, scalar(kv.second, path + ".conv_templates." + model));
    }
  }
  if (auto n = node["fastchat_version"]) {
    w.fastchat_version = fastchat_version(n, path + ".fastchat_version");
  }
  if (auto n = node["limit_concurrency"]) {
    w.limit_concurrency = static_cast<int>(integer(n, path + ".limit_concurrency", 1, 100'000));
  }
  if (auto n = node["queue_timeout"]) w.queue_timeout = duration(n, path + ".queue_timeout");
  if (auto n = node["context_length"]) {
    w.context_length =
        static_cast<std::uint64_t>(integer(n, path + ".context_length", 1, 100'000'000));
  }
  if (auto n = node["heart_beat_interval"]) {
    w.heart_beat_interval = duration(n, path + ".heart_beat_interval");
  }
}

}  // namespace

void parse_fastchat_provider(const YAML::Node& node, const std::string& path,
                             FastChatProviderConfig& f) {
  require_map(node, path);
  check_keys(node, path,
             {"conv_template", "conv_templates", "version", "discover", "refresh", "target"});
  if (auto n = node["target"]) {
    const auto target = scalar(n, path + ".target");
    if (target != "controller" && target != "worker") {
      fail(path + ".target", "expected controller or worker, got '" + target + "'");
    }
    f.worker = target == "worker";
  }
  if (auto n = node["conv_template"]) f.conv_template = scalar(n, path + ".conv_template");
  if (auto n = node["conv_templates"]) {
    require_map(n, path + ".conv_templates");
    for (const auto& kv : n) {
      const auto model = kv.first.as<std::string>();
      f.conv_templates.emplace_back(model, scalar(kv.second, path + ".conv_templates." + model));
    }
  }
  if (auto n = node["version"]) f.version = fastchat_version(n, path + ".version");
  if (auto n = node["discover"]) f.discover = boolean(n, path + ".discover");
  if (auto n = node["refresh"]) f.refresh = duration(n, path + ".refresh");
}

void parse_fastchat(const YAML::Node& node, Config& config) {
  if (node.IsNull()) return;
  require_map(node, "fastchat");
  check_keys(node, "fastchat", {"controller", "worker"});
  if (auto n = node["controller"]) parse_controller(n, config.fastchat.controller);
  if (auto n = node["worker"]) parse_worker(n, config, config.fastchat.worker);
}

}  // namespace shepherd::config::detail

namespace shepherd::config {

Config with_discovered(
    const Config& base,
    const std::vector<std::pair<std::string, std::vector<std::string>>>& discovered) {
  Config out = base;
  std::size_t added = 0;
  for (const auto& entry : discovered) {
    // Named, not a structured binding: clang's C++20 cannot capture a binding in a lambda.
    const std::string& provider = entry.first;
    const auto& names = entry.second;
    auto it = std::find_if(out.providers.begin(), out.providers.end(),
                           [&](const ProviderConfig& p) { return p.name == provider; });
    if (it == out.providers.end() || it->kind != "fastchat") continue;
    for (const auto& name : names) {
      if (name.empty() || out.find_model(name)) continue;
      DeploymentConfig d;
      d.id = name + "@" + provider;
      d.provider = provider;
      d.provider_index = static_cast<std::size_t>(it - out.providers.begin());
      d.model = name;
      ModelConfig m;
      m.name = name;
      m.strategy = out.routing.strategy;
      m.deployments.push_back(std::move(d));
      out.models.push_back(std::move(m));
      ++added;
    }
  }
  if (added) out.source += " + " + std::to_string(added) + " models of FastChat workers";
  return out;
}

}  // namespace shepherd::config
