// An API request's course through the shell: per-request overrides, required headers, JSON
// parsing, fault selection, the order in which faults act, delays, and a stream's pacing and fault
// events. What the answers say is the request's Dialect's (dialect_); what faults decide is
// faults.hpp's. Chat requests are planned into answer_; embeddings and token counts are rendered
// into body_ at once. Runs on the connection's thread.
#include <algorithm>
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

// Validates the request and plans the answer into answer_ (or body_), the delays and fault_.
// Prepares the reply itself when no waiting or fault is involved (the benchmark path).
Connection::Next Connection::prepare_request(const Endpoint& endpoint) {
  Counters& c = shared_.counters;
  switch (endpoint.op) {
    case Operation::kEmbed:
      c.embeddings_requests.fetch_add(1, std::memory_order_relaxed);
      break;
    case Operation::kCountTokens:
      c.count_tokens_requests.fetch_add(1, std::memory_order_relaxed);
      break;
    default:
      c.chat_requests.fetch_add(1, std::memory_order_relaxed);
  }
  record_last_request();

  if (!dialect_->required_header.empty() && req_.header(dialect_->required_header) == nullptr) {
    reply_error(400, dialect_->missing_header_message);
    return Next::kReply;
  }
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

  const auto& words = shared_.content_tokens;
  const auto chunks = header_count(
      "x-mock-chunks",
      words.empty() ? shared_.options.chunks : static_cast<std::int64_t>(words.size()), kMaxChunks);
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

  answer_ready_ = endpoint.op != Operation::kChat;
  if (answer_ready_) {
    body_.clear();
    if (auto done = dialect_->append_answer_now(body_, *json_, endpoint); !done) {
      reply_error(400, done.error().message);
      return Next::kReply;
    }
    fault_ = &shared_.fault_selector.select(*fault_);
    if (acts_before_answer(*fault_)) return Next::kChat;
    headers_.clear();
    append_ratelimit_headers(headers_);
    reply(200, "application/json", body_, headers_);
    return Next::kReply;
  }

  auto interpreted = dialect_->interpret(*json_, endpoint);
  if (!interpreted) {
    reply_error(400, interpreted.error().message);
    return Next::kReply;
  }
  const ChatRequest& chat = interpreted.value();

  fault_ = &shared_.fault_selector.select(*fault_);
  const FaultSpec& f = *fault_;

  answer_.request = chat;
  answer_.tool_call = !chat.tool_name.empty();
  answer_.thinking_tokens = chat.thinking ? kThinkingTokens : 0;
  answer_.tokens = answer_.tool_call ? kToolCallTokens : *chunks;
  answer_.truncated = false;
  // The thinking is output too: it counts against the cap, as Anthropic and Gemini count it.
  const std::int64_t cap =
      chat.max_tokens ? std::max<std::int64_t>(0, *chat.max_tokens - answer_.thinking_tokens) : 0;
  if (!answer_.tool_call && chat.max_tokens && cap < answer_.tokens) {
    answer_.tokens = cap;
    answer_.truncated = true;
  }
  answer_.id = c.next_id.fetch_add(1, std::memory_order_relaxed) + 1;
  answer_.created = static_cast<std::int64_t>(std::time(nullptr));
  answer_.big_chunk = answer_.tool_call ? -1 : f.big_chunk;
  answer_.no_usage = f.no_usage;
  answer_.words = words.empty() ? nullptr : &words;
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

void Connection::append_ratelimit_headers(std::string& out) const {
  const FaultSpec& f = *fault_;
  if (f.ratelimit_remaining < 0) return;
  dialect_->append_ratelimit_headers(out, f.ratelimit_remaining, f.ratelimit_reset,
                                     f.ratelimit_reset_ms);
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
    headers_.clear();
    append_redirect_headers(headers_, fault);
    append_ratelimit_headers(headers_);
    reply(307, {}, {}, headers_);
    co_return co_await send_reply();
  }
  const std::int64_t max_context = shared_.options.max_context;
  if (!answer_ready_ && max_context > 0 && answer_.request.prompt_tokens > max_context) {
    body_.clear();
    dialect_->append_context_length_error(body_, max_context, answer_.request.prompt_tokens);
    reply(400, "application/json", body_);
    co_return co_await send_reply();
  }
  if (fault.status != 0) {
    std::string message;
    append_status_message(message, fault);
    headers_.clear();
    append_status_headers(headers_, fault);
    append_ratelimit_headers(headers_);
    reply_error(fault.status, message, {}, headers_);
    co_return co_await send_reply();
  }
  if (answer_ready_) {
    // Rendered by prepare_request(); body_ still holds it.
    headers_.clear();
    append_ratelimit_headers(headers_);
    reply(200, "application/json", body_, headers_);
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
  headers_.clear();
  append_ratelimit_headers(headers_);
  reply(200, "application/json", body_, headers_);
}

asio::awaitable<bool> Connection::stream_answer() {
  const FaultSpec& fault = *fault_;
  const Dialect& dialect = *dialect_;
  // HTTP/1.0 has no chunked coding: the body then ends with the connection.
  const bool chunked = req_.version >= 11;
  if (!chunked) keep_alive_ = false;

  // Status, headers and the opening events: all due now, so one write. A dialect may open with no
  // event, and an empty chunk would end the body.
  event_.clear();
  dialect.append_stream_open(event_, scratch_, answer_);
  headers_.clear();
  append_ratelimit_headers(headers_);
  out_.clear();
  append_head(out_, 200, "text/event-stream", chunked ? Framing::kChunked : Framing::kUntilClose, 0,
              req_.version, keep_alive_, "Cache-Control: no-cache\r\n", headers_);
  if (!event_.empty()) append_framed(out_, event_, chunked);
  shared_.counters.streams_started.fetch_add(1, std::memory_order_relaxed);
  if (!co_await write_out()) co_return false;

  const std::int64_t n = dialect.stream_content_events(answer_);
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
