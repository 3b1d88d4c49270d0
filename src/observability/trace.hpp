// Tracing: W3C trace context (the `traceparent` header) read from clients and passed on to
// upstreams, and spans in OpenTelemetry's OTLP/HTTP JSON encoding with the GenAI semantic
// conventions' attributes (gen_ai.request.model, gen_ai.usage.input_tokens, ...). Pure: the
// exporter that sends them lives in server/tracing.hpp.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace shepherd::observability {

using TraceId = std::array<std::uint8_t, 16>;
using SpanId = std::array<std::uint8_t, 8>;

// A traceparent: version 00, a trace id and the caller's span id (neither all zeros), and the
// flags (bit 0: sampled).
struct TraceParent {
  TraceId trace_id{};
  SpanId span_id{};
  std::uint8_t flags = 0;
  bool sampled() const { return (flags & 1) != 0; }
};

// W3C Trace Context, level 1: "00-<32 hex>-<16 hex>-<2 hex>" (lowercase). A higher version is
// read as far as version 00's fields go, as the spec asks; anything malformed is nullopt (the
// request then starts a trace of its own).
std::optional<TraceParent> parse_traceparent(std::string_view header);
// The header value for `span` in `trace`.
std::string format_traceparent(const TraceId& trace, const SpanId& span, std::uint8_t flags);

std::string hex(const TraceId& id);
std::string hex(const SpanId& id);

// One span, as OTLP describes it.
struct Span {
  enum class Kind { kServer = 2, kClient = 3 };
  TraceId trace_id{};
  SpanId span_id{};
  std::optional<SpanId> parent;
  std::string name;
  Kind kind = Kind::kServer;
  std::int64_t start_unix_ns = 0;
  std::int64_t end_unix_ns = 0;
  bool error = false;  // status ERROR; else UNSET
  std::string error_message;
  using Value = std::variant<std::string, std::int64_t, double, bool>;
  std::vector<std::pair<std::string, Value>> attributes;
};

// An OTLP/HTTP JSON ExportTraceServiceRequest of `spans`, from service `service_name`.
std::string otlp_json(const std::vector<Span>& spans, std::string_view service_name);

// Where finished spans go (server/tracing.hpp's exporter). submit() is called on event loops and
// must not block.
class SpanSink {
 public:
  virtual ~SpanSink() = default;
  virtual void submit(std::vector<Span> spans) = 0;
  // Its own metrics, in Prometheus text.
  virtual std::string prometheus_text() const = 0;
};

}  // namespace shepherd::observability
