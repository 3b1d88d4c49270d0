// `shepherd worker`: the original system's relay worker, as a FastChat worker in front of any
// provider Shepherd speaks (docs/decisions/fastchat.md). Either a config file names the providers
// and models (and fastchat.worker its settings), or flags name one OpenAI-compatible upstream and
// the model map, as the relay worker's own flags did.
#include <spdlog/spdlog.h>

#include <boost/json.hpp>
#include <cstdio>
#include <iostream>
#include <memory>

#include "app/commands.hpp"
#include "config/config.hpp"
#include "server/server.hpp"

namespace shepherd::app {

namespace {

namespace json = boost::json;

// The providers and models of flags, as config text (JSON is YAML): one provider `upstream` and
// a model per --model public=id (and per --model-names name, served under its own id).
base::Result<std::string> upstream_config(const WorkerCommand& c) {
  json::object provider{{"kind", "openai"}, {"base_url", c.upstream}};
  if (!c.api_key_env.empty()) provider["api_key"] = "env:" + c.api_key_env;
  json::object models;
  auto add = [&models](std::string_view name, std::string_view id) {
    json::object deployment{{"provider", "upstream"}, {"model", id}};
    models[name] = json::object{{"deployments", json::array{std::move(deployment)}}};
  };
  for (const auto& map : c.model_maps) {
    const auto eq = map.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == map.size()) {
      return base::make_error(base::ErrorCode::kBadRequest,
                              "--model: expected public-name=upstream-id, got '" + map + "'");
    }
    add(std::string_view(map).substr(0, eq), std::string_view(map).substr(eq + 1));
  }
  for (const auto& name : c.model_names) {
    if (!models.contains(name)) add(name, name);
  }
  if (models.empty()) {
    return base::make_error(base::ErrorCode::kBadRequest,
                            "--upstream needs at least one --model public=id or --model-names");
  }
  json::object root{{"providers", json::object{{"upstream", std::move(provider)}}},
                    {"models", std::move(models)}};
  return json::serialize(root);
}

// The worker's settings: the config's, then every flag given.
void apply_flags(const WorkerCommand& c, config::FastChatWorkerConfig& w) {
  w.enabled = true;
  if (c.host) w.host = *c.host == "localhost" ? "127.0.0.1" : *c.host;
  if (c.port) w.port = *c.port;
  if (c.worker_address) w.address = *c.worker_address;
  if (c.controller_address) w.controller = *c.controller_address;
  if (c.no_register) w.controller.clear();
  // With a config file the names pick among its models; with --upstream they are models of their
  // own, and every model the flags name is served.
  if (!c.model_names.empty() && c.upstream.empty()) w.models = c.model_names;
  if (c.conv_template) w.conv_template = *c.conv_template;
  if (c.fastchat_version) w.fastchat_version = *c.fastchat_version;
  if (c.limit_concurrency) w.limit_concurrency = *c.limit_concurrency;
  if (c.context_length) w.context_length = *c.context_length;
  if (c.heart_beat_seconds) {
    w.heart_beat_interval = config::Millis(static_cast<std::int64_t>(*c.heart_beat_seconds * 1000));
  }
  while (w.address.ends_with('/')) w.address.pop_back();
  while (w.controller.ends_with('/')) w.controller.pop_back();
}

}  // namespace

int worker_command(const WorkerCommand& command) {
  base::Result<config::Config> loaded = config::Config{};
  if (!command.config_path.empty() && !command.upstream.empty()) {
    std::cerr << "shepherd worker: give --config or --upstream, not both\n";
    return 2;
  }
  if (!command.config_path.empty()) {
    loaded = config::load_config_file(command.config_path, config::process_env());
  } else if (!command.upstream.empty()) {
    auto text = upstream_config(command);
    if (!text) {
      std::cerr << "shepherd worker: " << text.error().message << "\n";
      return 2;
    }
    loaded = config::parse_config(*text, config::process_env(),
                                  "flags (--upstream " + command.upstream + ")");
  } else {
    std::cerr << "shepherd worker: name the models to serve: --config FILE, or --upstream URL "
                 "with --model public=upstream-id\n";
    return 2;
  }
  if (!loaded) {
    std::cerr << "shepherd worker: invalid configuration: " << loaded.error().message << "\n";
    return 2;
  }
  auto config = std::move(loaded).value();
  if (command.heart_beat_seconds && *command.heart_beat_seconds <= 0) {
    std::cerr << "shepherd worker: the heartbeat interval must be positive\n";
    return 2;
  }
  apply_flags(command, config.fastchat.worker);
  if (command.ssl.ssl) {
    auto tls = ssl_settings(command.ssl);
    if (!tls) {
      std::cerr << "shepherd worker: " << tls.error().message << "\n";
      return 2;
    }
    config.fastchat.worker.tls = *tls;
  }
  for (const auto& name : config.fastchat.worker.models) {
    if (!config.find_model(name)) {
      std::cerr << "shepherd worker: --model-names: unknown model '" << name
                << "' (models: " << config.model_names() << ")\n";
      return 2;
    }
  }
  if (command.threads) config.server.threads = *command.threads;
  configure_logging(config.log, command.log_level_given);
  spdlog::info("configuration: {}", config.source);
  auto shared = std::make_shared<const config::Config>(std::move(config));
  // SIGHUP re-reads a config file; the worker's own settings apply at start.
  std::unique_ptr<server::Server> started;
  try {
    started = std::make_unique<server::Server>(shared, command.config_path,
                                               server::Server::Listeners::kWorkerOnly);
    keep_drained(*started);  // before the first request
    started->start();
  } catch (const std::exception& e) {
    std::cerr << "shepherd worker: " << e.what() << "\n";
    return 1;
  }
  auto& server = *started;
  run_until_stopped(server, {}, [&] {
    print_worker(server, *shared);
    std::fflush(stdout);
    announce_ready({});
  });
  spdlog::info("stopped");
  return 0;
}

}  // namespace shepherd::app
