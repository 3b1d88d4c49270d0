#include <spdlog/spdlog.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <iostream>
#include <memory>
#include <optional>

#include "app/commands.hpp"
#include "config/config.hpp"
#include "fastchat/controller.hpp"
#include "fastchat/worker_request.hpp"
#include "mock/mock_upstream.hpp"
#include "net/tls.hpp"
#include "providers/fastchat/fastchat_adapter.hpp"
#include "server/server.hpp"

namespace shepherd::app {
namespace {

constexpr const char* kNoProviderHelp =
    R"(no provider is configured, so every model request fails.
  To try Shepherd offline:   shepherd serve --demo
  To use a real provider, add one to the config file (shepherd.yaml, or --config FILE):
    providers:
      relay:
        kind: openai
        base_url: https://api.openai.com/v1
        api_key: env:OPENAI_API_KEY
    models:
      gpt-4.1:
        deployments:
          - {provider: relay, model: gpt-4.1, price: {input: 8.00, output: 8.00}}
  then export OPENAI_API_KEY and start again. docs/config.md lists every setting.)";

// The write-up's models at its relay's prices (USD per 1M tokens), served by the mock. The mock
// speaks every dialect, so claude-sonnet-4.5 goes out through the Anthropic adapter and
// gemini-2.5-flash through the Gemini one: OpenAI clients see translation working offline, and
// Anthropic clients see it the other way round on gpt-4.1.
std::string demo_yaml(std::uint16_t mock_port) {
  const auto root = "http://127.0.0.1:" + std::to_string(mock_port);
  return "providers:\n"
         "  mock:\n"
         "    kind: openai\n"
         "    base_url: " +
         root +
         "/v1\n"
         "  mock-anthropic:\n"
         "    kind: anthropic\n"
         "    base_url: " +
         root +
         "\n"
         "  mock-gemini:\n"
         "    kind: gemini\n"
         "    base_url: " +
         root +
         "/v1beta\n"
         "models:\n"
         "  gpt-4.1:\n"
         "    deployments: [{provider: mock, price: {input: 8.00, output: 8.00}}]\n"
         "  claude-sonnet-4.5:\n"
         "    deployments: [{provider: mock-anthropic, price: {input: 15.00, output: 15.00}}]\n"
         "  gemini-2.5-flash:\n"
         "    deployments: [{provider: mock-gemini, price: {input: 2.50, output: 2.50}}]\n"
         "  deepseek-v3.2:\n"
         "    deployments: [{provider: mock, price: {input: 0.42, output: 0.42}}]\n";
}

std::string find_config(const ServeOptions& options) {
  if (!options.config_path.empty()) return options.config_path;
  if (const char* env = std::getenv("SHEPHERD_CONFIG"); env && *env) return env;
  if (std::filesystem::exists("shepherd.yaml")) return "shepherd.yaml";
  return {};
}

}  // namespace

void print_worker(server::Server& server, const config::Config& config) {
  const auto& w = config.fastchat.worker;
  std::printf(
      "worker listening on %s://%s:%u as %s (%s)\n", w.tls.scheme(), w.host.c_str(),
      static_cast<unsigned>(server.worker_port()), server.worker_address().c_str(),
      w.controller.empty() ? "not registering" : ("registering with " + w.controller).c_str());
}

int serve(const ServeOptions& options) {
  std::unique_ptr<mock::MockUpstream> demo_mock;
  base::Result<config::Config> loaded = config::Config{};
  const auto path = find_config(options);
  if (!path.empty()) {
    loaded = config::load_config_file(path, config::process_env());
  } else if (options.demo) {
    mock::MockOptions mo;
    mo.port = 0;
    demo_mock = std::make_unique<mock::MockUpstream>(mo);
    demo_mock->start();
    loaded = config::parse_config(
        demo_yaml(demo_mock->port()), config::process_env(),
        "built-in demo (mock upstream on 127.0.0.1:" + std::to_string(demo_mock->port()) + ")");
  } else {
    loaded->source = "built-in default (no providers)";
  }
  if (!loaded) {
    std::cerr << "shepherd: invalid configuration: " << loaded.error().message << "\n";
    return 2;
  }
  auto config = std::move(loaded).value();
  if (!options.listen.empty()) {
    auto yaml = "server: {listen: \"" + options.listen + "\"}";
    auto listen = config::parse_config(yaml, config::process_env());
    if (!listen) {
      std::cerr << "shepherd: --listen: " << listen.error().message << "\n";
      return 2;
    }
    config.server.host = listen->server.host;
    config.server.port = listen->server.port;
  }
  if (options.threads) config.server.threads = *options.threads;
  if (options.ssl.ssl) {
    auto tls = ssl_settings(options.ssl);
    if (!tls) {
      std::cerr << "shepherd: " << tls.error().message << "\n";
      return 2;
    }
    config.server.tls = *tls;
  }

  configure_logging(config.log, options.log_level_given);
  spdlog::info("configuration: {}", config.source);
  if (config.providers.empty()) spdlog::warn("{}", kNoProviderHelp);
  if (config.server.api_keys.empty() && config.keys.secret.empty()) {
    spdlog::warn(
        "OPEN MODE: no API keys are configured (server.api_keys, or keys.secret for virtual "
        "keys), so anyone who can reach this address can use every model. Add api_keys: "
        "[env:SHEPHERD_API_KEY] to require a key.");
  }
  // FastChat's controller beside the gateway (fastchat.controller), on its own port, started
  // first so that a worker beside it registers with it; a reload does not change it.
  std::optional<fastchat::Controller> controller;
  if (const auto& c = config.fastchat.controller; c.enabled) {
    fastchat::ControllerOptions o;
    o.host = c.host;
    o.port = c.port;
    o.dispatch = *fastchat::parse_dispatch_method(c.dispatch);
    o.expiration = c.heart_beat_expiration;
    o.tls = c.tls;
    o.tls_setting = "fastchat.controller.tls";
    controller.emplace(std::move(o));
    try {
      controller->start();
    } catch (const std::exception& e) {
      std::cerr << "shepherd: " << e.what() << "\n";
      return 1;
    }
    if (auto& w = config.fastchat.worker; w.enabled && !w.controller_given) {
      w.controller = c.tls.scheme();
      w.controller.append("://").append(c.host).append(":").append(
          std::to_string(controller->port()));
    }
  }
  auto shared = std::make_shared<const config::Config>(std::move(config));
  // SIGHUP and POST /admin/config/reload read the file again (a demo or default has none).
  // A store that cannot be opened or an address that cannot be bound ends the start here, with
  // the reason.
  std::unique_ptr<server::Server> started;
  try {
    started = std::make_unique<server::Server>(shared, path);
    keep_drained(*started);  // before the first request
    if (controller) started->attach_controller_tls(&controller->tls());
    started->start();
  } catch (const std::exception& e) {
    std::cerr << "shepherd: " << e.what() << "\n";
    started.reset();
    if (controller) controller->stop();
    return 1;
  }
  auto& server = *started;
  const auto ready = [&] {
    std::printf("shepherd listening on %s://%s:%u (pid %d, %d threads, %zu models)\n",
                shared->server.tls.scheme(), shared->server.host.c_str(), server.port(),
                static_cast<int>(::getpid()), server.threads(), shared->models.size());
    if (server.ui_port()) {
      std::printf("ui listening on %s://%s:%u\n", shared->server.tls.scheme(),
                  shared->server.ui_host.c_str(), static_cast<unsigned>(server.ui_port()));
    }
    if (controller) {
      const auto& c = shared->fastchat.controller;
      std::printf("controller listening on %s://%s:%u (dispatch %s)\n", c.tls.scheme(),
                  c.host.c_str(), static_cast<unsigned>(controller->port()), c.dispatch.c_str());
    }
    if (server.worker()) print_worker(server, *shared);
    std::fflush(stdout);
    announce_ready(options.pid_file);
  };
  run_until_stopped(server, options.pid_file, ready);
  if (controller) controller->stop();
  if (demo_mock) demo_mock->stop();
  spdlog::info("stopped");
  return 0;
}

int validate_config(const std::string& path) {
  auto loaded = config::load_config_file(path, config::process_env());
  if (loaded) {
    // What the gateway checks when it applies a config, beyond the file's own rules.
    if (auto s = providers::fastchat::check_templates(*loaded); !s) loaded = s.error();
  }
  if (loaded && loaded->fastchat.worker.enabled) {
    if (auto c = fastchat::WorkerCatalog::make(*loaded); !c) loaded = c.error();
  }
  // The listeners' certificates and keys load, and match.
  if (loaded) {
    const auto& c = *loaded;
    for (auto [tls, setting] : {std::pair{&c.server.tls, "server.tls"},
                                std::pair{&c.fastchat.controller.tls, "fastchat.controller.tls"},
                                std::pair{&c.fastchat.worker.tls, "fastchat.worker.tls"}}) {
      if (!tls->enabled()) continue;
      if (auto context = net::make_server_tls_context(*tls, setting); !context) {
        loaded = context.error();
        break;
      }
    }
  }
  if (!loaded) {
    std::cerr << loaded.error().message << "\n";
    return 1;
  }
  std::cout << path << ": valid (" << loaded->providers.size() << " providers, "
            << loaded->models.size() << " models: " << loaded->model_names() << ")\n";
  return 0;
}

}  // namespace shepherd::app
