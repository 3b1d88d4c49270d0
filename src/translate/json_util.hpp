// What every codec needs to read and write JSON: tolerant field access, token counts, error
// values for a client's bad request and a provider's unreadable answer, and appending JSON to a
// string directly (one pass, no document) where a codec writes by hand.
//
// For the codecs (translate/*) and the provider adapters that read the same bodies: not part of
// the translation interface.
#pragma once

#include <boost/json.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>

#include "base/result.hpp"

namespace shepherd::translate::detail {

namespace json = boost::json;

// ---------------------------------------------------------------------------------------------
// Errors

// A message or JSON path built from strings and integers; only error paths pay for it.
template <typename... Ts>
std::string cat(const Ts&... pieces) {
  std::string s;
  (
      [&] {
        if constexpr (std::is_integral_v<Ts>) {
          s += std::to_string(pieces);
        } else {
          s += pieces;
        }
      }(),
      ...);
  return s;
}

// A client's request Shepherd cannot take: 400 with `param` naming the field's JSON path.
base::Error bad_request(std::string message, std::string param);

// A provider's answer or event that cannot be read: a retryable kUpstreamUnreachable whose
// message starts "the upstream answer could not be read: " and whose detail (logs only) holds
// an excerpt of `text` when given.
base::Error unreadable(std::string_view why, std::string_view text = {});

// The longest prefix of `text` of at most `max` bytes that does not end inside a UTF-8 sequence.
std::string_view utf8_prefix(std::string_view text, std::size_t max);

// A single-line piece of a provider's text, at most `max` bytes, control characters as spaces.
std::string excerpt(std::string_view text, std::size_t max = 120);

// ---------------------------------------------------------------------------------------------
// Reading

inline std::string_view sv(const json::string& s) { return {s.data(), s.size()}; }

// The member `key` of `o`; nullptr when absent or null (providers write null for "not set").
const json::value* member(const json::object& o, std::string_view key);
// The member `key` of `o` when it is of that kind; nullptr otherwise.
const json::string* string_member(const json::object& o, std::string_view key);
const json::object* object_member(const json::object& o, std::string_view key);
const json::array* array_member(const json::object& o, std::string_view key);
std::string_view string_or_empty(const json::object& o, std::string_view key);

// An integer, also when written as a whole double (1024.0); clamped to int64.
std::optional<std::int64_t> integer(const json::value& v);
// A finite number.
std::optional<double> number(const json::value& v);
// A token count of a provider's usage object: 0 when absent, negative or not a count.
std::int64_t count(const json::object& o, std::string_view key);

// Parses `text` as a JSON object (nesting at most `max_depth`) into `storage`, with `storage`'s
// memory resource; nullptr with `why` set when it is not one.
const json::object* parse_object(std::string_view text, std::size_t max_depth, json::value& storage,
                                 std::string& why);

// ---------------------------------------------------------------------------------------------
// Writing

// `s` as the inside of a JSON string: quotes, backslashes and control characters escaped.
void append_escaped(std::string& out, std::string_view s);
// `s` as a JSON string, quotes included.
void append_quoted(std::string& out, std::string_view s);
void append_int(std::string& out, std::int64_t v);
// The shortest text that reads back as `v` (0.7, not 7E-1); null when not finite.
void append_double(std::string& out, double v);
void append_value(std::string& out, const json::value& v);

// `id` with `prefix` in front unless it already starts with it ("msg_", "chatcmpl-", "resp_").
std::string with_prefix(std::string_view id, std::string_view prefix);

// Writes the members of an object or the elements of an array: `"key":` (or nothing for an
// element) preceded by a comma unless it is the first.
class Members {
 public:
  explicit Members(std::string& out) : out_(out) {}
  std::string& key(std::string_view k) {
    next();
    append_quoted(out_, k);
    out_.push_back(':');
    return out_;
  }
  std::string& next() {
    if (!first_) out_.push_back(',');
    first_ = false;
    return out_;
  }

 private:
  std::string& out_;
  bool first_ = true;
};

}  // namespace shepherd::translate::detail
