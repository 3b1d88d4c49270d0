// The state one request's stages share, and what they need of their event loop and of the config
// snapshot the request started with.
//
// The life of a request (docs/architecture.md): identify the caller → parse in the client's
// dialect and resolve the model → admit → plan and run attempts through a provider adapter →
// commit → deliver → record. Each stage is one function in stages.hpp or a file of its own; the
// record stage always runs, whatever happened before it.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "api/openai.hpp"
#include "auth/keys.hpp"
#include "auth/virtual_keys.hpp"
#include "base/random.hpp"
#include "config/config.hpp"
#include "ingress/dialect.hpp"
#include "limits/limiter.hpp"
#include "net/http_connection.hpp"
#include "net/listener.hpp"
#include "net/upstream.hpp"
#include "observability/access_log.hpp"
#include "observability/metrics.hpp"
#include "observability/trace.hpp"
#include "providers/provider.hpp"
#include "routing/router.hpp"
#include "storage/audit_writer.hpp"
#include "translate/canonical.hpp"

namespace shepherd::pipeline {

using net::Clock;
using net::Task;

// One applied configuration: the config, its routing state and its metric routes. Requests hold
// the snapshot they started with; a reload swaps in a new one for the requests that follow.
struct Snapshot {
  std::shared_ptr<const config::Config> config;
  std::shared_ptr<const routing::Router> router;
  observability::RouteTable routes;
  // HMAC of presented tokens under keys.secret; null when virtual keys are off.
  std::shared_ptr<const auth::KeyHasher> hasher;
  // Every secret value of the config (keys, upstream credentials), longest first: redacted from
  // audited bodies.
  std::vector<std::string> secrets;
  std::uint64_t version = 0;
};

// What one event loop needs of a Snapshot: per provider its adapter, this loop's connection pool
// and the prebuilt request heads; the keys, hashed once.
struct LoopView {
  struct Provider {
    const providers::Adapter* adapter = nullptr;
    std::shared_ptr<net::UpstreamPool> pool;
    // Request heads by operation, for answers and for streams; empty when the adapter names the
    // model in its heads (they are built per attempt).
    std::array<std::string, 3> head_json, head_sse;
  };
  std::shared_ptr<const Snapshot> snap;
  std::vector<Provider> providers;  // by provider index
  auth::KeyDigests keys;

  const config::Config& config() const { return *snap->config; }
  const routing::Router& router() const { return *snap->router; }

  // A view of `snap` for a loop running on `executor`: pools of `previous` whose providers
  // connect the same way are kept (with their warm connections); new pools report their
  // connections to `metrics`.
  static std::shared_ptr<const LoopView> make(std::shared_ptr<const Snapshot> snap,
                                              const LoopView* previous, net::Executor executor,
                                              observability::Metrics& metrics);
};

// What one event loop gives the requests it runs. Owned by the server; touched only on the
// loop's thread.
struct LoopContext {
  LoopContext(net::asio::io_context& ioc_, int index_, observability::Metrics& metrics_,
              std::uint64_t id_salt_, std::uint64_t seed)
      : ioc(ioc_),
        index(index_),
        metrics(metrics_),
        id_salt(id_salt_),
        random(seed),
        connections(ioc_) {}

  net::asio::io_context& ioc;
  int index;
  observability::Metrics& metrics;
  std::uint64_t id_salt;
  std::uint64_t request_seq = 0;
  base::Random random;
  std::uint64_t cursor = 0;  // round-robin position, shared by this loop's requests
  // The current snapshot as this loop sees it; replaced on this loop's thread.
  std::shared_ptr<const LoopView> view;
  net::ConnectionSet connections;
  // Virtual keys, replaced whole by the store thread through a post to this loop; null when
  // virtual keys are off.
  std::shared_ptr<const auth::KeyTable> keys;
  // Per-key limits and budgets; the audit log (null when off). Owned by the server's governance.
  limits::Limiter* limiter = nullptr;
  storage::AuditWriter* audit = nullptr;
  bool audit_bodies = false;                       // audit.bodies: every request's bodies
  observability::AccessLog* access_log = nullptr;  // log.access; null when off
  bool access_json = false;                        // log.format: json
  observability::SpanSink* spans = nullptr;        // tracing.otlp_endpoint; null when off
  double trace_sample_ratio = 1.0;
};

// A request's part of a trace (trace.cpp): the client's trace, or one it started.
struct RequestTrace {
  observability::TraceId trace_id{};
  observability::SpanId span_id{};              // the request's span
  std::optional<observability::SpanId> parent;  // the client's span
  std::uint8_t flags = 0;                       // passed on (bit 0: sampled)
  bool exported = false;                        // its spans go to LoopContext::spans
  std::vector<observability::Span> attempts;    // the upstream attempts' spans, as they end
};

// Who is calling.
struct Caller {
  int key_index = -1;                     // which of server.api_keys, or -1
  const auth::VirtualKey* key = nullptr;  // a virtual key (kept alive by RequestContext::keys)
};

// A request id unique across instances and sorted by time: "req_", the request's arrival time
// in Unix milliseconds (12 hex digits: the audit store finds time ranges through it,
// storage/sql_common.hpp), then 16 hex digits: the microsecond within that millisecond (10
// bits), the loop index (8), 22 random bits of the process and the loop's request sequence (24,
// wrapping). Requests of one millisecond so sort in arrival order, on one loop or several
// ("newest first" lists them as they came). `arrived_us`: Unix microseconds.
std::string new_request_id(LoopContext& loop, std::int64_t arrived_us);
// Whether a client's X-Request-Id is one Shepherd adopts: 1 to 128 characters, letters, digits
// and ._:/+=- (UUIDs, ULIDs, W3C trace ids, base64). Anything else is ignored, so that what is
// echoed and logged cannot carry a header, a line break or markup.
bool well_formed_request_id(std::string_view id);

struct Attempt;

// One request, from its first stage to its record.
struct RequestContext {
  // Both out of line, where Attempt is complete.
  RequestContext(LoopContext& loop_, net::ClientConnection& conn_,
                 std::shared_ptr<const LoopView> view_, const ingress::Dialect& dialect_);
  ~RequestContext();
  RequestContext(const RequestContext&) = delete;
  RequestContext& operator=(const RequestContext&) = delete;

  LoopContext& loop;
  net::ClientConnection& conn;
  std::shared_ptr<const LoopView> view;  // the snapshot this request uses, to its end
  const ingress::Dialect& dialect;       // the API the client speaks
  std::string request_id;                // Shepherd's own: the audit record's key
  std::string client_request_id;         // the client's X-Request-Id, when well-formed
  std::optional<RequestTrace> trace;     // a client's traceparent, or tracing on
  // The listener serves anyone (a FastChat worker's port: FastChat sends no key to workers), so
  // identify is skipped.
  bool open_route = false;
  // The owner of this context (heap-allocated) lets a committed stream go on without it:
  // relay() then leaves the stream in `stream` and returns, and the owner runs continue_stream()
  // in a task of its own. An open stream so keeps only what it needs, not the frames of the
  // stages that led to it (memory per open stream).
  bool detach_streams = false;

  // Set by the stages as they run.
  api::ChatRequest chat;
  // The request in the common form, decoded by the dialect's codec when the first attempt goes
  // to a provider of another wire format (same-wire traffic never needs it). A shell that decodes
  // the request itself (the FastChat worker's, from generate parameters) sets it and `chat`
  // before serve_chat(), which then does not parse the body.
  std::unique_ptr<translate::Request> canonical;
  std::size_t model_index = 0;
  std::string body;
  routing::RequestShape shape;  // admission's estimate
  Caller caller;
  std::shared_ptr<const auth::KeyTable> keys;  // the table caller.key belongs to
  limits::Ticket ticket;                       // admission's, settled by the record stage
  bool holds_ticket = false;
  // For the record stage.
  storage::Millis arrived_ms = 0;  // wall clock, for the audit record
  Clock::time_point started{};
  std::optional<Clock::time_point> first_byte_sent;  // the commit point
  const char* error_class = "";  // base::code_name of the failure the client saw; "" on success
  bool capture_bodies = false;   // this request's bodies go into its audit record
  std::string response_body;     // captured when capture_bodies
  std::size_t route = observability::Metrics::kNoRoute;
  const config::DeploymentConfig* served = nullptr;  // the deployment of the committed attempt
  const config::DeploymentConfig* tried = nullptr;   // the deployment of the last attempt
  observability::Metrics::Outcome outcome;
  // A client disconnect cancels the attempts linked here (relay.cpp).
  net::CancelState cancel;
  // A committed stream left by relay() for continue_stream() (detach_streams).
  std::unique_ptr<Attempt> stream;

  const config::Config& config() const { return view->config(); }
  Clock::duration write_timeout() const { return config().server.request_timeout; }
};

// Answers `error` in `dialect`'s shape (with Retry-After and WWW-Authenticate where they
// apply); 5xx are logged with their internal detail.
Task<void> respond_error(net::ClientConnection& conn, const ingress::Dialect& dialect,
                         const base::Error& error, std::string_view request_id,
                         Clock::duration timeout);
// 405 naming the methods `allow`ed for `target`.
Task<void> respond_wrong_method(net::ClientConnection& conn, const ingress::Dialect& dialect,
                                std::string_view target, std::string_view allow,
                                Clock::duration timeout);

}  // namespace shepherd::pipeline
