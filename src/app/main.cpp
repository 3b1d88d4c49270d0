// shepherd: an LLM API gateway. One binary, sub-commands; see README.md.
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <iostream>

#include "app/commands.hpp"
#include "mock/mock_upstream.hpp"
#include "net/handover.hpp"

namespace {

// FastChat's --ssl, with the files by flag as well as by its environment variables.
void add_ssl_flags(CLI::App* command, shepherd::app::SslFlags& flags) {
  command->add_flag("--ssl", flags.ssl,
                    "serve HTTPS with --ssl-certfile/--ssl-keyfile, else SSL_CERTFILE/SSL_KEYFILE");
  command->add_option("--ssl-certfile", flags.certfile, "PEM certificate chain (with --ssl)");
  command->add_option("--ssl-keyfile", flags.keyfile, "PEM private key (with --ssl)");
}

}  // namespace

int main(int argc, char** argv) {
  using namespace shepherd;
  // For upgrades (SIGUSR2): the binary's path and arguments, and the listening sockets a
  // predecessor handed over, if this process is the new one.
  net::remember_command_line(argc, argv);
  net::adopt_inherited();
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
  add_ssl_flags(serve_cmd, serve.ssl);
  serve_cmd->add_option("--pid-file", serve.pid_file,
                        "write the process id here once serving (the new process's after an "
                        "upgrade with SIGUSR2)");

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
  mock_cmd->add_option("--content", mock.content,
                       "answer with this text (one token per word) instead of the mock's words");

  app::CheckOptions check;
  auto* check_cmd = cli.add_subcommand("check", "Integration check of a running gateway (S8)");
  check_cmd->add_option("--url", check.url, "gateway base URL");
  check_cmd->add_option("--key", check.key, "API key (default: $SHEPHERD_API_KEY)");
  check_cmd->add_option("--timeout", check.timeout_seconds, "seconds per request");
  check_cmd->add_option("--controller", check.controller,
                        "also check a FastChat controller (e.g. http://127.0.0.1:21001)");
  check_cmd->add_option("--worker", check.worker,
                        "also check a FastChat worker (e.g. http://127.0.0.1:21002)");

  app::ControllerCommand controller;
  if (const char* e = std::getenv("FASTCHAT_CONTROLLER_HEART_BEAT_EXPIRATION")) {
    controller.expiration_seconds = std::atof(e);
  }
  auto* controller_cmd =
      cli.add_subcommand("controller", "Run a FastChat controller (workers register with it)");
  controller_cmd->add_option("--host", controller.host, "address to listen on");
  controller_cmd->add_option("--port", controller.port, "port (0: ephemeral)");
  controller_cmd->add_option("--dispatch-method", controller.dispatch_method,
                             "lottery or shortest_queue");
  controller_cmd->add_option("--heart-beat-expiration", controller.expiration_seconds,
                             "seconds without a heartbeat before a worker is dropped");
  add_ssl_flags(controller_cmd, controller.ssl);
  app::WorkerCommand worker;
  auto* worker_cmd = cli.add_subcommand(
      "worker", "Run a FastChat worker in front of an upstream (registers with a controller)");
  worker_cmd->add_option("--config,-c", worker.config_path,
                         "YAML configuration file (providers, models, fastchat.worker)");
  worker_cmd->add_option("--upstream", worker.upstream,
                         "base URL of an OpenAI-compatible API, instead of --config");
  worker_cmd->add_option("--api-key-env", worker.api_key_env,
                         "environment variable holding the upstream's API key");
  worker_cmd->add_option("--model", worker.model_maps,
                         "public-name=upstream-id (repeat for several models)");
  worker_cmd->add_option("--model-names", worker.model_names, "model names served, comma-separated")
      ->delimiter(',');
  worker_cmd->add_option("--host", worker.host, "address to listen on (default 127.0.0.1)");
  worker_cmd->add_option("--port", worker.port, "port (default 21002; 0: ephemeral)");
  worker_cmd->add_option("--worker-address", worker.worker_address,
                         "URL the controller and API servers reach this worker at");
  worker_cmd->add_option("--controller-address", worker.controller_address,
                         "controller to register with (default http://127.0.0.1:21001)");
  worker_cmd->add_flag("--no-register", worker.no_register, "do not register with a controller");
  worker_cmd->add_option("--conv-template", worker.conv_template,
                         "conversation template of the prompts (default chatml)");
  worker_cmd
      ->add_option("--fastchat-version", worker.fastchat_version,
                   "sep_style numbering of the API servers: 0.2.36 or head")
      ->check(CLI::IsMember({"0.2.36", "head"}));
  worker_cmd
      ->add_option("--limit-worker-concurrency", worker.limit_concurrency,
                   "requests run at once; more wait (default 5)")
      ->check(CLI::Range(1, 100000));
  worker_cmd->add_option("--context-length", worker.context_length,
                         "context length reported by /model_details (default 8192)");
  worker_cmd->add_option("--heart-beat-interval", worker.heart_beat_seconds,
                         "seconds between heartbeats (default 45)");
  if (const char* e = std::getenv("FASTCHAT_WORKER_HEART_BEAT_INTERVAL")) {
    worker.heart_beat_seconds = std::atof(e);
  }
  worker_cmd->add_option("--threads", worker.threads, "event-loop threads");
  add_ssl_flags(worker_cmd, worker.ssl);

  std::string config_file;
  auto* config_cmd = cli.add_subcommand("config", "Configuration tools");
  config_cmd->require_subcommand(1);
  auto* validate_cmd = config_cmd->add_subcommand("validate", "Check a configuration file");
  validate_cmd->add_option("file", config_file, "YAML file")->required();

  // Keys, audit and spend, on the store the config names.
  app::KeysOptions keys;
  auto* keys_cmd = cli.add_subcommand("keys", "Manage virtual keys (the store of --config)");
  keys_cmd->require_subcommand(1);
  keys_cmd->fallthrough();  // --config may follow the action
  keys_cmd->add_option("--config,-c", keys.config_path, "YAML configuration file");
  auto key_flags = [&](CLI::App* c) {
    auto& f = keys.flags;
    c->add_option("--name", f.name, "a name for people");
    c->add_option("--models", f.models, "allowed models, comma-separated (default: all)")
        ->delimiter(',');
    c->add_option("--rpm", f.rpm, "requests per minute (none: no limit)");
    c->add_option("--tpm", f.tpm, "tokens per minute (none: no limit)");
    c->add_option("--max-parallel", f.max_parallel, "requests in progress at once (none)");
    c->add_option("--budget-usd", f.budget_usd, "budget in US dollars (none: no budget)");
    c->add_option("--budget-period", f.budget_period, "day, week, month or total")
        ->check(CLI::IsMember({"day", "week", "month", "total"}));
    c->add_option("--expires-at", f.expires_at, "RFC 3339 time or Unix seconds (none)");
    c->add_option("--metadata", f.metadata, "a JSON object, e.g. {\"team\":\"search\"}");
    c->add_option("--log-bodies", f.log_bodies, "audit this key's request and response bodies");
  };
  auto* keys_create = keys_cmd->add_subcommand("create", "Create a key (prints its secret once)");
  key_flags(keys_create);
  keys_cmd->add_subcommand("list", "List keys (never their secrets)");
  auto* keys_show = keys_cmd->add_subcommand("show", "Show a key and its budget's spend");
  keys_show->add_option("id", keys.id, "key id")->required();
  auto* keys_update = keys_cmd->add_subcommand("update", "Change a key's models or limits");
  keys_update->add_option("id", keys.id, "key id")->required();
  key_flags(keys_update);
  auto* keys_revoke = keys_cmd->add_subcommand("revoke", "Revoke a key");
  keys_revoke->add_option("id", keys.id, "key id")->required();

  struct Filter {
    std::string since, until, model, key, status, limit, by, client_request_id;
  } filter;
  app::AuditOptions audit;
  auto* audit_cmd = cli.add_subcommand("audit", "Read the audit log (newest first)");
  audit_cmd->add_option("--config,-c", audit.config_path, "YAML configuration file");
  audit_cmd->add_flag("--json", audit.json, "print JSON instead of a table");
  app::CostOptions cost;
  auto* cost_cmd =
      cli.add_subcommand("cost", "Spend, latency and savings against list prices by group");
  cost_cmd->add_option("--config,-c", cost.config_path, "YAML configuration file");
  cost_cmd->add_option("--by", filter.by, "model, key, provider or day")
      ->check(CLI::IsMember({"model", "key", "provider", "day"}));
  cost_cmd->add_flag("--json", cost.json, "print JSON instead of a table");
  for (auto* c : {audit_cmd, cost_cmd}) {
    c->add_option("--since", filter.since, "RFC 3339 time, YYYY-MM-DD or Unix seconds");
    c->add_option("--until", filter.until, "RFC 3339 time, YYYY-MM-DD or Unix seconds");
  }
  audit_cmd->add_option("--model", filter.model, "only this model");
  audit_cmd->add_option("--key", filter.key, "only this key id");
  audit_cmd->add_option("--client-request-id", filter.client_request_id,
                        "only the request the client sent with this X-Request-Id");
  audit_cmd->add_option("--status", filter.status, "only this HTTP status");
  audit_cmd->add_option("--limit", filter.limit, "at most this many records (default 100)");

  CLI11_PARSE(cli, argc, argv);
  spdlog::set_default_logger(spdlog::stderr_color_mt("shepherd"));
  spdlog::set_level(spdlog::level::from_str(log_level));
  serve.log_level_given = worker.log_level_given = cli.get_option("--log-level")->count() > 0;

  if (*serve_cmd) return app::serve(serve);
  if (*check_cmd) {
    // Naming only FastChat pieces checks only them; --url adds the gateway back.
    check.gateway =
        check_cmd->count("--url") > 0 || (check.controller.empty() && check.worker.empty());
    return app::check(check);
  }
  if (*controller_cmd) return app::controller_command(controller);
  if (*worker_cmd) return app::worker_command(worker);
  if (*validate_cmd) return app::validate_config(config_file);
  if (*keys_cmd) {
    for (const auto* c : keys_cmd->get_subcommands()) keys.action = c->get_name();
    return app::keys_command(keys);
  }
  if (*audit_cmd || *cost_cmd) {
    std::string query;
    for (const auto& [name, value] : {std::pair<const char*, std::string&>{"since", filter.since},
                                      {"until", filter.until},
                                      {"model", filter.model},
                                      {"key", filter.key},
                                      {"client_request_id", filter.client_request_id},
                                      {"status", filter.status},
                                      {"limit", filter.limit},
                                      {"by", filter.by}}) {
      if (!value.empty()) query += (query.empty() ? "" : "&") + app::query_param(name, value);
    }
    if (*audit_cmd) {
      audit.query = query;
      return app::audit_command(audit);
    }
    cost.query = query;
    return app::cost_command(cost);
  }
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
