#include "translate/json_util.hpp"

#include <charconv>
#include <cmath>
#include <limits>

#include "base/text.hpp"

namespace shepherd::translate::detail {

using base::ErrorCode;

base::Error bad_request(std::string message, std::string param) {
  auto e = base::make_error(ErrorCode::kBadRequest, std::move(message));
  e.param = std::move(param);
  return e;
}

std::string_view utf8_prefix(std::string_view text, std::size_t max) {
  if (text.size() <= max) return text;
  while (max > 0 && (static_cast<unsigned char>(text[max]) & 0xC0) == 0x80) --max;
  return text.substr(0, max);
}

std::string excerpt(std::string_view text, std::size_t max) {
  std::string s(utf8_prefix(text, max));
  for (auto& c : s) {
    if (static_cast<unsigned char>(c) < 0x20) c = ' ';
  }
  return s;
}

base::Error unreadable(std::string_view why, std::string_view text) {
  auto e = base::make_error(ErrorCode::kUpstreamUnreachable,
                            cat("the upstream answer could not be read: ", why),
                            text.empty() ? std::string() : cat("excerpt: ", excerpt(text)));
  e.retryable = true;
  return e;
}

const json::value* member(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(json::string_view(key.data(), key.size()));
  return v && !v->is_null() ? v : nullptr;
}

const json::string* string_member(const json::object& o, std::string_view key) {
  const auto* v = member(o, key);
  return v ? v->if_string() : nullptr;
}

const json::object* object_member(const json::object& o, std::string_view key) {
  const auto* v = member(o, key);
  return v ? v->if_object() : nullptr;
}

const json::array* array_member(const json::object& o, std::string_view key) {
  const auto* v = member(o, key);
  return v ? v->if_array() : nullptr;
}

std::string_view string_or_empty(const json::object& o, std::string_view key) {
  const auto* s = string_member(o, key);
  return s ? sv(*s) : std::string_view();
}

std::optional<std::int64_t> integer(const json::value& v) {
  if (v.is_int64()) return v.get_int64();
  if (v.is_uint64()) {
    return static_cast<std::int64_t>(
        std::min<std::uint64_t>(v.get_uint64(), std::numeric_limits<std::int64_t>::max()));
  }
  if (v.is_double()) {
    const double d = v.get_double();
    // Some clients write 1024.0; a whole number in range means the same.
    if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9e18) {
      return static_cast<std::int64_t>(d);
    }
  }
  return std::nullopt;
}

std::optional<double> number(const json::value& v) {
  if (v.is_int64()) return static_cast<double>(v.get_int64());
  if (v.is_uint64()) return static_cast<double>(v.get_uint64());
  if (v.is_double() && std::isfinite(v.get_double())) return v.get_double();
  return std::nullopt;
}

std::int64_t count(const json::object& o, std::string_view key) {
  const auto* v = member(o, key);
  const auto n = v ? integer(*v) : std::nullopt;
  return n && *n > 0 ? *n : 0;
}

const json::object* parse_object(std::string_view text, std::size_t max_depth, json::value& storage,
                                 std::string& why) {
  json::parse_options opt;
  opt.max_depth = max_depth;
  boost::system::error_code ec;
  // Parsed with `storage`'s own memory resource: a caller may hand in a value backed by a stack
  // buffer, and the document then never touches the heap.
  storage = json::parse(json::string_view(text.data(), text.size()), ec, storage.storage(), opt);
  if (ec) {
    why = ec == json::error::too_deep
              ? "it nests deeper than " + std::to_string(max_depth) + " levels"
              : "it is not valid JSON (" + ec.message() + ")";
    return nullptr;
  }
  if (!storage.is_object()) {
    why = "it is not a JSON object";
    return nullptr;
  }
  return &storage.get_object();
}

void append_escaped(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::size_t run = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out.append(s.data() + run, i - run);
    run = i + 1;
    if (const auto e = base::json_short_escape(c); !e.empty()) {
      out += e;
    } else {
      out += "\\u00";
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xF]);
    }
  }
  out.append(s.data() + run, s.size() - run);
}

void append_quoted(std::string& out, std::string_view s) {
  out.push_back('"');
  append_escaped(out, s);
  out.push_back('"');
}

void append_int(std::string& out, std::int64_t v) {
  char buf[24];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, end);
}

void append_double(std::string& out, double v) {
  if (!std::isfinite(v)) {  // decoders reject these; JSON has no spelling for them
    out += "null";
    return;
  }
  char buf[32];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, end);
}

void append_value(std::string& out, const json::value& v) { out += json::serialize(v); }

std::string with_prefix(std::string_view id, std::string_view prefix) {
  if (id.starts_with(prefix)) return std::string(id);
  std::string out;
  out.reserve(prefix.size() + id.size());
  out.append(prefix).append(id);
  return out;
}

}  // namespace shepherd::translate::detail
