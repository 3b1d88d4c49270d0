// Delivery, after the commit point: no other attempt is made. A stream ends with the dialect's
// end marker or with an error event, never silently (RELIABILITY.md, commit point).
#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <ctime>

#include "api/sse.hpp"
#include "base/text.hpp"
#include "pipeline/attempt.hpp"

namespace shepherd::pipeline {

namespace http = net::http;

namespace {

// The most of a streamed answer an audit record keeps.
constexpr std::size_t kMaxAuditedStream = 1 << 20;

// The most storage the SSE parser's event-name buffer keeps while an open stream waits for the
// upstream (memory per open stream).
constexpr std::size_t kIdleBufferBytes = 4096;

// Appends the payload of the HTTP/1.1 chunks in `chunked` (whole chunks, as the stream writes
// them: "<hex size>\r\n<bytes>\r\n") to `out`, up to kMaxAuditedStream bytes in all.
void append_unchunked(std::string& out, std::string_view chunked) {
  while (!chunked.empty() && out.size() < kMaxAuditedStream) {
    const auto line_end = chunked.find("\r\n");
    if (line_end == std::string_view::npos) return;
    std::size_t size = 0;
    const auto [p, ec] = std::from_chars(chunked.data(), chunked.data() + line_end, size, 16);
    if (ec != std::errc{} || size == 0 || line_end + 2 + size > chunked.size()) return;
    const auto payload = chunked.substr(line_end + 2, size);
    out.append(payload.substr(0, kMaxAuditedStream - out.size()));
    chunked.remove_prefix(std::min(chunked.size(), line_end + 2 + size + 2));
  }
}

}  // namespace

Task<void> deliver_answer(RequestContext& rc, Attempt& a) {
  auto& out = rc.outcome;
  if (!a.usage) {
    a.usage = estimate_usage(rc, a);
    out.usage_estimated = true;
  }
  out.usage = a.usage;
  const auto& served = rc.config().models[a.pick.model].name;
  if (a.tr && a.tr->response) {
    auto& response = *a.tr->response;
    if (response.created == 0) response.created = static_cast<std::int64_t>(std::time(nullptr));
    a.answer.clear();
    a.tr->client->encode_response(*rc.canonical, response, served, a.answer);
  } else {
    rc.dialect.pass_answer(a.answer, a.deployment->model, served);
  }
  rc.conn.end_watch();
  if (a.usage) {
    if (const auto cost = cost_of(a, *a.usage)) {
      // Shortest text that reads back as the same double (to_chars: far cheaper than printf).
      char digits[32];
      const auto [end, ec] = std::to_chars(digits, digits + sizeof digits, *cost);
      rc.conn.request_headers().append("X-Shepherd-Cost: ").append(digits, end).append("\r\n");
    }
  }
  co_await rc.conn.respond(200, "application/json", a.answer, {}, rc.write_timeout());
  if (rc.capture_bodies) rc.response_body = a.answer;
  out.status = 200;
  out.ok = !rc.conn.write_failed();
  out.client_disconnected = rc.conn.write_failed();
  if (out.client_disconnected) rc.error_class = "client_disconnected";
}

Task<bool> deliver_stream(RequestContext& rc, Attempt& a) {
  auto& conn = rc.conn;
  auto& out = rc.outcome;
  auto& c = *a.c;
  auto& parser = *c.parser;
  const auto& provider = a.provider_config();
  const auto timeout = rc.write_timeout();
  // Commit: the status line and the first events go out together.
  co_await conn.write(conn.head(200, rc.dialect.stream_content_type(), std::nullopt), a.pending,
                      timeout);
  conn.release_head_buffers();
  c.response.release_head();
  a.release_request();
  if (rc.capture_bodies) append_unchunked(rc.response_body, a.pending);
  a.pending.clear();
  if (conn.write_failed()) a.cancel.cancel();
  if (a.after_commit) a.failure = std::move(a.after_commit);
  while (!conn.write_failed() && !a.failure && !a.done && !a.error_event && !parser.is_done()) {
    // An open stream waits for its next event without buffers: the output, the upstream's read
    // buffer and body, and the SSE parser's (an event named by an `event:` field keeps that
    // buffer up to kIdleBufferBytes) are all empty between events, and freed.
    base::release_idle(a.pending, 0);
    c.release_buffers();
    a.sse.release_idle(kIdleBufferBytes);
    c.expires_after(net::step_timeout(provider.timeouts.idle, a.deadline));
    const auto ec = c.result(co_await c.read_some_body());
    if (a.cancel.client_gone) break;
    take_stream_bytes(rc, a, c.response.body);
    if (!ec && parser.is_done()) end_stream_body(rc, a);
    if (ec && !a.failure && !a.done) a.failure = net::upstream_io_error(provider, "streaming", ec);
    if (!a.pending.empty()) {
      co_await conn.write({}, a.pending, timeout);
      if (rc.capture_bodies) append_unchunked(rc.response_body, a.pending);
      a.pending.clear();
      if (conn.write_failed()) {
        a.cancel.cancel();
        break;
      }
    }
  }
  if (!a.usage) {
    // The upstream reported none (or the stream ended before it did): metered all the same.
    a.usage = estimate_usage(rc, a);
    out.usage_estimated = true;
  }
  out.usage = a.usage;
  if (!a.failure && !a.done && !a.error_event && !a.cancel.client_gone && !conn.write_failed()) {
    a.failure = stream_ended_early(
        provider, a.sse.mid_event() ? "stream cut mid-event" : "stream ended without [DONE]");
  }
  if (a.cancel.client_gone || conn.write_failed()) {
    conn.mark_gone();
    out.status = 499;
    out.client_disconnected = true;
    rc.error_class = "client_disconnected";
    co_return false;
  }
  // Committed: the stream ends with the end marker or with an error event, never silently.
  std::string tail;
  if (a.failure) {
    spdlog::warn("request {}: stream failed after it started: {}", rc.request_id,
                 a.failure->detail.empty() ? a.failure->message : a.failure->detail);
    stream_error_event(rc, a, *a.failure, tail);
  }
  if (rc.capture_bodies) append_unchunked(rc.response_body, tail);
  tail.append(api::kLastHttpChunk);
  if (a.failure || a.error_event) conn.close_after_answer();
  co_await conn.write({}, tail, timeout);
  out.status = 200;
  out.stream_failed = a.failure.has_value() || a.error_event;
  if (a.failure) {
    rc.error_class = base::code_name(a.failure->code);
  } else if (a.error_event) {
    rc.error_class = "upstream_error_event";
  }
  out.ok = a.done && !conn.write_failed();
  if (!a.done || !parser.keep_alive()) co_return false;
  // Read the end of the upstream body (usually already buffered) so the connection is reusable;
  // an upstream slow to finish after its end marker costs its connection, not the client's time.
  while (!parser.is_done()) {
    c.expires_after(net::step_timeout(
        std::min<Clock::duration>(provider.timeouts.idle, std::chrono::seconds(1)), a.deadline));
    if (co_await c.read_some_body()) co_return false;
    c.response.body.clear();
  }
  co_return true;
}

}  // namespace shepherd::pipeline
