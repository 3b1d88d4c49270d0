// TLS on a listener (server.tls, fastchat.controller.tls, fastchat.worker.tls): the certificate
// chain and key it presents. Part of the immutable Config (config.hpp).
#pragma once

#include <string>

namespace shepherd::config {

struct ListenerTlsConfig {
  std::string cert;                 // PEM file: the certificate, then any intermediates
  std::string key;                  // PEM file: its private key
  std::string min_version = "1.2";  // "1.2" or "1.3"
  bool enabled() const { return !cert.empty(); }
  // The scheme of the listener's URLs.
  const char* scheme() const { return enabled() ? "https" : "http"; }
};

}  // namespace shepherd::config
