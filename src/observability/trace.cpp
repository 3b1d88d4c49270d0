#include "observability/trace.hpp"

#include <boost/json.hpp>

#include "api/json_text.hpp"

namespace shepherd::observability {

namespace json = boost::json;

namespace {

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;  // uppercase is not allowed
}

// Reads 2 * N lowercase hex digits into `out`.
template <std::size_t N>
bool read_hex(std::string_view text, std::array<std::uint8_t, N>& out) {
  if (text.size() != 2 * N) return false;
  for (std::size_t i = 0; i < N; ++i) {
    const int hi = hex_digit(text[2 * i]), lo = hex_digit(text[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    out[i] = static_cast<std::uint8_t>(hi * 16 + lo);
  }
  return true;
}

template <std::size_t N>
bool all_zero(const std::array<std::uint8_t, N>& a) {
  for (auto b : a) {
    if (b) return false;
  }
  return true;
}

template <std::size_t N>
std::string to_hex(const std::array<std::uint8_t, N>& a) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(2 * N, '0');
  for (std::size_t i = 0; i < N; ++i) {
    out[2 * i] = kDigits[a[i] >> 4];
    out[2 * i + 1] = kDigits[a[i] & 0xf];
  }
  return out;
}

json::object attribute(const std::string& key, const Span::Value& v) {
  json::object value;
  if (const auto* s = std::get_if<std::string>(&v)) {
    value["stringValue"] = *s;
  } else if (const auto* i = std::get_if<std::int64_t>(&v)) {
    value["intValue"] = std::to_string(*i);  // OTLP JSON writes 64-bit integers as strings
  } else if (const auto* d = std::get_if<double>(&v)) {
    value["doubleValue"] = *d;
  } else {
    value["boolValue"] = std::get<bool>(v);
  }
  return json::object{{"key", key}, {"value", std::move(value)}};
}

}  // namespace

std::optional<TraceParent> parse_traceparent(std::string_view h) {
  // version "-" trace-id "-" parent-id "-" trace-flags
  if (h.size() < 55 || h[2] != '-' || h[35] != '-' || h[52] != '-') return std::nullopt;
  std::array<std::uint8_t, 1> version{};
  if (!read_hex(h.substr(0, 2), version) || version[0] == 0xff) return std::nullopt;
  // Version 00 is exactly 55 characters; a later version may add fields after a '-'.
  if (version[0] == 0 ? h.size() != 55 : (h.size() > 55 && h[55] != '-')) return std::nullopt;
  TraceParent t;
  std::array<std::uint8_t, 1> flags{};
  if (!read_hex(h.substr(3, 32), t.trace_id) || !read_hex(h.substr(36, 16), t.span_id) ||
      !read_hex(h.substr(53, 2), flags)) {
    return std::nullopt;
  }
  if (all_zero(t.trace_id) || all_zero(t.span_id)) return std::nullopt;
  t.flags = flags[0];
  return t;
}

std::string format_traceparent(const TraceId& trace, const SpanId& span, std::uint8_t flags) {
  std::string out = "00-";
  out.append(to_hex(trace)).append("-").append(to_hex(span)).append("-");
  out.append(to_hex(std::array<std::uint8_t, 1>{flags}));
  return out;
}

std::string hex(const TraceId& id) { return to_hex(id); }
std::string hex(const SpanId& id) { return to_hex(id); }

std::string otlp_json(const std::vector<Span>& spans, std::string_view service_name) {
  json::array out;
  for (const auto& s : spans) {
    json::array attributes;
    for (const auto& [k, v] : s.attributes) attributes.push_back(attribute(k, v));
    json::object span{
        {"traceId", to_hex(s.trace_id)},
        {"spanId", to_hex(s.span_id)},
        {"name", s.name},
        {"kind", static_cast<int>(s.kind)},
        {"startTimeUnixNano", std::to_string(s.start_unix_ns)},
        {"endTimeUnixNano", std::to_string(s.end_unix_ns)},
        {"attributes", std::move(attributes)},
    };
    if (s.parent) span["parentSpanId"] = to_hex(*s.parent);
    if (s.error) {
      span["status"] = json::object{{"code", 2}, {"message", s.error_message}};
    }
    out.push_back(std::move(span));
  }
  json::object resource{
      {"attributes",
       json::array{attribute("service.name", Span::Value(std::string(service_name)))}}};
  json::object scope_spans{{"scope", json::object{{"name", "shepherd"}}},
                           {"spans", std::move(out)}};
  json::object resource_spans{{"resource", std::move(resource)},
                              {"scopeSpans", json::array{std::move(scope_spans)}}};
  return api::json_text(json::object{{"resourceSpans", json::array{std::move(resource_spans)}}});
}

}  // namespace shepherd::observability
