// The mock's HTTP shell, shared by its files: the state all threads share (Shared), the worker
// threads (Worker) and one connection (Connection), whose parts live in
//   http_shell.cpp   reading, writing, deadlines, peer-gone detection, the connection loop, and
//                    the plain and TLS sessions (Session<Stream>, the only stream-typed code);
//   routes.cpp       routing by path (each dialect's match(), then the /mock/ routes), the model
//                    routes, /mock/stats, /mock/last-request, /mock/reset;
//   chat_answer.cpp  an API request's course (chat, embeddings, token counts): validation order,
//                    fault selection and timing, and stream pacing, with the paths and the JSON
//                    left to the request's Dialect.
// A connection lives on one worker thread and is owned by its coroutine (and, briefly, by its
// watchdog handler); Shared outlives all connections.
//
// Speed matters here (benchmarks put the mock behind nginx and behind the gateway), so:
//   - the request is parsed by a basic_parser subclass straight into per-connection buffers that
//     keep their capacity (no per-field allocation as with beast::http::fields);
//   - the JSON body is parsed into a monotonic_resource over a per-connection buffer;
//   - answers are rendered by hand into reused strings and written with one gathered write;
//   - deadlines are a per-connection watchdog that wakes at most once a second and reads a plain
//     time_point, instead of arming a timer around every read and write as beast::tcp_stream does
//     (that costs timer-queue work and often a timerfd syscall per operation);
//   - the plain answer is prepared synchronously and written by the connection loop itself: no
//     coroutine frame and no virtual call of its own, only calls into the dialects' tables (match,
//     interpret, render). Waits, faults and streams go through the virtual Connection::write().
#pragma once

#include <array>
#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/http/verb.hpp>
#include <boost/json/monotonic_resource.hpp>
#include <boost/json/parser.hpp>
#include <boost/json/value.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "mock/anthropic_dialect.hpp"
#include "mock/dialect.hpp"
#include "mock/faults.hpp"
#include "mock/gemini_dialect.hpp"
#include "mock/mock_upstream.hpp"
#include "mock/openai_dialect.hpp"

namespace shepherd::mock::detail {

namespace asio = boost::asio;
namespace json = boost::json;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr std::int64_t kMaxChunks = 100000;

// The dialects, tried in order on every request's path; the first whose match() claims it
// answers. A new dialect is its file plus an entry here. Anthropic comes before OpenAI because it
// claims GET /v1/models when the request carries anthropic-version, and Gemini because it claims
// its methods under /v1/models/.
inline constexpr std::array<const Dialect*, 4> kDialects = {
    &kAnthropicDialect, &kGeminiDialect, &kOpenAiCompletionsDialect, &kOpenAiDialect};
// The dialect of everything no dialect claims: unknown paths, malformed HTTP, size limits.
inline constexpr const Dialect* kDefaultDialect = &kOpenAiDialect;

struct Counters {
  std::atomic<std::uint64_t> requests{0};
  std::atomic<std::uint64_t> chat_requests{0};
  std::atomic<std::uint64_t> models_requests{0};
  std::atomic<std::uint64_t> embeddings_requests{0};
  std::atomic<std::uint64_t> count_tokens_requests{0};
  std::atomic<std::uint64_t> streams_started{0};
  std::atomic<std::uint64_t> streams_completed{0};
  std::atomic<std::uint64_t> client_disconnects{0};
  std::atomic<std::int64_t> open_connections{0};
  std::atomic<std::uint64_t> connections_accepted{0};
  std::atomic<std::uint64_t> next_id{0};
};

using Header = std::pair<std::string, std::string>;

// One parsed request. Kept per connection and cleared, not freed, between requests so that its
// strings keep their capacity.
struct RequestHead {
  boost::beast::http::verb verb = boost::beast::http::verb::unknown;
  std::string method;
  std::string target;
  int version = 11;
  bool expect_continue = false;
  std::vector<Header> headers;  // [0, header_count) are this request's; names lowercased
  std::size_t header_count = 0;
  std::string body;

  void clear() {
    verb = boost::beast::http::verb::unknown;
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

struct Shared {
  MockOptions options;
  FaultSpec default_fault;
  FaultSelector fault_selector;
  std::array<std::string, kDialects.size()> model_lists;  // rendered at start, by dialect
  std::vector<std::string> content_tokens;  // MockOptions::content's words, JSON-escaped
  Counters counters;
  LastRequest last;
  std::atomic<bool> stopping{false};
};

class Connection;

// One event-loop thread. Its connection list and `stopping` are touched only on its thread.
struct Worker {
  Connection* sessions = nullptr;  // intrusive list
  bool stopping = false;
  asio::io_context ioc{1};
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> guard;
  std::thread thread;
};

enum class Framing { kLength, kChunked, kUntilClose };

// Status line and headers, up to and including the empty line.
void append_head(std::string& out, int status, std::string_view content_type, Framing framing,
                 std::size_t content_length, int version, bool keep_alive,
                 std::string_view extra_headers = {}, std::string_view more_headers = {});

// Bytes of an event stream, framed as one HTTP chunk when chunked.
void append_framed(std::string& out, std::string_view bytes, bool chunked);

// One connection, whatever its stream; Session<Stream> (http_shell.cpp) adds the stream.
class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(Shared& shared, Worker& worker);
  virtual ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Closes the connection now; pending operations complete with operation_aborted. Called on the
  // connection's thread.
  void close_now();

  Connection* prev = nullptr;  // the worker's list
  Connection* next = nullptr;

 protected:
  // kReply: a reply is prepared. kChat: answer_chat() must run (delays, faults, streams, and the
  // answers of embeddings and token counts that a fault delays or replaces).
  enum class Next { kReply, kChat };

  // Writes all of `buffers` (the second may be empty). False when the connection is closed or the
  // write fails (a chat request's disconnect is then counted).
  virtual asio::awaitable<bool> write(std::array<asio::const_buffer, 2> buffers) = 0;

  // --- http_shell.cpp: the connection ---------------------------------------------------------

  void attach(tcp::socket& socket) { socket_ = &socket; }
  void register_connection();
  void reset_now();  // RST instead of FIN: the peer sees "connection reset by peer"
  void set_deadline(Clock::duration d) { deadline_ = Clock::now() + d; }
  void clear_deadline() { deadline_ = Clock::time_point::max(); }
  void arm_watchdog();
  void note_disconnect();
  // Waits `d`, or less when the peer goes away. Returns whether the answer may go on.
  asio::awaitable<bool> pause(milliseconds d);
  // Waits until the peer goes away (or stop()).
  asio::awaitable<void> stall();
  void release_request_memory();

  // The prepared reply is out_ (status line and headers) followed by reply_body_. Rendering is
  // synchronous so that the common requests need no coroutine besides the connection loop.
  void reply(int status, std::string_view content_type, std::string_view body,
             std::string_view extra_headers = {});
  // An error reply in the request's dialect.
  void reply_error(int status, std::string_view message, std::string_view code = {},
                   std::string_view extra_headers = {});
  std::array<asio::const_buffer, 2> reply_buffers() const {
    return {asio::buffer(out_), asio::buffer(reply_body_)};
  }
  asio::awaitable<bool> write_out() { return write({asio::buffer(out_), asio::const_buffer()}); }
  // Returns whether the connection goes on.
  asio::awaitable<bool> send_reply();

  // --- routes.cpp -----------------------------------------------------------------------------

  Next route();

  // --- chat_answer.cpp ------------------------------------------------------------------------

  // Everything that waits or misbehaves, for any API request. Returns whether the connection goes
  // on.
  asio::awaitable<bool> answer_chat();

  Shared& shared_;
  Worker& worker_;
  tcp::socket* socket_ = nullptr;  // the stream's lowest layer
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

  RequestHead req_;
  const Dialect* dialect_ = kDefaultDialect;  // the current request's

  std::string out_;              // status line and headers, or a framed event
  std::string_view reply_body_;  // what follows out_ in a reply
  std::string body_;             // a reply body rendered here
  std::string event_;            // one event's text, before framing
  std::string scratch_;          // the dialect's per-stream text
  std::string headers_;          // a reply's extra header lines (the dialect's rate-limit ones)

 private:
  enum class PeerState { kQuiet, kData, kGone };

  PeerState probe_peer();
  asio::awaitable<void> watch_peer();
  asio::awaitable<void> sleep(milliseconds d);
  bool still_wanted();

  Next method_not_allowed(std::string_view path);
  Next route_endpoint(std::string_view path, const Endpoint& endpoint);
  void model_list();
  void model(std::string_view id);
  void stats();
  void last_request();
  void reset_counters();
  void record_last_request();

  std::optional<std::int64_t> header_count(std::string_view name, std::int64_t fallback,
                                           std::int64_t max) const;
  Next bad_header(std::string_view name, std::int64_t max);
  Next prepare_request(const Endpoint& endpoint);
  void append_ratelimit_headers(std::string& out) const;
  void render_completion();
  asio::awaitable<bool> stream_answer();

  // The current API request: its JSON body (in json_buffer_, spilling to the heap only for large
  // bodies), the answer planned, its timing and the faults that apply.
  std::array<unsigned char, 8 * 1024> json_buffer_{};
  json::monotonic_resource json_resource_{json_buffer_.data(), json_buffer_.size()};
  std::array<unsigned char, 1024> json_parser_buffer_{};
  json::parser json_parser_{json::storage_ptr(), json::parse_options(), json_parser_buffer_.data(),
                            json_parser_buffer_.size()};
  std::optional<json::value> json_;
  ChatAnswer answer_;
  bool answer_ready_ = false;  // body_ holds the whole answer (embeddings, token counts)
  milliseconds first_delay_{0};
  milliseconds chunk_delay_{0};
  FaultSpec header_fault_;
  const FaultSpec* fault_ = &kNoFault;
};

// Creates a connection for `socket` on `worker`'s thread (the coroutine runs there) and serves it;
// TLS when `tls` is set.
asio::awaitable<void> start_session(Shared* shared, Worker* worker, asio::ssl::context* tls,
                                    tcp::socket socket);

}  // namespace shepherd::mock::detail
