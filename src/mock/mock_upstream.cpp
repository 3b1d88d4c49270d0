// The mock upstream: a pure part that interprets requests and fault specs and renders answers, and
// a coroutine I/O shell (one coroutine per connection, one io_context per thread).
//
// Speed matters here (benchmarks put it behind nginx and behind the gateway), so:
//   - the request is parsed by a basic_parser subclass straight into per-connection buffers that
//     keep their capacity (no per-field allocation as with beast::http::fields);
//   - the JSON body is parsed into a monotonic_resource over a per-connection buffer;
//   - answers are rendered by hand into reused strings and written with one gathered write;
//   - deadlines are a per-connection watchdog that wakes at most once a second and reads a plain
//     time_point, instead of arming a timer around every read and write as beast::tcp_stream does
//     (that costs timer-queue work and often a timerfd syscall per operation).
#include "mock/mock_upstream.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/ssl.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/read_size.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/status.hpp>
#include <boost/json/monotonic_resource.hpp>
#include <boost/json/parser.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <cerrno>
#include <charconv>
#include <csignal>
#include <ctime>
#include <iostream>
#include <mutex>
#include <optional>
#include <random>
#include <stdexcept>
#include <string_view>
#include <thread>
#include <type_traits>
#include <utility>

#include "base/result.hpp"

namespace shepherd::mock {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr auto kUse = asio::as_tuple(asio::use_awaitable);

constexpr std::uint32_t kHeaderLimit = 16 * 1024;
constexpr std::uint64_t kBodyLimit = 8 * 1024 * 1024;
constexpr std::size_t kInputBufferLimit = 1024 * 1024;  // the body is moved out as it is parsed
constexpr std::size_t kReadSize = 64 * 1024;
constexpr auto kIdleTimeout = std::chrono::seconds(60);  // also bounds reading one request
constexpr auto kWriteTimeout = std::chrono::seconds(30);
constexpr auto kHandshakeTimeout = std::chrono::seconds(10);
constexpr auto kTlsShutdownTimeout = std::chrono::seconds(1);
constexpr auto kWatchdogPeriod = std::chrono::seconds(1);
constexpr auto kPeerPollInterval = milliseconds(50);
constexpr auto kStopGrace = std::chrono::seconds(2);
constexpr std::int64_t kModelsCreated = 1700000000;
constexpr std::int64_t kMaxChunks = 100000;
constexpr std::int64_t kMaxDelayMs = 3600 * 1000;
constexpr std::int64_t kMaxCount = 1000000000;
constexpr std::int64_t kMaxBigChunk = 64 * 1024 * 1024;
constexpr std::int64_t kRateLimitLimit = 100;  // x-ratelimit-limit-requests with ratelimit=
constexpr int kMaxThreads = 256;
constexpr std::string_view kRedirectLocation = "http://127.0.0.1:1/elsewhere";
constexpr std::string_view kMalformedEvent = "data: {\"id\": broken\n\n";
constexpr std::string_view kErrorEvent =
    "data: {\"error\":{\"message\":\"mock fault: error event\",\"type\":\"server_error\","
    "\"param\":null,\"code\":null}}\n\n";
constexpr std::string_view kDoneEvent = "data: [DONE]\n\n";
constexpr std::string_view kLastChunk = "0\r\n\r\n";

// ---------------------------------------------------------------------------------------------
// Pure part: numbers, JSON text, fault specs, chat requests, rendering.

std::string_view trim(std::string_view s) {
  constexpr std::string_view kSpace = " \t\r\n\f\v";
  const auto first = s.find_first_not_of(kSpace);
  if (first == std::string_view::npos) return {};
  const auto last = s.find_last_not_of(kSpace);
  return s.substr(first, last - first + 1);
}

// A decimal integer in [0, max], nothing else.
std::optional<std::int64_t> parse_count(std::string_view s, std::int64_t max) {
  s = trim(s);
  std::int64_t v = 0;
  const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || ptr != s.data() + s.size() || v < 0 || v > max) {
    return std::nullopt;
  }
  return v;
}

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

std::int64_t count_words(std::string_view s) {
  std::int64_t words = 0;
  bool in_word = false;
  for (const char c : s) {
    const bool space = is_space(c);
    if (!space && !in_word) ++words;
    in_word = !space;
  }
  return words;
}

void append_int(std::string& out, std::int64_t v) {
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

void append_hex(std::string& out, std::size_t v) {
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof buf, v, 16);
  out.append(buf, r.ptr);
}

// A JSON string literal, quotes included. Bytes >= 0x80 pass through (the input is whatever the
// client sent; the mock does not validate UTF-8).
void append_json_string(std::string& out, std::string_view s) {
  constexpr char kHex[] = "0123456789abcdef";
  out.push_back('"');
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    switch (c) {
      case '"':
        out.append("\\\"");
        break;
      case '\\':
        out.append("\\\\");
        break;
      case '\n':
        out.append("\\n");
        break;
      case '\r':
        out.append("\\r");
        break;
      case '\t':
        out.append("\\t");
        break;
      default:
        if (u < 0x20) {
          out.append("\\u00");
          out.push_back(kHex[u >> 4]);
          out.push_back(kHex[u & 0xf]);
        } else {
          out.push_back(c);
        }
    }
  }
  out.push_back('"');
}

// Completion token i; see the header. None needs JSON escaping.
std::string_view token_text(std::int64_t i) {
  static constexpr std::array<std::string_view, 6> kCycle = {" from",     " the", " mock",
                                                             " upstream", ".",    " Hello"};
  if (i == 0) return "Hello";
  return kCycle[static_cast<std::size_t>((i - 1) % static_cast<std::int64_t>(kCycle.size()))];
}

std::string_view reason_phrase(int status) {
  return http::obsolete_reason(http::int_to_status(static_cast<unsigned>(status)));
}

// The OpenAI error `type` for a status.
std::string_view error_type(int status) {
  if (status == 429) return "requests";
  if (status >= 500) return "server_error";
  return "invalid_request_error";
}

void append_error_body(std::string& out, std::string_view message, std::string_view type,
                       std::string_view code = {}) {
  out.append("{\"error\":{\"message\":");
  append_json_string(out, message);
  out.append(",\"type\":");
  append_json_string(out, type);
  out.append(",\"param\":null,\"code\":");
  if (code.empty()) {
    out.append("null");
  } else {
    append_json_string(out, code);
  }
  out.append("}}");
}

struct FaultSpec {
  int status = 0;  // 0: none
  std::string retry_after;
  bool reset = false;
  bool redirect = false;
  bool no_usage = false;
  std::int64_t slow_headers_ms = 0;
  // Stream faults: the number of content chunks after which they fire; -1: not set.
  std::int64_t stall_after = -1;
  std::int64_t reset_after = -1;
  std::int64_t cut_after = -1;
  std::int64_t malformed_after = -1;
  std::int64_t error_event_after = -1;
  std::int64_t big_chunk = -1;   // bytes; -1: not set
  std::int64_t fail_first = -1;  // -1: not set
  std::int64_t fail_rate = -1;   // percent; -1: not set
  // ratelimit=: the x-ratelimit-* header lines, CRLFs included, rendered once at parse time so that
  // answering only appends them; empty: not set.
  std::string ratelimit_headers;
};

const FaultSpec kNoFault{};

base::Error fault_error(std::string_view what, std::string_view item) {
  std::string message(what);
  message.append(" '");
  message.append(item);
  message.append(
      "' in the fault spec (items: status=CODE, retry-after=VALUE, reset, redirect, "
      "slow-headers=MS, stall-after=N, reset-after=N, cut-after=N, malformed-after=N, "
      "error-event-after=N, no-usage, big-chunk=BYTES, fail-first=N, fail-rate=PCT, "
      "ratelimit=REMAINING/RESET)");
  return base::make_error(base::ErrorCode::kBadRequest, std::move(message));
}

base::Result<FaultSpec> parse_fault_spec(std::string_view spec) {
  FaultSpec f;
  bool has_retry_after = false;
  while (!spec.empty()) {
    const auto comma = spec.find(',');
    std::string_view item = trim(spec.substr(0, comma));
    spec = comma == std::string_view::npos ? std::string_view() : spec.substr(comma + 1);
    if (item.empty()) continue;
    const auto eq = item.find('=');
    const std::string_view key = trim(item.substr(0, eq));
    const std::string_view value =
        eq == std::string_view::npos ? std::string_view() : trim(item.substr(eq + 1));
    const bool has_value = eq != std::string_view::npos;

    if (key == "reset" || key == "redirect" || key == "no-usage") {
      if (has_value) return fault_error("unexpected value in mock fault item", item);
      if (key == "reset") f.reset = true;
      if (key == "redirect") f.redirect = true;
      if (key == "no-usage") f.no_usage = true;
      continue;
    }
    if (key == "retry-after") {
      std::string_view v = value;
      // An HTTP-date ("Wed, 21 Oct 2015 07:28:00 GMT") has a comma after the day name.
      const bool day_name = v.size() == 3 && std::all_of(v.begin(), v.end(), [](char c) {
                              return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
                            });
      std::string joined(v);
      if (day_name && !spec.empty()) {
        const auto next_comma = spec.find(',');
        joined.append(",");
        joined.append(spec.substr(0, next_comma));
        spec =
            next_comma == std::string_view::npos ? std::string_view() : spec.substr(next_comma + 1);
      }
      const bool printable = std::all_of(joined.begin(), joined.end(), [](char c) {
        return static_cast<unsigned char>(c) >= 0x20 && c != 0x7f;
      });
      if (joined.empty() || !printable) {
        return fault_error("invalid value in mock fault item", item);
      }
      f.retry_after = std::move(joined);
      has_retry_after = true;
      continue;
    }
    if (key == "ratelimit") {
      // REMAINING/RESET: RESET is sent verbatim, so it must be a token a header value can carry.
      const auto slash = value.find('/');
      const std::string_view reset =
          slash == std::string_view::npos ? std::string_view() : value.substr(slash + 1);
      const bool reset_ok = !reset.empty() && std::all_of(reset.begin(), reset.end(), [](char c) {
        return c > 0x20 && c < 0x7f && c != ',';
      });
      const std::string_view remaining_text = value.substr(0, slash);
      const bool remaining_digits =
          !remaining_text.empty() && std::all_of(remaining_text.begin(), remaining_text.end(),
                                                 [](char c) { return c >= '0' && c <= '9'; });
      const auto remaining = parse_count(remaining_text, kMaxCount);
      if (!reset_ok || !remaining_digits || !remaining) {
        return fault_error("invalid value (REMAINING/RESET) in mock fault item", item);
      }
      f.ratelimit_headers.clear();
      f.ratelimit_headers.append("x-ratelimit-limit-requests: ");
      append_int(f.ratelimit_headers, kRateLimitLimit);
      f.ratelimit_headers.append("\r\nx-ratelimit-remaining-requests: ");
      append_int(f.ratelimit_headers, *remaining);
      f.ratelimit_headers.append("\r\nx-ratelimit-reset-requests: ");
      f.ratelimit_headers.append(reset);
      f.ratelimit_headers.append("\r\n");
      continue;
    }
    if (key == "status") {
      const auto code = parse_count(value, 599);
      if (!code || *code < 400)
        return fault_error("invalid value (400..599) in mock fault item", item);
      f.status = static_cast<int>(*code);
      continue;
    }
    struct CountItem {
      std::string_view key;
      std::int64_t FaultSpec::*field;
      std::int64_t max;
    };
    static constexpr std::array<CountItem, 9> kCountItems = {{
        {"slow-headers", &FaultSpec::slow_headers_ms, kMaxDelayMs},
        {"stall-after", &FaultSpec::stall_after, kMaxCount},
        {"reset-after", &FaultSpec::reset_after, kMaxCount},
        {"cut-after", &FaultSpec::cut_after, kMaxCount},
        {"malformed-after", &FaultSpec::malformed_after, kMaxCount},
        {"error-event-after", &FaultSpec::error_event_after, kMaxCount},
        {"big-chunk", &FaultSpec::big_chunk, kMaxBigChunk},
        {"fail-first", &FaultSpec::fail_first, kMaxCount},
        {"fail-rate", &FaultSpec::fail_rate, 100},
    }};
    const auto it = std::find_if(kCountItems.begin(), kCountItems.end(),
                                 [&](const CountItem& c) { return c.key == key; });
    if (it == kCountItems.end()) return fault_error("unknown mock fault item", item);
    const auto n = parse_count(value, it->max);
    if (!n) return fault_error("invalid value in mock fault item", item);
    f.*(it->field) = *n;
  }
  if (has_retry_after && f.status == 0) {
    return fault_error("mock fault item needs status=CODE:", "retry-after");
  }
  return f;
}

struct ChatRequest {
  std::string_view model;  // into the parsed body
  bool stream = false;
  bool include_usage = false;
  std::optional<std::int64_t> max_tokens;  // the smaller of max_tokens and max_completion_tokens
  std::int64_t prompt_tokens = 0;
};

base::Error bad_request(std::string message) {
  return base::make_error(base::ErrorCode::kBadRequest, std::move(message));
}

// Loose OpenAI validation: the fields the mock uses must be present and well-typed.
base::Result<ChatRequest> interpret_chat_request(const json::value& body) {
  const json::object* obj = body.if_object();
  if (obj == nullptr) return bad_request("the request body must be a JSON object");
  ChatRequest chat;

  const json::value* model = obj->if_contains("model");
  if (model == nullptr) return bad_request("you must provide a model parameter");
  if (!model->is_string()) return bad_request("'model' must be a string");
  chat.model = model->get_string();

  const json::value* messages = obj->if_contains("messages");
  if (messages == nullptr) return bad_request("missing required parameter: 'messages'");
  const json::array* list = messages->if_array();
  if (list == nullptr || list->empty()) return bad_request("'messages' must be a non-empty array");
  for (const json::value& m : *list) {
    const json::object* message = m.if_object();
    if (message == nullptr) return bad_request("each of 'messages' must be an object");
    const json::value* content = message->if_contains("content");
    if (content == nullptr) continue;
    if (const json::string* text = content->if_string()) {
      chat.prompt_tokens += count_words(*text);
    } else if (const json::array* parts = content->if_array()) {
      for (const json::value& part : *parts) {
        const json::object* p = part.if_object();
        const json::value* text_value = p == nullptr ? nullptr : p->if_contains("text");
        if (text_value != nullptr && text_value->is_string()) {
          chat.prompt_tokens += count_words(text_value->get_string());
        }
      }
    }
  }

  if (const json::value* stream = obj->if_contains("stream"); stream && !stream->is_null()) {
    if (!stream->is_bool()) return bad_request("'stream' must be a boolean");
    chat.stream = stream->get_bool();
  }
  if (const json::value* so = obj->if_contains("stream_options"); so && so->is_object()) {
    const json::value* include = so->get_object().if_contains("include_usage");
    chat.include_usage = include != nullptr && include->is_bool() && include->get_bool();
  }
  for (const std::string_view name : {"max_tokens", "max_completion_tokens"}) {
    const json::value* v = obj->if_contains(name);
    if (v == nullptr || v->is_null()) continue;
    std::int64_t n = -1;
    if (v->is_int64()) {
      n = v->get_int64();
    } else if (v->is_uint64()) {
      n = kMaxCount;
    }
    if (n < 0) {
      std::string message("'");
      message.append(name);
      message.append("' must be a non-negative integer");
      return bad_request(std::move(message));
    }
    chat.max_tokens = chat.max_tokens ? std::min(*chat.max_tokens, n) : n;
  }
  return chat;
}

enum class Framing { kLength, kChunked, kUntilClose };

// Status line and headers, up to and including the empty line.
void append_head(std::string& out, int status, std::string_view content_type, Framing framing,
                 std::size_t content_length, int version, bool keep_alive,
                 std::string_view extra_headers = {}, std::string_view more_headers = {}) {
  out.append("HTTP/1.1 ");
  append_int(out, status);
  out.push_back(' ');
  out.append(reason_phrase(status));
  out.append("\r\n");
  if (!content_type.empty()) {
    out.append("Content-Type: ");
    out.append(content_type);
    out.append("\r\n");
  }
  switch (framing) {
    case Framing::kLength:
      out.append("Content-Length: ");
      append_int(out, static_cast<std::int64_t>(content_length));
      out.append("\r\n");
      break;
    case Framing::kChunked:
      out.append("Transfer-Encoding: chunked\r\n");
      break;
    case Framing::kUntilClose:
      break;
  }
  if (!keep_alive) {
    out.append("Connection: close\r\n");
  } else if (version < 11) {
    out.append("Connection: keep-alive\r\n");
  }
  out.append(extra_headers);
  out.append(more_headers);
  out.append("\r\n");
}

// One SSE event `data: <payload>\n\n`, framed as one HTTP chunk when chunked.
void append_event(std::string& out, std::string_view payload, bool chunked) {
  if (chunked) {
    append_hex(out, payload.size() + 8);
    out.append("\r\n");
  }
  out.append("data: ");
  out.append(payload);
  out.append("\n\n");
  if (chunked) out.append("\r\n");
}

// Raw bytes (already `data: ...\n\n`), framed as one HTTP chunk when chunked.
void append_raw_event(std::string& out, std::string_view event, bool chunked) {
  if (chunked) {
    append_hex(out, event.size());
    out.append("\r\n");
  }
  out.append(event);
  if (chunked) out.append("\r\n");
}

void append_usage(std::string& out, std::int64_t prompt, std::int64_t completion) {
  out.append("{\"prompt_tokens\":");
  append_int(out, prompt);
  out.append(",\"completion_tokens\":");
  append_int(out, completion);
  out.append(",\"total_tokens\":");
  append_int(out, prompt + completion);
  out.push_back('}');
}

std::string render_models(const std::vector<std::string>& models) {
  std::string out = "{\"object\":\"list\",\"data\":[";
  for (std::size_t i = 0; i < models.size(); ++i) {
    if (i != 0) out.push_back(',');
    out.append("{\"id\":");
    append_json_string(out, models[i]);
    out.append(",\"object\":\"model\",\"created\":");
    append_int(out, kModelsCreated);
    out.append(",\"owned_by\":\"mock\"}");
  }
  out.append("]}");
  return out;
}

// ---------------------------------------------------------------------------------------------
// Shared state.

struct Counters {
  std::atomic<std::uint64_t> requests{0};
  std::atomic<std::uint64_t> chat_requests{0};
  std::atomic<std::uint64_t> models_requests{0};
  std::atomic<std::uint64_t> streams_started{0};
  std::atomic<std::uint64_t> streams_completed{0};
  std::atomic<std::uint64_t> client_disconnects{0};
  std::atomic<std::int64_t> open_connections{0};
  std::atomic<std::uint64_t> fail_first_seen{0};
  std::atomic<std::uint64_t> next_id{0};
};

using Header = std::pair<std::string, std::string>;

// One parsed request. Kept per connection and cleared, not freed, between requests so that its
// strings keep their capacity.
struct RequestHead {
  http::verb verb = http::verb::unknown;
  std::string method;
  std::string target;
  int version = 11;
  bool expect_continue = false;
  std::vector<Header> headers;  // [0, header_count) are this request's; names lowercased
  std::size_t header_count = 0;
  std::string body;

  void clear() {
    verb = http::verb::unknown;
    method.clear();
    target.clear();
    version = 11;
    expect_continue = false;
    header_count = 0;
    body.clear();
  }

  void add_header(std::string_view name, std::string_view value) {
    if (header_count == headers.size()) headers.emplace_back();
    Header& h = headers[header_count++];
    h.first.assign(name);
    for (char& c : h.first) {
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    }
    h.second.assign(value);
  }

  const std::string* header(std::string_view lower_name) const {
    for (std::size_t i = 0; i < header_count; ++i) {
      if (headers[i].first == lower_name) return &headers[i].second;
    }
    return nullptr;
  }
};

struct LastRequest {
  std::mutex mutex;
  bool present = false;
  RequestHead head;
};

// fail-rate's draws: one generator for all threads, so that a seed fixes the sequence of
// selections (in request order) whatever thread serves each request.
struct FailRateGenerator {
  std::mutex mutex;
  std::mt19937_64 engine;

  // Whether the next request is selected for PCT percent.
  bool select(std::int64_t percent) {
    std::uint64_t x = 0;
    {
      std::lock_guard lock(mutex);
      x = engine();
    }
    return static_cast<std::int64_t>(x % 100) < percent;
  }

  void seed(std::uint64_t s) {
    std::lock_guard lock(mutex);
    engine.seed(s);
  }
};

struct Shared {
  MockOptions options;
  FaultSpec default_fault;
  FailRateGenerator fail_rate;
  std::string models_body;
  bool tls = false;
  Counters counters;
  LastRequest last;
  std::atomic<bool> stopping{false};
};

class SessionBase;

// One event-loop thread. Its session list and `stopping` are touched only on its thread.
struct Worker {
  SessionBase* sessions = nullptr;  // intrusive list
  bool stopping = false;
  asio::io_context ioc{1};
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> guard;
  std::thread thread;
};

class SessionBase {
 public:
  virtual ~SessionBase() = default;
  // Closes the connection now; pending operations complete with operation_aborted. Called on the
  // session's thread.
  virtual void abort() = 0;

  SessionBase* prev = nullptr;
  SessionBase* next = nullptr;
};

// Feeds a RequestHead; see basic_parser for when each hook runs.
class RequestParser final : public http::basic_parser<true> {
 public:
  explicit RequestParser(RequestHead& head) : head_(head) {}

 private:
  void on_request_impl(http::verb verb, beast::string_view method, beast::string_view target,
                       int version, beast::error_code&) override {
    head_.verb = verb;
    head_.method.assign(method.data(), method.size());
    head_.target.assign(target.data(), target.size());
    head_.version = version;
  }
  void on_response_impl(int, beast::string_view, int, beast::error_code&) override {}
  void on_field_impl(http::field name, beast::string_view name_string, beast::string_view value,
                     beast::error_code&) override {
    head_.add_header(name_string, value);  // converts to std::string_view
    if (name == http::field::expect && beast::iequals(value, "100-continue")) {
      head_.expect_continue = true;
    }
  }
  void on_header_impl(beast::error_code&) override {}
  void on_body_init_impl(const boost::optional<std::uint64_t>& length,
                         beast::error_code&) override {
    if (length) head_.body.reserve(static_cast<std::size_t>(*length));
  }
  std::size_t on_body_impl(beast::string_view body, beast::error_code&) override {
    head_.body.append(body.data(), body.size());
    return body.size();
  }
  void on_chunk_header_impl(std::uint64_t, beast::string_view, beast::error_code&) override {}
  std::size_t on_chunk_body_impl(std::uint64_t, beast::string_view body,
                                 beast::error_code&) override {
    head_.body.append(body.data(), body.size());
    return body.size();
  }
  void on_finish_impl(beast::error_code&) override {}

  RequestHead& head_;
};

enum class ReadResult { kOk, kClosed, kHeaderTooLarge, kBodyTooLarge, kBadRequest };
enum class PeerState { kQuiet, kData, kGone };

using PlainStream = tcp::socket;
using TlsStream = ssl::stream<tcp::socket>;

// ---------------------------------------------------------------------------------------------
// One connection. Owned by its coroutine (and, briefly, by the watchdog handler); lives on one
// worker thread.

template <class Stream>
class Session final : public SessionBase, public std::enable_shared_from_this<Session<Stream>> {
 public:
  static constexpr bool kTls = std::is_same_v<Stream, TlsStream>;

  template <class... StreamArgs>
  Session(Shared& shared, Worker& worker, StreamArgs&&... stream_args)
      : shared_(shared),
        worker_(worker),
        stream_(std::forward<StreamArgs>(stream_args)...),
        watchdog_(worker.ioc),
        delay_timer_(worker.ioc),
        poll_timer_(worker.ioc) {
    shared_.counters.open_connections.fetch_add(1, std::memory_order_relaxed);
  }

  ~Session() override {
    if (registered_) {
      if (prev != nullptr) prev->next = next;
      if (next != nullptr) next->prev = prev;
      if (worker_.sessions == this) worker_.sessions = next;
    }
    shared_.counters.open_connections.fetch_sub(1, std::memory_order_relaxed);
  }

  static asio::awaitable<void> run(std::shared_ptr<Session> self) {
    self->register_session();
    try {
      if (!self->worker_.stopping) co_await self->serve();
    } catch (const std::exception&) {
      // A bug or bad_alloc: drop this connection, keep serving the others.
    }
    self->close_now();
  }

  void abort() override { close_now(); }

 private:
  tcp::socket& socket() {
    if constexpr (kTls) {
      return stream_.next_layer();
    } else {
      return stream_;
    }
  }

  void register_session() {
    next = worker_.sessions;
    if (next != nullptr) next->prev = this;
    worker_.sessions = this;
    registered_ = true;
  }

  void close_now() {
    closed_ = true;
    beast::error_code ec;
    socket().close(ec);
    watchdog_.cancel();
    delay_timer_.cancel();
    poll_timer_.cancel();
  }

  // RST instead of FIN: the peer sees "connection reset by peer".
  void reset_now() {
    beast::error_code ec;
    socket().set_option(asio::socket_base::linger(true, 0), ec);
    close_now();
  }

  // --- deadlines ----------------------------------------------------------------------------

  void set_deadline(Clock::duration d) { deadline_ = Clock::now() + d; }
  void clear_deadline() { deadline_ = Clock::time_point::max(); }

  void arm_watchdog() {
    const auto now = Clock::now();
    watchdog_.expires_at(std::min(deadline_, now + kWatchdogPeriod));
    watchdog_.async_wait([self = this->shared_from_this()](beast::error_code ec) {
      if (ec || self->closed_) return;
      if (Clock::now() >= self->deadline_) {
        self->close_now();
        return;
      }
      self->arm_watchdog();
    });
  }

  // --- waiting while watching the peer ------------------------------------------------------

  // Whether the peer has closed (FIN or RST) its side. Pending bytes are not a close, unless the
  // TCP state shows a FIN behind them (TLS close_notify, or a pipelined request then close).
  PeerState probe_peer() {
    const int fd = socket().native_handle();
    char byte = 0;
    const auto r = ::recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    if (r == 0) return PeerState::kGone;
    if (r < 0) {
      return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? PeerState::kQuiet
                                                                       : PeerState::kGone;
    }
    tcp_info info{};
    socklen_t len = sizeof info;
    if (::getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) == 0 &&
        (info.tcpi_state == TCP_CLOSE_WAIT || info.tcpi_state == TCP_CLOSE)) {
      return PeerState::kGone;
    }
    return PeerState::kData;
  }

  // Returns when the peer has gone (peer_gone_ set) or the wait is cancelled.
  asio::awaitable<void> watch_peer() {
    for (;;) {
      const PeerState state = probe_peer();
      if (state == PeerState::kGone) {
        peer_gone_ = true;
        co_return;
      }
      if (state == PeerState::kQuiet) {
        auto [ec] = co_await socket().async_wait(tcp::socket::wait_read, kUse);
        if (ec) co_return;
      } else {
        // Bytes are waiting (a pipelined request): readiness stays set, so poll the state.
        poll_timer_.expires_after(kPeerPollInterval);
        auto [ec] = co_await poll_timer_.async_wait(kUse);
        if (ec) co_return;
      }
    }
  }

  asio::awaitable<void> sleep(milliseconds d) {
    delay_timer_.expires_after(d);
    auto [ec] = co_await delay_timer_.async_wait(kUse);
    (void)ec;
  }

  // Counts a chat request's client disconnect, once.
  void note_disconnect() {
    if (answering_chat_ && !disconnect_counted_ && !shared_.stopping.load()) {
      disconnect_counted_ = true;
      shared_.counters.client_disconnects.fetch_add(1, std::memory_order_relaxed);
    }
  }

  // Whether the answer may go on; counts a disconnect when the peer is gone.
  bool still_wanted() {
    if (peer_gone_) {
      note_disconnect();
      return false;
    }
    return !closed_;
  }

  // Waits `d`, or less when the peer goes away. Returns still_wanted().
  asio::awaitable<bool> pause(milliseconds d) {
    if (closed_) co_return false;
    if (d.count() > 0) {
      using namespace asio::experimental::awaitable_operators;
      clear_deadline();
      co_await (sleep(d) || watch_peer());
    }
    co_return still_wanted();
  }

  // Waits until the peer goes away (or stop()).
  asio::awaitable<void> stall() {
    clear_deadline();
    co_await watch_peer();
    (void)still_wanted();
  }

  // --- writing ------------------------------------------------------------------------------

  template <class Buffers>
  asio::awaitable<bool> write(Buffers buffers) {
    set_deadline(kWriteTimeout);
    auto [ec, n] = co_await asio::async_write(stream_, buffers, kUse);
    (void)n;
    if (ec) {
      if (!closed_) note_disconnect();
      co_return false;
    }
    co_return true;
  }

  asio::awaitable<bool> write_out() { return write(asio::buffer(out_)); }

  // The prepared reply is out_ (status line and headers) followed by reply_body_. Rendering is
  // synchronous so that the common requests need no coroutine besides serve() and read_request().
  void reply(int status, std::string_view content_type, std::string_view body,
             std::string_view extra_headers = {}) {
    out_.clear();
    append_head(out_, status, content_type, Framing::kLength, body.size(), req_.version,
                keep_alive_, extra_headers);
    reply_body_ = body;
  }

  void reply_error(int status, std::string_view message, std::string_view code = {},
                   std::string_view extra_headers = {}) {
    body_.clear();
    append_error_body(body_, message, error_type(status), code);
    reply(status, "application/json", body_, extra_headers);
  }

  std::array<asio::const_buffer, 2> reply_buffers() const {
    return {asio::buffer(out_), asio::buffer(reply_body_)};
  }

  // Returns whether the connection goes on.
  asio::awaitable<bool> send_reply() {
    const bool ok = co_await write(reply_buffers());
    co_return ok&& keep_alive_;
  }

  // --- reading ------------------------------------------------------------------------------

  static ReadResult classify(const beast::error_code& ec) {
    if (ec == http::error::header_limit) return ReadResult::kHeaderTooLarge;
    if (ec == http::error::body_limit) return ReadResult::kBodyTooLarge;
    return ReadResult::kBadRequest;
  }

  asio::awaitable<ReadResult> read_request() {
    req_.clear();
    parser_.emplace(req_);
    parser_->header_limit(kHeaderLimit);
    parser_->body_limit(kBodyLimit);
    parser_->eager(true);
    bool continue_sent = false;
    for (;;) {
      while (in_.size() != 0) {
        beast::error_code ec;
        const std::size_t used = parser_->put(in_.data(), ec);
        in_.consume(used);
        if (ec == http::error::need_more) break;
        if (ec) co_return classify(ec);
        if (parser_->is_done()) co_return ReadResult::kOk;
        if (used == 0) break;
      }
      if (parser_->is_header_done() && req_.expect_continue && !continue_sent) {
        // RFC 9110 §10.1.1: curl and others wait for this before sending a larger body.
        continue_sent = true;
        constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
        if (!co_await write(asio::buffer(kContinue))) co_return ReadResult::kClosed;
        set_deadline(kIdleTimeout);
      }
      const std::size_t size = beast::read_size(in_, kReadSize);
      if (size == 0) co_return ReadResult::kHeaderTooLarge;
      auto [ec, n] = co_await stream_.async_read_some(in_.prepare(size), kUse);
      if (ec) {
        const bool eof = ec == asio::error::eof || ec == ssl::error::stream_truncated;
        if (eof && parser_->got_some()) {
          beast::error_code eof_ec;
          parser_->put_eof(eof_ec);
          if (!eof_ec && parser_->is_done()) co_return ReadResult::kOk;
        }
        co_return ReadResult::kClosed;
      }
      in_.commit(n);
    }
  }

  // --- the connection -----------------------------------------------------------------------

  asio::awaitable<void> serve() {
    arm_watchdog();
    if constexpr (kTls) {
      set_deadline(kHandshakeTimeout);
      auto [ec] = co_await stream_.async_handshake(ssl::stream_base::server, kUse);
      if (ec) co_return;
    }
    for (;;) {
      set_deadline(kIdleTimeout);
      const ReadResult result = co_await read_request();
      if (result == ReadResult::kClosed) co_return;
      if (result != ReadResult::kOk) {
        keep_alive_ = false;
        if (result == ReadResult::kHeaderTooLarge) {
          reply_error(431, "request headers are larger than 16 KiB");
        } else if (result == ReadResult::kBodyTooLarge) {
          reply_error(413, "request body is larger than 8 MiB");
        } else {
          reply_error(400, "malformed HTTP request");
        }
        co_await send_reply();
        co_await close_gracefully();
        co_return;
      }
      keep_alive_ = parser_->keep_alive();
      shared_.counters.requests.fetch_add(1, std::memory_order_relaxed);

      bool go_on = false;
      if (route() == Next::kReply) {
        // Inline rather than send_reply(): one coroutine frame less per request.
        set_deadline(kWriteTimeout);
        auto [ec, n] = co_await asio::async_write(stream_, reply_buffers(), kUse);
        (void)n;
        if (ec && !closed_) note_disconnect();
        go_on = !ec && keep_alive_;
      } else {
        go_on = co_await answer_chat();
      }
      answering_chat_ = false;
      release_request_memory();
      if (closed_) co_return;
      if (!go_on) {
        co_await close_gracefully();
        co_return;
      }
    }
  }

  // A big body or big-chunk answer should not pin megabytes for the life of the connection.
  void release_request_memory() {
    json_.reset();
    json_parser_.reset();
    json_resource_.release();
    for (std::string* s : {&req_.body, &out_, &body_, &event_}) {
      if (s->capacity() > kReadSize) std::string().swap(*s);
    }
  }

  asio::awaitable<void> close_gracefully() {
    if (closed_) co_return;
    if constexpr (kTls) {
      set_deadline(kTlsShutdownTimeout);
      auto [ec] = co_await stream_.async_shutdown(kUse);
      (void)ec;
    } else {
      beast::error_code ec;
      socket().shutdown(tcp::socket::shutdown_send, ec);
    }
    close_now();
  }

  // --- routes (synchronous) -----------------------------------------------------------------

  // kReply: a reply is prepared. kChat: answer_chat() must run (delays, faults, streams).
  enum class Next { kReply, kChat };

  Next route() {
    const std::string_view target = req_.target;
    const std::string_view path = target.substr(0, target.find('?'));
    const http::verb verb = req_.verb;

    if (path == "/v1/chat/completions" || path == "/chat/completions") {
      if (verb != http::verb::post) return method_not_allowed(path);
      answering_chat_ = true;
      disconnect_counted_ = false;
      return prepare_chat();
    }
    if (path == "/v1/models" || path == "/models") {
      if (verb != http::verb::get) return method_not_allowed(path);
      shared_.counters.models_requests.fetch_add(1, std::memory_order_relaxed);
      reply(200, "application/json", shared_.models_body);
      return Next::kReply;
    }
    for (const std::string_view prefix : {"/v1/models/", "/models/"}) {
      if (path.substr(0, prefix.size()) == prefix) {
        if (verb != http::verb::get) return method_not_allowed(path);
        model(path.substr(prefix.size()));
        return Next::kReply;
      }
    }
    if (path == "/mock/stats") {
      if (verb != http::verb::get) return method_not_allowed(path);
      stats();
      return Next::kReply;
    }
    if (path == "/mock/last-request") {
      if (verb != http::verb::get) return method_not_allowed(path);
      last_request();
      return Next::kReply;
    }
    if (path == "/mock/reset") {
      if (verb != http::verb::post) return method_not_allowed(path);
      reset_counters();
      reply(200, "application/json", "{\"reset\":true}");
      return Next::kReply;
    }
    std::string message = "Unknown request URL: ";
    message.append(req_.method);
    message.push_back(' ');
    message.append(path);
    reply_error(404, message, "unknown_url");
    return Next::kReply;
  }

  Next method_not_allowed(std::string_view path) {
    std::string message = "method ";
    message.append(req_.method);
    message.append(" is not allowed on ");
    message.append(path);
    reply_error(405, message);
    return Next::kReply;
  }

  void model(std::string_view id) {
    const auto& models = shared_.options.models;
    if (std::find(models.begin(), models.end(), id) == models.end()) {
      std::string message = "The model '";
      message.append(id);
      message.append("' does not exist");
      reply_error(404, message, "model_not_found");
      return;
    }
    body_.clear();
    body_.append("{\"id\":");
    append_json_string(body_, id);
    body_.append(",\"object\":\"model\",\"created\":");
    append_int(body_, kModelsCreated);
    body_.append(",\"owned_by\":\"mock\"}");
    reply(200, "application/json", body_);
  }

  void stats() {
    const Counters& c = shared_.counters;
    body_.clear();
    body_.append("{\"requests\":");
    append_int(body_, static_cast<std::int64_t>(c.requests.load()));
    body_.append(",\"chat_requests\":");
    append_int(body_, static_cast<std::int64_t>(c.chat_requests.load()));
    body_.append(",\"models_requests\":");
    append_int(body_, static_cast<std::int64_t>(c.models_requests.load()));
    body_.append(",\"streams_started\":");
    append_int(body_, static_cast<std::int64_t>(c.streams_started.load()));
    body_.append(",\"streams_completed\":");
    append_int(body_, static_cast<std::int64_t>(c.streams_completed.load()));
    body_.append(",\"client_disconnects\":");
    append_int(body_, static_cast<std::int64_t>(c.client_disconnects.load()));
    body_.append(",\"open_connections\":");
    append_int(body_, c.open_connections.load());
    body_.push_back('}');
    reply(200, "application/json", body_);
  }

  void last_request() {
    body_.clear();
    {
      std::lock_guard lock(shared_.last.mutex);
      if (shared_.last.present) {
        const RequestHead& head = shared_.last.head;
        json::object headers;
        for (std::size_t i = 0; i < head.header_count; ++i) {
          const auto& [name, value] = head.headers[i];
          if (json::value* existing = headers.if_contains(name)) {
            // A repeated field: join as HTTP does (RFC 9110 §5.3).
            json::string& joined = existing->as_string();
            joined.append(", ");
            joined.append(value);
          } else {
            headers.emplace(name, value);
          }
        }
        json::object obj;
        obj.emplace("method", head.method);
        obj.emplace("target", head.target);
        obj.emplace("headers", std::move(headers));
        obj.emplace("body", head.body);
        body_ = json::serialize(obj);
      }
    }
    if (body_.empty()) {
      reply_error(404, "no chat request received yet");
    } else {
      reply(200, "application/json", body_);
    }
  }

  void reset_counters() {
    Counters& c = shared_.counters;
    c.requests = 0;
    c.chat_requests = 0;
    c.models_requests = 0;
    c.streams_started = 0;
    c.streams_completed = 0;
    c.client_disconnects = 0;
    c.fail_first_seen = 0;
    shared_.fail_rate.seed(shared_.options.seed);
    std::lock_guard lock(shared_.last.mutex);
    shared_.last.present = false;
  }

  void record_last_request() {
    std::lock_guard lock(shared_.last.mutex);
    RequestHead& last = shared_.last.head;
    last.method.assign(req_.method);
    last.target.assign(req_.target);
    last.body.assign(req_.body);
    last.header_count = 0;
    for (std::size_t i = 0; i < req_.header_count; ++i) {
      last.add_header(req_.headers[i].first, req_.headers[i].second);
    }
    shared_.last.present = true;
  }

  // A per-request override from a header: absent → fallback; present but invalid → nullopt.
  std::optional<std::int64_t> header_count(std::string_view name, std::int64_t fallback,
                                           std::int64_t max) const {
    const std::string* value = req_.header(name);
    if (value == nullptr) return fallback;
    return parse_count(*value, max);
  }

  Next bad_header(std::string_view name, std::int64_t max) {
    std::string message = "invalid ";
    message.append(name);
    message.append(" header: expected an integer from 0 to ");
    append_int(message, max);
    reply_error(400, message);
    return Next::kReply;
  }

  // --- chat completions ---------------------------------------------------------------------

  // Validates the request and plans the answer into chat_, answer_ and fault_. Prepares the reply
  // itself when no waiting or fault is involved (the benchmark path).
  Next prepare_chat() {
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
    beast::error_code ec;
    json_parser_.write(req_.body, ec);
    if (ec) {
      reply_error(400,
                  "We could not parse the JSON body of your request. (HINT: This likely means you "
                  "aren't using your HTTP library correctly.)");
      return Next::kReply;
    }
    json_.emplace(json_parser_.release());
    auto interpreted = interpret_chat_request(*json_);
    if (!interpreted) {
      reply_error(400, interpreted.error().message);
      return Next::kReply;
    }
    chat_ = interpreted.value();

    // Selection: fail-rate draws first; only a selected request counts for fail-first.
    if (fault_->fail_rate >= 0 && !shared_.fail_rate.select(fault_->fail_rate)) fault_ = &kNoFault;
    if (fault_->fail_first >= 0) {
      const auto seen = c.fail_first_seen.fetch_add(1, std::memory_order_relaxed);
      if (seen >= static_cast<std::uint64_t>(fault_->fail_first)) fault_ = &kNoFault;
    }

    answer_.tokens = *chunks;
    answer_.finish_reason = "stop";
    if (chat_.max_tokens && *chat_.max_tokens < answer_.tokens) {
      answer_.tokens = *chat_.max_tokens;
      answer_.finish_reason = "length";
    }
    answer_.first_delay = milliseconds(*first_delay);
    answer_.chunk_delay = milliseconds(*chunk_delay);
    answer_.id = c.next_id.fetch_add(1, std::memory_order_relaxed) + 1;
    answer_.created = static_cast<std::int64_t>(std::time(nullptr));

    const FaultSpec& f = *fault_;
    const bool too_long =
        shared_.options.max_context > 0 && chat_.prompt_tokens > shared_.options.max_context;
    const bool plain =
        f.status == 0 && !f.reset && !f.redirect && f.slow_headers_ms == 0 && !too_long;
    if (plain && !chat_.stream && answer_.first_delay.count() == 0) {
      render_completion();
      return Next::kReply;
    }
    return Next::kChat;
  }

  // Everything that waits or misbehaves. Returns whether the connection goes on.
  asio::awaitable<bool> answer_chat() {
    const FaultSpec& fault = *fault_;
    if (fault.reset) {
      reset_now();
      co_return false;
    }
    if (fault.slow_headers_ms > 0 && !co_await pause(milliseconds(fault.slow_headers_ms))) {
      co_return false;
    }
    if (fault.redirect) {
      std::string location = "Location: ";
      location.append(kRedirectLocation);
      location.append("\r\n");
      location.append(fault.ratelimit_headers);
      reply(307, {}, {}, location);
      co_return co_await send_reply();
    }
    if (shared_.options.max_context > 0 && chat_.prompt_tokens > shared_.options.max_context) {
      std::string message = "This model's maximum context length is ";
      append_int(message, shared_.options.max_context);
      message.append(" tokens; the messages have ");
      append_int(message, chat_.prompt_tokens);
      reply_error(400, message, "context_length_exceeded");
      co_return co_await send_reply();
    }
    if (fault.status != 0) {
      std::string message = "mock fault: status ";
      append_int(message, fault.status);
      std::string extra;
      if (!fault.retry_after.empty()) extra = "Retry-After: " + fault.retry_after + "\r\n";
      extra.append(fault.ratelimit_headers);
      reply_error(fault.status, message, {}, extra);
      co_return co_await send_reply();
    }
    if (chat_.stream) co_return co_await stream_answer();
    if (answer_.first_delay.count() > 0 && !co_await pause(answer_.first_delay)) co_return false;
    render_completion();
    co_return co_await send_reply();
  }

  static void append_content(std::string& out, const FaultSpec& fault, std::int64_t i) {
    if (i == 0 && fault.big_chunk >= 0) {
      out.append(static_cast<std::size_t>(fault.big_chunk), 'x');
    } else {
      out.append(token_text(i));
    }
  }

  void render_completion() {
    const FaultSpec& fault = *fault_;
    body_.clear();
    body_.append("{\"id\":\"chatcmpl-mock-");
    append_int(body_, static_cast<std::int64_t>(answer_.id));
    body_.append("\",\"object\":\"chat.completion\",\"created\":");
    append_int(body_, answer_.created);
    body_.append(",\"model\":");
    append_json_string(body_, chat_.model);
    body_.append(",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"");
    for (std::int64_t i = 0; i < answer_.tokens; ++i) append_content(body_, fault, i);
    body_.append("\"},\"finish_reason\":\"");
    body_.append(answer_.finish_reason);
    body_.append("\"}]");
    if (!fault.no_usage) {
      body_.append(",\"usage\":");
      append_usage(body_, chat_.prompt_tokens, answer_.tokens);
    }
    body_.push_back('}');
    reply(200, "application/json", body_, fault.ratelimit_headers);
  }

  // Writes one event: `payload` is the JSON after `data: `.
  asio::awaitable<bool> send_event(std::string_view payload, bool chunked) {
    out_.clear();
    append_event(out_, payload, chunked);
    return write_out();
  }

  asio::awaitable<bool> stream_answer() {
    const FaultSpec& fault = *fault_;
    // HTTP/1.0 has no chunked coding: the body then ends with the connection.
    const bool chunked = req_.version >= 11;
    if (!chunked) keep_alive_ = false;
    const bool usage = chat_.include_usage && !fault.no_usage;
    const std::string_view usage_null = usage ? ",\"usage\":null}" : "}";

    prefix_.clear();
    prefix_.append("{\"id\":\"chatcmpl-mock-");
    append_int(prefix_, static_cast<std::int64_t>(answer_.id));
    prefix_.append("\",\"object\":\"chat.completion.chunk\",\"created\":");
    append_int(prefix_, answer_.created);
    prefix_.append(",\"model\":");
    append_json_string(prefix_, chat_.model);
    prefix_.append(",\"choices\":[");

    // Status, headers and the role chunk: all due now, so one write.
    event_.assign(prefix_);
    event_.append(
        "{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},"
        "\"finish_reason\":null}]");
    event_.append(usage_null);
    out_.clear();
    append_head(out_, 200, "text/event-stream", chunked ? Framing::kChunked : Framing::kUntilClose,
                0, req_.version, keep_alive_, "Cache-Control: no-cache\r\n",
                fault.ratelimit_headers);
    append_event(out_, event_, chunked);
    shared_.counters.streams_started.fetch_add(1, std::memory_order_relaxed);
    if (!co_await write_out()) co_return false;

    const std::int64_t n = answer_.tokens;
    for (std::int64_t i = 0;; ++i) {
      // Stream faults fire after `i` content chunks; one set beyond the end fires at the end.
      const auto fires = [&](std::int64_t after) {
        return after >= 0 && (after == i || (i == n && after > n));
      };
      if (fires(fault.malformed_after)) {
        out_.clear();
        append_raw_event(out_, kMalformedEvent, chunked);
        if (!co_await write_out()) co_return false;
      }
      if (fires(fault.error_event_after)) {
        out_.clear();
        append_raw_event(out_, kErrorEvent, chunked);
        if (chunked) out_.append(kLastChunk);
        co_return co_await write_out() && keep_alive_;
      }
      if (fires(fault.cut_after)) {
        if (!chunked) co_return false;
        co_return co_await write(asio::buffer(kLastChunk)) && keep_alive_;
      }
      if (fires(fault.reset_after)) {
        reset_now();
        co_return false;
      }
      if (fires(fault.stall_after)) {
        co_await stall();
        co_return false;
      }
      if (i == n) break;

      const milliseconds delay = i == 0 ? answer_.first_delay : answer_.chunk_delay;
      if (delay.count() > 0 && !co_await pause(delay)) co_return false;
      event_.assign(prefix_);
      event_.append("{\"index\":0,\"delta\":{\"content\":\"");
      append_content(event_, fault, i);
      event_.append("\"},\"finish_reason\":null}]");
      event_.append(usage_null);
      if (!co_await send_event(event_, chunked)) co_return false;
    }

    event_.assign(prefix_);
    event_.append("{\"index\":0,\"delta\":{},\"finish_reason\":\"");
    event_.append(answer_.finish_reason);
    event_.append("\"}]");
    event_.append(usage_null);
    if (!co_await send_event(event_, chunked)) co_return false;

    if (usage) {
      event_.assign(prefix_);
      event_.append("],\"usage\":");
      append_usage(event_, chat_.prompt_tokens, n);
      event_.push_back('}');
      if (!co_await send_event(event_, chunked)) co_return false;
    }

    out_.clear();
    append_raw_event(out_, kDoneEvent, chunked);
    if (chunked) out_.append(kLastChunk);
    if (!co_await write_out()) co_return false;
    shared_.counters.streams_completed.fetch_add(1, std::memory_order_relaxed);
    co_return keep_alive_;
  }

  struct Answer {
    std::int64_t tokens = 0;
    std::string_view finish_reason;
    milliseconds first_delay{0};
    milliseconds chunk_delay{0};
    std::uint64_t id = 0;
    std::int64_t created = 0;
  };

  Shared& shared_;
  Worker& worker_;
  Stream stream_;
  asio::steady_timer watchdog_;
  asio::steady_timer delay_timer_;
  asio::steady_timer poll_timer_;
  Clock::time_point deadline_ = Clock::time_point::max();

  bool registered_ = false;
  bool closed_ = false;     // closed by us: stop(), a deadline, a fault or the end
  bool peer_gone_ = false;  // the peer closed its side while we were waiting
  bool keep_alive_ = true;
  bool answering_chat_ = false;
  bool disconnect_counted_ = false;

  beast::flat_buffer in_{kInputBufferLimit};
  RequestHead req_;
  std::optional<RequestParser> parser_;

  // The current chat request: its JSON body (in json_buffer_, spilling to the heap only for large
  // bodies), what it asks for, the answer planned and the faults that apply.
  std::array<unsigned char, 8 * 1024> json_buffer_{};
  json::monotonic_resource json_resource_{json_buffer_.data(), json_buffer_.size()};
  std::array<unsigned char, 1024> json_parser_buffer_{};
  json::parser json_parser_{json::storage_ptr(), json::parse_options(), json_parser_buffer_.data(),
                            json_parser_buffer_.size()};
  std::optional<json::value> json_;
  ChatRequest chat_;
  Answer answer_;
  FaultSpec header_fault_;
  const FaultSpec* fault_ = &kNoFault;

  std::string out_;              // status line and headers, or a framed event
  std::string_view reply_body_;  // what follows out_ in a reply
  std::string body_;             // a reply body rendered here
  std::string prefix_;           // a stream's chunk prefix, up to "choices":[
  std::string event_;            // one event's JSON
};

template <class Stream, class... StreamArgs>
void spawn_session(Shared& shared, Worker& worker, StreamArgs&&... stream_args) {
  auto session =
      std::make_shared<Session<Stream>>(shared, worker, std::forward<StreamArgs>(stream_args)...);
  asio::co_spawn(worker.ioc, Session<Stream>::run(std::move(session)), asio::detached);
}

// Starts the session on its worker's thread, so that the session is created and lives there.
asio::awaitable<void> start_session(Shared* shared, Worker* worker, ssl::context* tls,
                                    tcp::socket socket) {
  if (tls != nullptr) {
    spawn_session<TlsStream>(*shared, *worker, std::move(socket), *tls);
  } else {
    spawn_session<PlainStream>(*shared, *worker, std::move(socket));
  }
  co_return;
}

std::string url_host(const std::string& host) {
  if (host.find(':') != std::string::npos) return "[" + host + "]";
  return host;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// The server.

class MockUpstream::Impl {
 public:
  explicit Impl(MockOptions options) { shared_.options = std::move(options); }

  ~Impl() { stop(); }

  void start() {
    if (start_called_) throw std::runtime_error("mock-upstream: start() called twice");
    start_called_ = true;
    const MockOptions& o = shared_.options;
    if (o.threads < 1 || o.threads > kMaxThreads) {
      throw std::runtime_error("mock-upstream: threads must be between 1 and 256");
    }
    if (o.chunks < 0 || o.chunks > kMaxChunks) {
      throw std::runtime_error("mock-upstream: chunks must be between 0 and 100000");
    }
    if (o.first_token_delay.count() < 0 || o.first_token_delay.count() > kMaxDelayMs ||
        o.chunk_delay.count() < 0 || o.chunk_delay.count() > kMaxDelayMs) {
      throw std::runtime_error("mock-upstream: delays must be between 0 and 3600000 ms");
    }
    auto fault = parse_fault_spec(o.fault);
    if (!fault) throw std::runtime_error("mock-upstream: " + fault.error().message);
    shared_.default_fault = std::move(fault).value();
    shared_.fail_rate.seed(o.seed);
    shared_.models_body = render_models(o.models);

    if (o.tls_cert_file.empty() != o.tls_key_file.empty()) {
      throw std::runtime_error("mock-upstream: TLS needs both a certificate and a key file");
    }
    if (!o.tls_cert_file.empty()) load_tls(o.tls_cert_file, o.tls_key_file);

    for (int i = 0; i < o.threads; ++i) workers_.push_back(std::make_unique<Worker>());
    listen(o.host, o.port);

    started_ = true;
    asio::co_spawn(workers_[0]->ioc, accept_loop(), asio::detached);
    for (auto& w : workers_) {
      w->guard.emplace(w->ioc.get_executor());
      w->thread = std::thread([worker = w.get()] {
        for (;;) {
          try {
            worker->ioc.run();
            return;
          } catch (const std::exception&) {
            // A handler threw; the connection it served is gone, the others go on.
          }
        }
      });
    }
  }

  std::uint16_t port() const { return port_; }

  void stop() {
    if (!started_ || stopped_) return;
    stopped_ = true;
    shared_.stopping = true;
    asio::post(workers_[0]->ioc, [this] {
      beast::error_code ec;
      acceptor_->close(ec);
    });
    for (auto& w : workers_) {
      asio::co_spawn(w->ioc, drain(w.get()), asio::detached);
      w->guard.reset();
    }
    for (auto& w : workers_) {
      if (w->thread.joinable()) w->thread.join();
    }
  }

 private:
  void load_tls(const std::string& cert, const std::string& key) {
    tls_.emplace(ssl::context::tls_server);
    tls_->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                      ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 |
                      ssl::context::single_dh_use);
    SSL_CTX_set_min_proto_version(tls_->native_handle(), TLS1_2_VERSION);
    beast::error_code ec;
    tls_->use_certificate_chain_file(cert, ec);
    if (ec) {
      throw std::runtime_error("mock-upstream: cannot load TLS certificate '" + cert +
                               "': " + ec.message());
    }
    tls_->use_private_key_file(key, ssl::context::pem, ec);
    if (ec) {
      throw std::runtime_error("mock-upstream: cannot load TLS key '" + key + "': " + ec.message());
    }
  }

  void listen(const std::string& host, std::uint16_t port) {
    const std::string where = host + ":" + std::to_string(port);
    beast::error_code ec;
    tcp::endpoint endpoint;
    const auto address = asio::ip::make_address(host, ec);
    if (!ec) {
      endpoint = tcp::endpoint(address, port);
    } else {
      tcp::resolver resolver(workers_[0]->ioc);
      const auto results = resolver.resolve(host, std::to_string(port), ec);
      if (ec || results.empty()) {
        throw std::runtime_error("mock-upstream: cannot resolve host '" + host +
                                 "': " + (ec ? ec.message() : "no address"));
      }
      endpoint = results.begin()->endpoint();
    }
    acceptor_.emplace(workers_[0]->ioc);
    const auto fail = [&](const char* step) {
      throw std::runtime_error("mock-upstream: cannot listen on " + where + " (" + step +
                               "): " + ec.message());
    };
    acceptor_->open(endpoint.protocol(), ec);
    if (ec) fail("open");
    acceptor_->set_option(asio::socket_base::reuse_address(true), ec);
    if (ec) fail("setsockopt");
    acceptor_->bind(endpoint, ec);
    if (ec) fail("bind");
    acceptor_->listen(asio::socket_base::max_listen_connections, ec);
    if (ec) fail("listen");
    port_ = acceptor_->local_endpoint(ec).port();
    if (ec) fail("getsockname");
  }

  // Runs on worker 0; hands connections round-robin to the workers.
  asio::awaitable<void> accept_loop() {
    std::size_t next = 0;
    asio::steady_timer backoff(workers_[0]->ioc);
    for (;;) {
      Worker& worker = *workers_[next];
      next = (next + 1) % workers_.size();
      auto [ec, socket] = co_await acceptor_->async_accept(worker.ioc, kUse);
      if (ec) {
        if (ec == asio::error::operation_aborted || !acceptor_->is_open()) co_return;
        // Out of descriptors and the like: wait instead of spinning.
        backoff.expires_after(milliseconds(20));
        co_await backoff.async_wait(kUse);
        continue;
      }
      beast::error_code opt_ec;
      socket.set_option(tcp::no_delay(true), opt_ec);
      asio::co_spawn(worker.ioc,
                     start_session(&shared_, &worker, tls_ ? &*tls_ : nullptr, std::move(socket)),
                     asio::detached);
    }
  }

  // Closes every connection of `worker`, then lets its run() return. A connection that does not
  // finish within kStopGrace (a bug) is abandoned by stopping the io_context.
  static asio::awaitable<void> drain(Worker* worker) {
    worker->stopping = true;
    for (SessionBase* s = worker->sessions; s != nullptr; s = s->next) s->abort();
    asio::steady_timer timer(worker->ioc);
    const auto give_up = Clock::now() + kStopGrace;
    while (worker->sessions != nullptr) {
      if (Clock::now() >= give_up) {
        worker->ioc.stop();
        co_return;
      }
      timer.expires_after(milliseconds(5));
      co_await timer.async_wait(kUse);
    }
  }

  // Declaration order is destruction order reversed: sessions (destroyed with the io_contexts)
  // use shared_ and tls_; the acceptor must go before its io_context.
  Shared shared_;
  std::optional<ssl::context> tls_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::optional<tcp::acceptor> acceptor_;
  std::uint16_t port_ = 0;
  bool start_called_ = false;
  bool started_ = false;  // threads running
  bool stopped_ = false;
};

MockUpstream::MockUpstream(MockOptions options)
    : impl_(std::make_unique<Impl>(std::move(options))) {}

MockUpstream::~MockUpstream() = default;

void MockUpstream::start() { impl_->start(); }

std::uint16_t MockUpstream::port() const { return impl_->port(); }

void MockUpstream::stop() { impl_->stop(); }

int run_mock_upstream(const MockOptions& options) {
  // Writes to a vanished peer must fail with EPIPE, not kill the process.
  std::signal(SIGPIPE, SIG_IGN);
  asio::io_context signals_context(1);
  asio::signal_set signals(signals_context, SIGINT, SIGTERM);
  MockUpstream server(options);
  try {
    server.start();
  } catch (const std::exception& e) {
    std::cerr << e.what() << std::endl;
    return 1;
  }
  const bool tls = !options.tls_cert_file.empty();
  std::cout << "mock-upstream listening on " << (tls ? "https" : "http") << "://"
            << url_host(options.host) << ":" << server.port() << std::endl;
  signals.async_wait([](const beast::error_code&, int) {});
  signals_context.run();
  server.stop();
  return 0;
}

}  // namespace shepherd::mock
