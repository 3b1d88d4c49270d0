// The HTTP client of the FastChat processes: the controller calling its workers (status polls,
// the stream proxy) and a worker calling its controller (registration, heartbeats). One request
// per connection, as FastChat's own `requests` calls make them; a deadline over each step; plain
// HTTP, or HTTPS verified against the system trust store for workers started with --ssl.
// Addresses come from registrations and the command line, never from a chat request.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <string_view>

#include "base/result.hpp"
#include "net/asio.hpp"

namespace shepherd::fastchat {

// Lets the owner of a call end it early (at shutdown): while the call runs, close() closes its
// connection and the call ends with an error.
struct CallHandle {
  std::function<void()> close;
};

struct Reply {
  int status = 0;
  std::string body;
};

// POSTs `body` (JSON) to `base_url` + `path` and reads the whole answer, all within `timeout`.
// Errors: kUpstreamUnreachable (malformed URL, DNS, refused, TLS, reset), kUpstreamTimeout. An
// https server is verified with `tls` (a provider's settings, net/tls.hpp), by default with the
// system trust store (and OpenSSL's SSL_CERT_FILE).
net::Task<base::Result<Reply>> post_json(std::string base_url, std::string path, std::string body,
                                         std::chrono::milliseconds timeout,
                                         CallHandle* handle = nullptr,
                                         net::asio::ssl::context* tls = nullptr);

// Receives the pieces of a streamed answer's body as they arrive (and may wait, e.g. to pass
// them on); returning false stops reading (the connection is closed).
using BodySink = std::function<net::Task<bool>(std::string_view piece)>;

// POSTs `body` and hands the answer's body to `sink` piece by piece: the head must come within
// `first_byte`, and each piece within `idle` of the last. Returns the answer's status.
net::Task<base::Result<int>> post_stream(std::string base_url, std::string path, std::string body,
                                         std::chrono::milliseconds first_byte,
                                         std::chrono::milliseconds idle, BodySink sink,
                                         CallHandle* handle = nullptr,
                                         net::asio::ssl::context* tls = nullptr);

}  // namespace shepherd::fastchat
