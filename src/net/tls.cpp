#include "net/tls.hpp"

#include <openssl/x509v3.h>

#include <stdexcept>

namespace shepherd::net {

std::unique_ptr<asio::ssl::context> make_client_tls_context(
    const config::ProviderConfig& provider) {
  auto ctx = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_client);
  SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_2_VERSION);
  ctx->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_compression);
  if (provider.tls_verify) {
    ctx->set_verify_mode(asio::ssl::verify_peer);
    ctx->set_default_verify_paths();
    if (!provider.ca_file.empty()) {
      error_code ec;
      ctx->load_verify_file(provider.ca_file, ec);
      if (ec) {
        throw std::runtime_error("providers." + provider.name + ".tls.ca_file: cannot load " +
                                 provider.ca_file + ": " + ec.message());
      }
    }
  } else {
    ctx->set_verify_mode(asio::ssl::verify_none);
  }
  return ctx;
}

bool prepare_client_tls(SSL* ssl, const std::string& host, bool verify) {
  error_code ec;
  asio::ip::make_address(host, ec);
  const bool is_ip = !ec;
  // RFC 6066 section 3: SNI carries host names only, never IP literals.
  // SSL_set_tlsext_host_name, spelled out: the macro's C cast trips -Wold-style-cast.
  if (!is_ip && SSL_ctrl(ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
                         const_cast<char*>(host.c_str())) != 1) {
    return false;
  }
  if (!verify) return true;
  X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
  if (is_ip) return X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str()) == 1;
  X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
  return X509_VERIFY_PARAM_set1_host(param, host.c_str(), host.size()) == 1;
}

}  // namespace shepherd::net
