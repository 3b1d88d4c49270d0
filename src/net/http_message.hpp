// HTTP/1.1 messages as Shepherd reads them: the parts of a request or response it uses, held in
// strings that are reused from one message to the next on the same connection, so that a warm
// connection parses without allocating; parsers built on Beast's basic_parser that fill them;
// and read_parsed(), which reads and parses in one loop without a posted completion per step.
// Used on one event loop at a time; not thread-safe.
#pragma once

#include <algorithm>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "net/asio.hpp"

namespace shepherd::net {

struct HttpRequest {
  http::verb method = http::verb::unknown;
  std::string method_string;
  std::string target;
  std::string authorization;
  std::string api_key;  // x-api-key (Anthropic clients send their key there)
  std::string origin;
  bool anthropic_version = false;  // an anthropic-version header was sent
  std::string access_control_request_headers;
  std::string request_id;     // X-Request-Id as the client sent it (the first one)
  std::string traceparent;    // W3C trace context, as sent (the first one)
  std::string if_none_match;  // for the web UI's files (the first one)
  bool accepts_gzip = false;  // Accept-Encoding allows gzip
  bool expect_continue = false;
  bool keep_alive = true;
  std::string body;

  // The target without its query.
  std::string_view path() const {
    const std::string_view t = target;
    return t.substr(0, t.find('?'));
  }
};

struct HttpResponse {
  int status = 0;
  bool keep_alive = true;
  std::string content_type;
  std::string retry_after;
  // Every header line, in order; [0, field_count) are this response's.
  std::vector<std::pair<std::string, std::string>> fields;
  std::size_t field_count = 0;
  std::string body;

  // Frees the header storage once the head was used: a stream may stay open for minutes.
  void release_head() {
    decltype(fields)().swap(fields);
    field_count = 0;
    std::string().swap(content_type);
    std::string().swap(retry_after);
  }
};

// What both parsers share: the body is collected into one string (chunk framing dropped), a
// declared length reserved up front (bounded: the parser's body limit applies anyway).
template <bool isRequest>
class BodyParser : public http::basic_parser<isRequest> {
 protected:
  explicit BodyParser(std::string& body) : body_(body) { body_.clear(); }

 private:
  void on_body_init_impl(const boost::optional<std::uint64_t>& length, error_code&) override {
    constexpr std::uint64_t kMaxReserve = 1 << 20;
    if (length) body_.reserve(static_cast<std::size_t>(std::min(*length, kMaxReserve)));
  }
  std::size_t on_body_impl(beast::string_view body, error_code&) override {
    body_.append(body.data(), body.size());
    return body.size();
  }
  void on_chunk_header_impl(std::uint64_t, beast::string_view, error_code&) override {}
  std::size_t on_chunk_body_impl(std::uint64_t, beast::string_view body, error_code& ec) override {
    return on_body_impl(body, ec);
  }
  void on_finish_impl(error_code&) override {}

  std::string& body_;
};

// Fills an HttpRequest (cleared first). Duplicate headers: the first one counts.
class RequestParser final : public BodyParser<true> {
 public:
  explicit RequestParser(HttpRequest& out);

 private:
  void on_request_impl(http::verb method, beast::string_view method_str, beast::string_view target,
                       int version, error_code& ec) override;
  void on_response_impl(int, beast::string_view, int, error_code&) override {}
  void on_field_impl(http::field name, beast::string_view name_string, beast::string_view value,
                     error_code& ec) override;
  void on_header_impl(error_code& ec) override;

  HttpRequest& out_;
  bool seen_authorization_ = false, seen_api_key_ = false, seen_origin_ = false, seen_acrh_ = false;
  bool seen_request_id_ = false, seen_traceparent_ = false, seen_if_none_match_ = false;
};

// Fills an HttpResponse (cleared first). Not eager: parsing stops after the header, so the caller
// can set the body limit the status calls for, then eager(true) for the body. The body
// accumulates in out.body; a caller reading a stream takes it and clears it as it goes.
class ResponseParser final : public BodyParser<false> {
 public:
  explicit ResponseParser(HttpResponse& out);

 private:
  void on_request_impl(http::verb, beast::string_view, beast::string_view, int,
                       error_code&) override {}
  void on_response_impl(int code, beast::string_view reason, int version, error_code& ec) override;
  void on_field_impl(http::field name, beast::string_view name_string, beast::string_view value,
                     error_code& ec) override;
  void on_header_impl(error_code& ec) override;

  HttpResponse& out_;
};

// How far read_parsed() reads.
enum class ReadUntil {
  kHeader,   // the end of the header
  kMessage,  // the end of the message
  kBody,     // some body bytes in `body`, or the end of the message
};

// Reads from `stream` into `buffer` and feeds `parser` until `until` is reached or an error
// occurs. Parses what is buffered before reading; a read that makes no progress reads again.
// Errors as Beast's http::async_read reports them: end_of_stream when the peer closed before a
// message began, partial_message when it closed inside one, the parser's limits, socket errors.
//
// `defer`: the peer cannot have answered yet (the request went out a moment ago), so the first
// read waits until the loop's other ready work has run instead of costing a system call that
// finds nothing; given `defer_until`, it does so, and when `*defer_until` turns true meanwhile (a
// cancellation or a deadline that found no operation to cancel), ends the read with
// operation_aborted.
template <typename Stream, bool isRequest>
Task<error_code> read_parsed(Stream& stream, beast::flat_buffer& buffer,
                             http::basic_parser<isRequest>& parser, ReadUntil until,
                             const std::string* body = nullptr, const bool* defer_until = nullptr) {
  auto done = [&] {
    switch (until) {
      case ReadUntil::kHeader:
        return parser.is_header_done();
      case ReadUntil::kMessage:
        return parser.is_done();
      case ReadUntil::kBody:
        return !body->empty() || parser.is_done();
    }
    return true;
  };
  if (done()) co_return error_code{};
  for (;;) {
    if (buffer.size() > 0) {
      error_code ec;
      const auto used = parser.put(buffer.data(), ec);
      buffer.consume(used);
      if (ec && ec != http::error::need_more) co_return ec;
      // need_more may come after a chunk's data was taken: enough for ReadUntil::kBody.
      if (done()) co_return error_code{};
      if (!ec && used > 0) continue;
    }
    if (defer_until) {
      const bool* stopped = std::exchange(defer_until, nullptr);
      co_await asio::post(stream.get_executor(), asio::use_awaitable_t<Executor>{});
      if (*stopped) co_return error_code(asio::error::operation_aborted);
    }
    const auto size = std::clamp<std::size_t>(buffer.capacity() - buffer.size(), 512, 65536);
    auto [ec, n] = co_await stream.async_read_some(buffer.prepare(size), kUseTuple);
    buffer.commit(n);
    if (ec == asio::error::eof) {
      if (!parser.got_some()) co_return error_code(http::error::end_of_stream);
      error_code eof;
      parser.put_eof(eof);
      co_return eof;
    }
    if (ec) co_return ec;
  }
}

}  // namespace shepherd::net
