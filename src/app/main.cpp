// shepherd: an LLM API gateway. One binary, sub-commands; see README.md.
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <iostream>

#include "app/commands.hpp"
#include "mock/mock_upstream.hpp"

int main(int argc, char** argv) {
  using namespace shepherd;
  CLI::App cli{"Shepherd: a fast LLM API gateway (OpenAI-compatible)"};
  cli.require_subcommand(1);
  std::string log_level = "info";
  cli.add_option("--log-level", log_level, "trace, debug, info, warn, error")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}));

  app::ServeOptions serve;
  auto* serve_cmd = cli.add_subcommand("serve", "Run the gateway");
  serve_cmd->add_option("--config,-c", serve.config_path, "YAML configuration file");
  serve_cmd->add_flag("--demo", serve.demo,
                      "Without a config file, serve the models of a built-in mock upstream");
  serve_cmd->add_option("--listen", serve.listen, "host:port, overrides server.listen");
  serve_cmd->add_option("--threads", serve.threads, "event-loop threads, overrides server.threads");

  mock::MockOptions mock;
  std::string mock_listen = "127.0.0.1:9000";
  long first_delay = 0, chunk_delay = 0;
  auto* mock_cmd = cli.add_subcommand("mock-upstream",
                                      "Run a provider double (OpenAI, Anthropic and Gemini APIs)");
  mock_cmd->add_option("--listen", mock_listen, "host:port (port 0: ephemeral)");
  mock_cmd->add_option("--threads", mock.threads, "event-loop threads");
  mock_cmd->add_option("--first-token-delay-ms", first_delay, "delay before the first token");
  mock_cmd->add_option("--chunk-delay-ms", chunk_delay, "delay between stream chunks");
  mock_cmd->add_option("--chunks", mock.chunks, "tokens per answer");
  mock_cmd->add_option("--fault", mock.fault, "fault spec applied to every chat request");
  mock_cmd->add_option("--max-context", mock.max_context,
                       "prompt tokens above which a request gets 400 context_length_exceeded");
  mock_cmd->add_option("--seed", mock.seed, "seed of the fail-rate fault's random selection");
  mock_cmd->add_option("--models", mock.models, "model ids listed by /v1/models")->delimiter(',');
  mock_cmd->add_option("--tls-cert", mock.tls_cert_file, "PEM certificate: serve HTTPS");
  mock_cmd->add_option("--tls-key", mock.tls_key_file, "PEM private key for --tls-cert");

  app::CheckOptions check;
  auto* check_cmd = cli.add_subcommand("check", "Integration check of a running gateway (S8)");
  check_cmd->add_option("--url", check.url, "gateway base URL");
  check_cmd->add_option("--key", check.key, "API key (default: $SHEPHERD_API_KEY)");
  check_cmd->add_option("--timeout", check.timeout_seconds, "seconds per request");

  std::string config_file;
  auto* config_cmd = cli.add_subcommand("config", "Configuration tools");
  config_cmd->require_subcommand(1);
  auto* validate_cmd = config_cmd->add_subcommand("validate", "Check a configuration file");
  validate_cmd->add_option("file", config_file, "YAML file")->required();

  CLI11_PARSE(cli, argc, argv);
  spdlog::set_default_logger(spdlog::stderr_color_mt("shepherd"));
  spdlog::set_level(spdlog::level::from_str(log_level));

  if (*serve_cmd) return app::serve(serve);
  if (*check_cmd) return app::check(check);
  if (*validate_cmd) return app::validate_config(config_file);
  if (*mock_cmd) {
    const auto colon = mock_listen.rfind(':');
    if (colon == std::string::npos) {
      std::cerr << "mock-upstream: --listen expects host:port\n";
      return 2;
    }
    mock.host = mock_listen.substr(0, colon);
    try {
      mock.port = static_cast<std::uint16_t>(std::stoi(mock_listen.substr(colon + 1)));
    } catch (const std::exception&) {
      std::cerr << "mock-upstream: --listen expects host:port\n";
      return 2;
    }
    mock.first_token_delay = std::chrono::milliseconds(first_delay);
    mock.chunk_delay = std::chrono::milliseconds(chunk_delay);
    return mock::run_mock_upstream(mock);
  }
  return 0;
}
