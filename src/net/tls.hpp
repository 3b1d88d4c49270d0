// TLS for upstream connections: verified by default against the system trust store (plus an
// optional CA file), TLS 1.2 or newer, SNI and host-name (or IP) verification. And TLS on the
// listeners: a certificate from PEM files, TLS 1.2 or newer, ALPN http/1.1.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "base/result.hpp"
#include "config/config.hpp"
#include "config/tls.hpp"
#include "net/asio.hpp"

namespace shepherd::net {

// Built at start-up; throws std::runtime_error when the CA file cannot be loaded.
std::unique_ptr<asio::ssl::context> make_client_tls_context(const config::ProviderConfig& provider);

// Sets SNI (for names, not IP literals) and the name or address the certificate must match.
// Returns false when OpenSSL refuses the settings.
bool prepare_client_tls(SSL* ssl, const std::string& host, bool verify);

// A listener's context, the files read now: an error naming `path` (the settings' key path)
// when the certificate or key cannot be loaded or do not match.
base::Result<std::shared_ptr<asio::ssl::context>> make_server_tls_context(
    const config::ListenerTlsConfig& tls, std::string_view path);

// The context a TLS listener hands each connection it accepts; a reload replaces it, and the
// connections already open keep the one they started with. Null: the listener is plain HTTP.
// Thread-safe.
class ServerTls {
 public:
  std::shared_ptr<asio::ssl::context> current() const {
    std::lock_guard lock(mu_);
    return context_;
  }
  void set(std::shared_ptr<asio::ssl::context> context) {
    std::lock_guard lock(mu_);
    context_ = std::move(context);
  }
  // Reads `tls`'s files again (nothing when it is not enabled) and uses them from the next
  // connection on; on an error the context in use stays.
  base::Status load(const config::ListenerTlsConfig& tls, std::string_view path);

 private:
  mutable std::mutex mu_;
  std::shared_ptr<asio::ssl::context> context_;
};

}  // namespace shepherd::net
