#include "storage/record_json.hpp"

#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>

namespace shepherd::storage {
namespace {

namespace json = boost::json;

// The length of the well-formed UTF-8 sequence (RFC 3629, table 3-7 of the Unicode standard)
// that starts at s[i], or 0 when none does: no overlong forms, no surrogates, nothing past
// U+10FFFF.
std::size_t sequence_length(std::string_view s, std::size_t i) {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char b0 = byte(i);
  if (b0 < 0x80) return 1;
  std::size_t n = 0;
  unsigned char lo = 0x80, hi = 0xBF;  // the range of the second byte
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    n = 2;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    n = 3;
    if (b0 == 0xE0) lo = 0xA0;
    if (b0 == 0xED) hi = 0x9F;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    n = 4;
    if (b0 == 0xF0) lo = 0x90;
    if (b0 == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  if (byte(i + 1) < lo || byte(i + 1) > hi) return 0;
  for (std::size_t k = 2; k < n; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
  }
  return n;
}

// `s` as a JSON string; the common case (already valid) copies once.
json::string utf8_string(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const std::size_t n = sequence_length(s, i);
    if (n == 0) break;
    i += n;
  }
  if (i == s.size()) return json::string(s);
  std::string out(s.substr(0, i));
  out.reserve(s.size() + 8);
  while (i < s.size()) {
    const std::size_t n = sequence_length(s, i);
    if (n == 0) {
      out += "\xEF\xBF\xBD";  // U+FFFD REPLACEMENT CHARACTER, one per bad byte
      ++i;
    } else {
      out.append(s, i, n);
      i += n;
    }
  }
  return json::string(out);
}

double finite_or_zero(double d) { return std::isfinite(d) ? d : 0.0; }

base::Error invalid(std::string_view member, std::string_view why) {
  std::string message = "audit record: ";
  message += member;
  message += ' ';
  message += why;
  return base::make_error(base::ErrorCode::kBadRequest, std::move(message));
}

// Reads the members of one object into a record; the first problem wins and is kept in error_.
class Reader {
 public:
  explicit Reader(const json::object& o) : o_(o) {}

  const std::optional<base::Error>& error() const { return error_; }

  void string(std::string_view key, std::string& out) {
    const json::value* v = find(key);
    if (!v) return;
    if (const auto* s = v->if_string()) {
      out.assign(s->data(), s->size());
    } else {
      fail(key, "is not a string");
    }
  }

  void optional_string(std::string_view key, std::optional<std::string>& out) {
    const json::value* v = find(key);
    if (!v) return;
    if (const auto* s = v->if_string()) {
      out.emplace(s->data(), s->size());
    } else {
      fail(key, "is not a string");
    }
  }

  template <typename Int>
  void integer(std::string_view key, Int& out) {
    const json::value* v = find(key);
    if (!v) return;
    if (auto i = as_integer<Int>(key, *v)) out = *i;
  }

  void optional_integer(std::string_view key, std::optional<std::int64_t>& out) {
    const json::value* v = find(key);
    if (!v) return;
    if (auto i = as_integer<std::int64_t>(key, *v)) out = *i;
  }

  void number(std::string_view key, double& out) {
    const json::value* v = find(key);
    if (!v) return;
    if (v->is_double()) {
      out = v->get_double();
    } else if (v->is_int64()) {
      out = static_cast<double>(v->get_int64());
    } else if (v->is_uint64()) {
      out = static_cast<double>(v->get_uint64());
    } else {
      fail(key, "is not a number");
    }
  }

  void boolean(std::string_view key, bool& out) {
    const json::value* v = find(key);
    if (!v) return;
    if (v->is_bool()) {
      out = v->get_bool();
    } else {
      fail(key, "is not a boolean");
    }
  }

 private:
  // The member `key`; nullptr when absent, null, or after an earlier error.
  const json::value* find(std::string_view key) const {
    if (error_) return nullptr;
    const json::value* v = o_.if_contains(json::string_view(key.data(), key.size()));
    return v && !v->is_null() ? v : nullptr;
  }

  template <typename Int>
  std::optional<Int> as_integer(std::string_view key, const json::value& v) {
    std::optional<std::int64_t> i;
    if (v.is_int64()) {
      i = v.get_int64();
    } else if (v.is_uint64()) {
      // Parsers give uint64 only to values above INT64_MAX: out of range for every field.
    } else if (v.is_double()) {
      const double d = v.get_double();
      if (!std::isfinite(d) || d != std::floor(d)) {
        fail(key, "is not an integer");
        return std::nullopt;
      }
      if (std::fabs(d) < 9.2e18) i = static_cast<std::int64_t>(d);
    } else {
      fail(key, "is not an integer");
      return std::nullopt;
    }
    if (!i || *i < std::numeric_limits<Int>::min() || *i > std::numeric_limits<Int>::max()) {
      fail(key, "is out of range");
      return std::nullopt;
    }
    return static_cast<Int>(*i);
  }

  void fail(std::string_view key, std::string_view why) {
    if (!error_) error_ = invalid(key, why);
  }

  const json::object& o_;
  std::optional<base::Error> error_;
};

}  // namespace

json::object to_json(const AuditRecord& r) {
  json::object o;
  o.reserve(26);
  o.emplace("request_id", utf8_string(r.request_id));
  o.emplace("time", r.time);
  o.emplace("key_id", utf8_string(r.key_id));
  o.emplace("model", utf8_string(r.model));
  o.emplace("deployment", utf8_string(r.deployment));
  o.emplace("provider", utf8_string(r.provider));
  o.emplace("attempts", r.attempts);
  o.emplace("status", r.status);
  o.emplace("error_class", utf8_string(r.error_class));
  o.emplace("prompt_tokens", r.prompt_tokens);
  o.emplace("completion_tokens", r.completion_tokens);
  o.emplace("cached_tokens", r.cached_tokens);
  o.emplace("reasoning_tokens", r.reasoning_tokens);
  o.emplace("cost_usd", finite_or_zero(r.cost_usd));
  o.emplace("list_cost_usd", finite_or_zero(r.list_cost_usd));
  o.emplace("usage_estimated", r.usage_estimated);
  o.emplace("latency_us", r.latency_us);
  if (r.ttft_us) o.emplace("ttft_us", *r.ttft_us);
  o.emplace("client_address", utf8_string(r.client_address));
  o.emplace("streamed", r.streamed);
  o.emplace("dialect", utf8_string(r.dialect));
  if (r.request_body) o.emplace("request_body", utf8_string(*r.request_body));
  if (r.response_body) o.emplace("response_body", utf8_string(*r.response_body));
  if (r.client_request_id) o.emplace("client_request_id", utf8_string(*r.client_request_id));
  return o;
}

base::Result<AuditRecord> audit_from_json(const json::value& value) {
  const json::object* o = value.if_object();
  if (!o) return base::make_error(base::ErrorCode::kBadRequest, "audit record: not a JSON object");
  AuditRecord r;
  Reader in(*o);
  in.string("request_id", r.request_id);
  in.integer("time", r.time);
  in.string("key_id", r.key_id);
  in.string("model", r.model);
  in.string("deployment", r.deployment);
  in.string("provider", r.provider);
  in.integer("attempts", r.attempts);
  in.integer("status", r.status);
  in.string("error_class", r.error_class);
  in.integer("prompt_tokens", r.prompt_tokens);
  in.integer("completion_tokens", r.completion_tokens);
  in.integer("cached_tokens", r.cached_tokens);
  in.integer("reasoning_tokens", r.reasoning_tokens);
  in.number("cost_usd", r.cost_usd);
  in.number("list_cost_usd", r.list_cost_usd);
  in.boolean("usage_estimated", r.usage_estimated);
  in.integer("latency_us", r.latency_us);
  in.optional_integer("ttft_us", r.ttft_us);
  in.string("client_address", r.client_address);
  in.boolean("streamed", r.streamed);
  in.string("dialect", r.dialect);
  in.optional_string("request_body", r.request_body);
  in.optional_string("response_body", r.response_body);
  in.optional_string("client_request_id", r.client_request_id);
  if (in.error()) return *in.error();
  if (r.request_id.empty()) return invalid("request_id", "is missing or empty");
  return r;
}

}  // namespace shepherd::storage
