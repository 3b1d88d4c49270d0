#include "fastchat/http_client.hpp"

#include <array>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <memory>
#include <optional>

#include "config/config.hpp"
#include "net/tls.hpp"

namespace shepherd::fastchat {

namespace {

namespace asio = net::asio;
namespace beast = net::beast;
namespace http = net::http;
using base::ErrorCode;
using Stream = beast::basic_stream<net::tcp, net::Executor>;
using TlsStream = asio::ssl::stream<Stream>;

constexpr std::size_t kMaxBody = 64 * 1024 * 1024;

base::Error failure(const config::Endpoint& at, std::string_view step, const net::error_code& ec) {
  const std::string where = at.host_header + ": ";
  if (ec == beast::error::timeout) {
    return base::make_error(ErrorCode::kUpstreamTimeout, where + std::string(step) + " timed out");
  }
  return base::make_error(ErrorCode::kUpstreamUnreachable,
                          where + "cannot " + std::string(step) + ": " + ec.message());
}

// The client TLS context: the system trust store, TLS 1.2 or newer (net/tls.hpp).
asio::ssl::context& client_tls() {
  // A named default (not a temporary): GCC 12's release build warns about the temporary's
  // strings otherwise.
  static const config::ProviderConfig defaults;
  static const std::unique_ptr<asio::ssl::context> context = net::make_client_tls_context(defaults);
  return *context;
}

// One exchange on a connected `stream`: writes the request, then reads the answer whole into
// `reply` (when `sink` is null) or hands its body to `sink` piece by piece.
template <typename S>
net::Task<base::Result<int>> exchange(S& stream, const config::Endpoint& at,
                                      const std::string& target, const std::string& body,
                                      std::chrono::milliseconds idle, const BodySink* sink,
                                      Reply* reply) {
  auto& lowest = beast::get_lowest_layer(stream);
  http::request<http::string_body> request(http::verb::post, target, 11);
  request.set(http::field::host, at.host_header);
  request.set(http::field::user_agent, "Shepherd");
  request.set(http::field::content_type, "application/json");
  request.body() = body;
  request.prepare_payload();
  // The deadline set before the connect covers the request and the answer's head (the whole
  // answer when it is read whole).
  if (auto [ec, n] = co_await http::async_write(stream, request, net::kUseTuple); ec) {
    co_return failure(at, "send the request", ec);
  }
  beast::flat_buffer buffer;
  if (!sink) {
    http::response_parser<http::string_body> parser;
    parser.body_limit(kMaxBody);
    if (auto [ec, n] = co_await http::async_read(stream, buffer, parser, net::kUseTuple); ec) {
      co_return failure(at, "read the answer", ec);
    }
    reply->status = static_cast<int>(parser.get().result_int());
    reply->body = std::move(parser.get().body());
    co_return reply->status;
  }
  http::response_parser<http::buffer_body> parser;
  parser.body_limit(boost::none);
  if (auto [ec, n] = co_await http::async_read_header(stream, buffer, parser, net::kUseTuple); ec) {
    co_return failure(at, "read the answer's head", ec);
  }
  const int status = static_cast<int>(parser.get().result_int());
  std::array<char, 16 * 1024> piece;
  while (!parser.is_done()) {
    parser.get().body().data = piece.data();
    parser.get().body().size = piece.size();
    lowest.expires_after(idle);
    // Some bytes at a time (async_read would wait for the whole body or a full buffer): each
    // piece goes on as it arrives, also the last one before the connection broke.
    auto [ec, n] = co_await http::async_read_some(stream, buffer, parser, net::kUseTuple);
    if (ec == http::error::need_buffer) ec = {};
    const std::string_view got(piece.data(), piece.size() - parser.get().body().size);
    if (!got.empty()) {
      const bool more = co_await (*sink)(got);
      if (!more) break;
    }
    if (ec) co_return failure(at, "read the answer's body", ec);
  }
  co_return status;
}

net::Task<base::Result<int>> call(std::string base_url, std::string path, std::string body,
                                  std::chrono::milliseconds first_byte,
                                  std::chrono::milliseconds idle, const BodySink* sink,
                                  Reply* reply, CallHandle* handle,
                                  asio::ssl::context* tls_context) {
  auto at = config::parse_endpoint(base_url);
  if (!at) {
    co_return base::make_error(ErrorCode::kUpstreamUnreachable,
                               "not a worker address: '" + base_url + "'");
  }
  const auto executor = co_await asio::this_coro::executor;
  net::Resolver resolver(executor);
  Stream plain(executor);
  Stream* lowest = &plain;
  if (handle) handle->close = [&lowest] { lowest->close(); };
  struct Unhook {
    CallHandle* h;
    ~Unhook() {
      if (h) h->close = nullptr;
    }
  } unhook{handle};
  plain.expires_after(first_byte);
  auto [rec, endpoints] =
      co_await resolver.async_resolve(at->host, std::to_string(at->port), net::kUseTuple);
  if (rec) co_return failure(*at, "resolve the address", rec);
  if (auto [ec, e] = co_await plain.async_connect(endpoints, net::kUseTuple); ec) {
    co_return failure(*at, "connect", ec);
  }
  const std::string target = at->path_prefix + path;
  if (!at->tls) {
    auto status = co_await exchange(plain, *at, target, body, idle, sink, reply);
    net::error_code ignored;
    plain.socket().shutdown(net::tcp::socket::shutdown_both, ignored);
    co_return status;
  }
  TlsStream tls(std::move(plain), tls_context ? *tls_context : client_tls());
  lowest = &beast::get_lowest_layer(tls);
  if (!net::prepare_client_tls(tls.native_handle(), at->host, true)) {
    co_return base::make_error(ErrorCode::kUpstreamUnreachable,
                               at->host_header + ": cannot set up TLS");
  }
  if (auto [ec] = co_await tls.async_handshake(asio::ssl::stream_base::client, net::kUseTuple);
      ec) {
    co_return failure(*at, "complete the TLS handshake", ec);
  }
  co_return co_await exchange(tls, *at, target, body, idle, sink, reply);
}

}  // namespace

net::Task<base::Result<Reply>> post_json(std::string base_url, std::string path, std::string body,
                                         std::chrono::milliseconds timeout, CallHandle* handle,
                                         asio::ssl::context* tls) {
  Reply reply;
  auto status = co_await call(std::move(base_url), std::move(path), std::move(body), timeout,
                              timeout, nullptr, &reply, handle, tls);
  if (!status) co_return std::move(status).error();
  co_return reply;
}

net::Task<base::Result<int>> post_stream(std::string base_url, std::string path, std::string body,
                                         std::chrono::milliseconds first_byte,
                                         std::chrono::milliseconds idle, BodySink sink,
                                         CallHandle* handle, asio::ssl::context* tls) {
  co_return co_await call(std::move(base_url), std::move(path), std::move(body), first_byte, idle,
                          &sink, nullptr, handle, tls);
}

}  // namespace shepherd::fastchat
