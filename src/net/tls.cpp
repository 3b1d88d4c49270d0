#include "net/tls.hpp"

#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstring>
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

namespace {

// ALPN: HTTP/1.1 is what the listeners speak. A client that offers only other protocols goes on
// without ALPN, as nginx lets it.
int select_http11(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
                  unsigned int inlen, void*) {
  static constexpr unsigned char kHttp11[] = "\x08http/1.1";
  unsigned char* chosen = nullptr;
  if (SSL_select_next_proto(&chosen, outlen, kHttp11, sizeof kHttp11 - 1, in, inlen) !=
      OPENSSL_NPN_NEGOTIATED) {
    return SSL_TLSEXT_ERR_NOACK;
  }
  *out = chosen;
  return SSL_TLSEXT_ERR_OK;
}

}  // namespace

base::Result<std::shared_ptr<asio::ssl::context>> make_server_tls_context(
    const config::ListenerTlsConfig& tls, std::string_view path) {
  auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_server);
  SSL_CTX* native = ctx->native_handle();
  SSL_CTX_set_min_proto_version(native, tls.min_version == "1.3" ? TLS1_3_VERSION : TLS1_2_VERSION);
  ctx->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_compression |
                   asio::ssl::context::single_dh_use);
  SSL_CTX_set_alpn_select_cb(native, select_http11, nullptr);
  const auto where = std::string(path);
  error_code ec;
  ctx->use_certificate_chain_file(tls.cert, ec);
  if (ec) {
    return base::make_error(
        base::ErrorCode::kBadRequest,
        where + ".cert: cannot load the certificate chain from " + tls.cert + ": " + ec.message());
  }
  ctx->use_private_key_file(tls.key, asio::ssl::context::pem, ec);
  if (ec && ec.category() == asio::error::get_ssl_category() &&
      ERR_GET_REASON(static_cast<unsigned long>(ec.value())) == X509_R_KEY_VALUES_MISMATCH) {
    return base::make_error(
        base::ErrorCode::kBadRequest,
        where + ": the key in " + tls.key + " does not match the certificate in " + tls.cert);
  }
  if (ec) {
    return base::make_error(
        base::ErrorCode::kBadRequest,
        where + ".key: cannot load the private key from " + tls.key + ": " + ec.message());
  }
  return ctx;
}

base::Status ServerTls::load(const config::ListenerTlsConfig& tls, std::string_view path) {
  if (!tls.enabled()) {
    set(nullptr);
    return base::Ok{};
  }
  auto context = make_server_tls_context(tls, path);
  if (!context) return context.error();
  set(std::move(context).value());
  return base::Ok{};
}

}  // namespace shepherd::net
