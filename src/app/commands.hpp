// The sub-commands of the shepherd binary. Each returns the process exit status.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.hpp"
#include "config/tls.hpp"

namespace shepherd::server {
class Server;
}
namespace shepherd::config {
struct Config;
struct LogConfig;
}  // namespace shepherd::config

namespace shepherd::app {

// FastChat's --ssl: HTTPS on the listener, with the certificate and key from --ssl-certfile and
// --ssl-keyfile, else from FastChat's SSL_CERTFILE and SSL_KEYFILE environment variables.
struct SslFlags {
  bool ssl = false;
  std::string certfile, keyfile;
};
// The listener's TLS settings (not enabled without --ssl); an error when --ssl lacks a file.
base::Result<config::ListenerTlsConfig> ssl_settings(const SslFlags& flags);

struct ServeOptions {
  std::string config_path;  // empty: SHEPHERD_CONFIG, then ./shepherd.yaml, then the default
  bool demo = false;        // without a config: serve an in-process mock upstream's models
  std::string listen;       // overrides server.listen
  std::optional<int> threads;
  SslFlags ssl;                  // overrides server.tls
  bool log_level_given = false;  // --log-level: it wins over log.level
  std::string pid_file;          // written once serving (by the new process after an upgrade)
};
int serve(const ServeOptions& options);

struct CheckOptions {
  std::string url = "http://127.0.0.1:8000";
  bool gateway = true;  // check the gateway at `url` (off when only FastChat pieces are named)
  // FastChat's pieces of the topology, checked before the gateway when set: a controller (its
  // models, each with a worker) and a worker (its status and one generation per model).
  std::string controller;
  std::string worker;
  std::string key;  // empty: SHEPHERD_API_KEY from the environment, if set
  std::string prompt = "Say hello in one short sentence.";
  int timeout_seconds = 60;
};
int check(const CheckOptions& options);

int validate_config(const std::string& path);

// Applies log.level (unless --log-level was given) and log.format to spdlog (logging.cpp).
void configure_logging(const config::LogConfig& log, bool level_given);

// `shepherd controller`: FastChat's controller, with FastChat's flags (controller_cmd.cpp).
struct ControllerCommand {
  std::string host = "127.0.0.1";  // "localhost" as FastChat's default means the same
  std::uint16_t port = 21001;
  std::string dispatch_method = "shortest_queue";
  double expiration_seconds = 90;  // FASTCHAT_CONTROLLER_HEART_BEAT_EXPIRATION, else 90
  SslFlags ssl;
};
int controller_command(const ControllerCommand& command);

// `shepherd worker`: a FastChat worker in front of the providers of a config file, or of one
// OpenAI-compatible upstream given by flags (worker_cmd.cpp). Every flag left unset keeps the
// config's fastchat.worker value (or its default).
struct WorkerCommand {
  std::string config_path;
  std::string upstream;     // base URL of an OpenAI-compatible API (instead of a config file)
  std::string api_key_env;  // the variable that holds the upstream's key
  std::vector<std::string> model_maps;   // "public=upstream-id"
  std::vector<std::string> model_names;  // served names (FastChat's --model-names)
  std::optional<std::string> host, worker_address, controller_address, conv_template,
      fastchat_version;
  std::optional<std::uint16_t> port;
  std::optional<int> limit_concurrency;
  std::optional<std::uint64_t> context_length;
  // --heart-beat-interval, else FASTCHAT_WORKER_HEART_BEAT_INTERVAL (seconds), as FastChat reads
  // it.
  std::optional<double> heart_beat_seconds;
  bool no_register = false;
  std::optional<int> threads;
  SslFlags ssl;
  bool log_level_given = false;  // --log-level: it wins over log.level
};
int worker_command(const WorkerCommand& command);

// The line scripts and tests wait for: where the worker listens and what it registers as.
void print_worker(server::Server& server, const config::Config& config);
// Once every listener accepts (lifecycle.cpp): tells a predecessor that handed its sockets over
// to drain (net/handover.hpp), writes `pid_file` (when given) and tells systemd (READY=1, and
// MAINPID after an upgrade).
void announce_ready(const std::string& pid_file);
// After an upgrade: drains again the deployments the predecessor had drained through the admin
// API (those the config still has).
void keep_drained(server::Server& server);
// Runs until SIGINT or SIGTERM (a graceful stop of `server`); SIGHUP reloads its config; SIGUSR2
// upgrades: a new process of the binary at the same path takes the listening sockets over, and
// this one drains and stops once the new one serves (it goes on serving if the new one fails).
// Removes `pid_file` at the end when it still names this process. `ready` (the ready line and
// announce_ready()) runs once the signal handlers are in place: a signal sent as soon as the
// process says it is ready finds them (SIGHUP's default action would end the process).
void run_until_stopped(server::Server& server, const std::string& pid_file,
                       const std::function<void()>& ready);

// `shepherd keys create|list|show|update|revoke` (records_cli.cpp).
struct KeyFlags {
  std::optional<std::string> name;
  std::optional<std::vector<std::string>> models;
  std::optional<std::string> rpm, tpm, max_parallel;  // a number, or "none" to clear
  std::optional<std::string> budget_usd;              // a number, or "none"
  std::string budget_period = "month";
  std::optional<std::string> expires_at;  // RFC 3339, Unix seconds, or "none"
  std::optional<std::string> metadata;    // a JSON object
  std::optional<bool> log_bodies;
};
struct KeysOptions {
  std::string config_path;
  std::string action;  // create, list, show, update, revoke
  std::string id;
  KeyFlags flags;
};
int keys_command(const KeysOptions& options);

// `shepherd audit` and `shepherd cost`: the query string GET /admin/requests or /admin/spend
// would take, built from the flags.
struct AuditOptions {
  std::string config_path;
  std::string query;
  bool json = false;  // JSON ({"object":"list","data":[...]}) instead of a table
};
int audit_command(const AuditOptions& options);
struct CostOptions {
  std::string config_path;
  std::string query;
  bool json = false;
};
int cost_command(const CostOptions& options);
// "name=value" with the value percent-encoded (RFC 3986 unreserved characters kept).
std::string query_param(std::string_view name, std::string_view value);

}  // namespace shepherd::app
