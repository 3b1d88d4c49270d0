// The FastChat worker a server runs when fastchat.worker is configured (`shepherd worker`, or
// beside the gateway in `serve`): its models and templates, its concurrency limit, its
// registration with a controller. Built at start; a reload keeps it (the models it names are
// resolved against each request's snapshot).
#pragma once

#include <memory>
#include <string>

#include "fastchat/registration.hpp"
#include "fastchat/worker_gate.hpp"
#include "fastchat/worker_request.hpp"
#include "server/server.hpp"

namespace shepherd::server {

struct Server::Worker {
  Worker(fastchat::WorkerCatalog catalog_, const config::FastChatWorkerConfig& config)
      : catalog(std::move(catalog_)),
        gate(config.limit_concurrency),
        queue_timeout(config.queue_timeout) {}

  fastchat::WorkerCatalog catalog;
  fastchat::WorkerGate gate;  // shared by every loop's worker connections
  config::Millis queue_timeout;
  std::string address;  // the URL it registers under
  // Runs on the first loop; null when the worker does not register.
  std::unique_ptr<fastchat::Registration> registration;

  // The worker's own series for /metrics on its port.
  std::string prometheus_text() const;
};

}  // namespace shepherd::server
