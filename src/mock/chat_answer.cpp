// A chat request's course through the shell: per-request overrides, JSON parsing, fault selection,
// the order in which faults act, delays, and a stream's pacing and fault events. What the answers
// say is the request's Dialect's (dialect_); what faults decide is faults.hpp's. Runs on the
// connection's thread.
#include <boost/beast/core/error.hpp>
#include <ctime>

#include "mock/http_shell.hpp"
#include "mock/text.hpp"

namespace shepherd::mock::detail {
namespace {

constexpr std::string_view kLastChunk = "0\r\n\r\n";

}  // namespace

// A per-request override from a header: absent → fallback; present but invalid → nullopt.
std::optional<std::int64_t> Connection::header_count(std::string_view name, std::int64_t fallback,
                                                     std::int64_t max) const {
  const std::string* value = req_.header(name);
  if (value == nullptr) return fallback;
  return parse_count(*value, max);
}

Connection::Next Connection::bad_header(std::string_view name, std::int64_t max) {
  std::string message = "invalid ";
  message.append(name);
  message.append(" header: expected an integer from 0 to ");
  append_int(message, max);
  reply_error(400, message);
  return Next::kReply;
}

// Validates the request and plans the answer into answer_, the delays and fault_. Prepares the
// reply itself when no waiting or fault is involved (the benchmark path).
Connection::Next Connection::prepare_chat() {
  Counters& c = shared_.counters;
  c.chat_requests.fetch_add(1, std::memory_order_relaxed);
  record_last_request();

  fault_ = &shared_.default_fault;
  if (const std::string* spec = req_.header("x-mock-fault")) {
    auto parsed = parse_fault_spec(*spec);
    if (!parsed) {
      reply_error(400, parsed.error().message);
      return Next::kReply;
    }
    header_fault_ = std::move(parsed).value();
    fault_ = &header_fault_;
  }

  const auto chunks = header_count("x-mock-chunks", shared_.options.chunks, kMaxChunks);
  if (!chunks) return bad_header("x-mock-chunks", kMaxChunks);
  const auto first_delay = header_count("x-mock-first-token-delay-ms",
                                        shared_.options.first_token_delay.count(), kMaxDelayMs);
  if (!first_delay) return bad_header("x-mock-first-token-delay-ms", kMaxDelayMs);
  const auto chunk_delay =
      header_count("x-mock-chunk-delay-ms", shared_.options.chunk_delay.count(), kMaxDelayMs);
  if (!chunk_delay) return bad_header("x-mock-chunk-delay-ms", kMaxDelayMs);

  json_parser_.reset(json::storage_ptr(&json_resource_));
  boost::beast::error_code ec;
  json_parser_.write(req_.body, ec);
  if (ec) {
    reply_error(400, dialect_->invalid_json_message);
    return Next::kReply;
  }
  json_.emplace(json_parser_.release());
  auto interpreted = dialect_->interpret(*json_);
  if (!interpreted) {
    reply_error(400, interpreted.error().message);
    return Next::kReply;
  }
  const ChatRequest& chat = interpreted.value();

  fault_ = &shared_.fault_selector.select(*fault_);
  const FaultSpec& f = *fault_;

  answer_.request = chat;
  answer_.tokens = *chunks;
  answer_.truncated = false;
  if (chat.max_tokens && *chat.max_tokens < answer_.tokens) {
    answer_.tokens = *chat.max_tokens;
    answer_.truncated = true;
  }
  answer_.id = c.next_id.fetch_add(1, std::memory_order_relaxed) + 1;
  answer_.created = static_cast<std::int64_t>(std::time(nullptr));
  answer_.big_chunk = f.big_chunk;
  answer_.no_usage = f.no_usage;
  first_delay_ = milliseconds(*first_delay);
  chunk_delay_ = milliseconds(*chunk_delay);

  const bool too_long =
      shared_.options.max_context > 0 && chat.prompt_tokens > shared_.options.max_context;
  if (!acts_before_answer(f) && !too_long && !chat.stream && first_delay_.count() == 0) {
    render_completion();
    return Next::kReply;
  }
  return Next::kChat;
}

asio::awaitable<bool> Connection::answer_chat() {
  const FaultSpec& fault = *fault_;
  if (fault.reset) {
    reset_now();
    co_return false;
  }
  if (fault.slow_headers_ms > 0 && !co_await pause(milliseconds(fault.slow_headers_ms))) {
    co_return false;
  }
  if (fault.redirect) {
    std::string headers;
    append_redirect_headers(headers, fault);
    reply(307, {}, {}, headers);
    co_return co_await send_reply();
  }
  const std::int64_t max_context = shared_.options.max_context;
  if (max_context > 0 && answer_.request.prompt_tokens > max_context) {
    body_.clear();
    dialect_->append_context_length_error(body_, max_context, answer_.request.prompt_tokens);
    reply(400, "application/json", body_);
    co_return co_await send_reply();
  }
  if (fault.status != 0) {
    std::string message;
    append_status_message(message, fault);
    std::string headers;
    append_status_headers(headers, fault);
    reply_error(fault.status, message, {}, headers);
    co_return co_await send_reply();
  }
  if (answer_.request.stream) co_return co_await stream_answer();
  if (first_delay_.count() > 0 && !co_await pause(first_delay_)) co_return false;
  render_completion();
  co_return co_await send_reply();
}

void Connection::render_completion() {
  body_.clear();
  dialect_->append_completion(body_, answer_);
  reply(200, "application/json", body_, fault_->ratelimit_headers);
}

asio::awaitable<bool> Connection::stream_answer() {
  const FaultSpec& fault = *fault_;
  const Dialect& dialect = *dialect_;
  // HTTP/1.0 has no chunked coding: the body then ends with the connection.
  const bool chunked = req_.version >= 11;
  if (!chunked) keep_alive_ = false;

  // Status, headers and the opening events: all due now, so one write.
  event_.clear();
  dialect.append_stream_open(event_, scratch_, answer_);
  out_.clear();
  append_head(out_, 200, "text/event-stream", chunked ? Framing::kChunked : Framing::kUntilClose, 0,
              req_.version, keep_alive_, "Cache-Control: no-cache\r\n", fault.ratelimit_headers);
  append_framed(out_, event_, chunked);
  shared_.counters.streams_started.fetch_add(1, std::memory_order_relaxed);
  if (!co_await write_out()) co_return false;

  const std::int64_t n = answer_.tokens;
  for (std::int64_t i = 0;; ++i) {
    if (malformed_due(fault, i, n)) {
      out_.clear();
      append_framed(out_, dialect.malformed_event, chunked);
      if (!co_await write_out()) co_return false;
    }
    switch (stream_end_due(fault, i, n)) {
      case StreamEnd::kNone:
        break;
      case StreamEnd::kErrorEvent:
        out_.clear();
        append_framed(out_, dialect.error_event, chunked);
        if (chunked) out_.append(kLastChunk);
        co_return co_await write_out() && keep_alive_;
      case StreamEnd::kCut:
        if (!chunked) co_return false;
        co_return co_await write({asio::buffer(kLastChunk), asio::const_buffer()}) && keep_alive_;
      case StreamEnd::kReset:
        reset_now();
        co_return false;
      case StreamEnd::kStall:
        co_await stall();
        co_return false;
    }
    if (i == n) break;

    const milliseconds delay = i == 0 ? first_delay_ : chunk_delay_;
    if (delay.count() > 0 && !co_await pause(delay)) co_return false;
    event_.clear();
    dialect.append_stream_token(event_, scratch_, answer_, i);
    out_.clear();
    append_framed(out_, event_, chunked);
    if (!co_await write_out()) co_return false;
  }

  // The closing events, one write each; the last also ends the chunked body.
  const int tail = dialect.stream_tail_events(answer_);
  for (int k = 0; k < tail; ++k) {
    event_.clear();
    dialect.append_stream_tail(event_, scratch_, answer_, k);
    out_.clear();
    append_framed(out_, event_, chunked);
    if (chunked && k == tail - 1) out_.append(kLastChunk);
    if (!co_await write_out()) co_return false;
  }
  shared_.counters.streams_completed.fetch_add(1, std::memory_order_relaxed);
  co_return keep_alive_;
}

}  // namespace shepherd::mock::detail
