// The fastchat section: FastChat's processes that `serve` runs beside the gateway.
#include "config/parse_util.hpp"

namespace shepherd::config::detail {

namespace {

void parse_controller(const YAML::Node& node, FastChatControllerConfig& c) {
  const std::string path = "fastchat.controller";
  c.enabled = true;
  if (node.IsNull()) return;  // `controller:` alone: every default
  check_keys(node, path, {"listen", "dispatch", "heart_beat_expiration"});
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

}  // namespace

void parse_fastchat(const YAML::Node& node, Config& config) {
  if (node.IsNull()) return;
  require_map(node, "fastchat");
  check_keys(node, "fastchat", {"controller"});
  if (auto n = node["controller"]) parse_controller(n, config.fastchat.controller);
}

}  // namespace shepherd::config::detail
