// TLS for upstream connections: verified by default against the system trust store (plus an
// optional CA file), TLS 1.2 or newer, SNI and host-name (or IP) verification.
#pragma once

#include <memory>
#include <string>

#include "config/config.hpp"
#include "net/asio.hpp"

namespace shepherd::net {

// Built at start-up; throws std::runtime_error when the CA file cannot be loaded.
std::unique_ptr<asio::ssl::context> make_client_tls_context(const config::ProviderConfig& provider);

// Sets SNI (for names, not IP literals) and the name or address the certificate must match.
// Returns false when OpenSSL refuses the settings.
bool prepare_client_tls(SSL* ssl, const std::string& host, bool verify);

}  // namespace shepherd::net
