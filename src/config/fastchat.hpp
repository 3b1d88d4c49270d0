// The settings of FastChat's pieces (docs/config.md "fastchat", "FastChat workers as a
// provider"): the controller and worker `serve` runs, and a `kind: fastchat` provider's own.
// Part of the immutable Config (config.hpp).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "config/tls.hpp"

namespace shepherd::config {

using Millis = std::chrono::milliseconds;

// The settings of a `kind: fastchat` provider (docs/config.md "FastChat workers as a provider").
struct FastChatProviderConfig {
  // The conversation template that renders prompts, by FastChat's name, for every model and per
  // model; empty: the one the serving worker advertises (/worker_get_conv_template), else chatml.
  std::string conv_template;
  std::vector<std::pair<std::string, std::string>> conv_templates;  // model → template
  std::string version = "0.2.36";  // how the workers number sep_style: 0.2.36 or head
  // base_url is a worker, not a controller: non-streamed requests then go to /worker_generate
  // (one answer, as FastChat's API server asks a worker), which a controller does not proxy.
  bool worker = false;
  bool discover = true;   // serve the models the controller (or worker) lists
  Millis refresh{5'000};  // how often they are listed
};

// FastChat's processes that `serve` runs beside the gateway (docs/decisions/fastchat.md).
struct FastChatControllerConfig {
  bool enabled = false;  // fastchat.controller is present
  std::string host = "127.0.0.1";
  std::uint16_t port = 21001;
  std::string dispatch = "shortest_queue";  // lottery | shortest_queue
  Millis heart_beat_expiration{90'000};
  ListenerTlsConfig tls;  // FastChat's --ssl
};
// A FastChat worker in front of the configured models (docs/decisions/fastchat.md).
struct FastChatWorkerConfig {
  bool enabled = false;  // fastchat.worker is present
  std::string host = "127.0.0.1";
  std::uint16_t port = 21002;
  // The URL the worker registers under, as the controller and API servers reach it; empty:
  // http://host:port (with the bound port).
  std::string address;
  // The controller to register with; empty: the worker does not register (FastChat's
  // --no-register).
  std::string controller = "http://127.0.0.1:21001";
  // Whether `controller` was set: when not, `serve` registers the worker with its own controller
  // (fastchat.controller) if it runs one.
  bool controller_given = false;
  // The model names the worker serves (each a model or alias of `models`); empty: every model.
  std::vector<std::string> models;
  // The conversation template of the prompts it receives, by FastChat's name, and per model.
  std::string conv_template = "chatml";
  std::vector<std::pair<std::string, std::string>> conv_templates;  // model → template
  // How /worker_get_conv_template numbers sep_style: as fschat 0.2.36 does ("0.2.36"), or as
  // FastChat after it ("head"). The API servers that read the template must use the same.
  std::string fastchat_version = "0.2.36";
  int limit_concurrency = 5;      // requests run at once; more wait in the queue
  Millis queue_timeout{120'000};  // the longest a request waits for its turn
  // /model_details' context_length for a model whose deployments give no max_context.
  std::uint64_t context_length = 8192;
  Millis heart_beat_interval{45'000};
  ListenerTlsConfig tls;  // FastChat's --ssl
};
struct FastChatConfig {
  FastChatControllerConfig controller;
  FastChatWorkerConfig worker;
};

}  // namespace shepherd::config
