// Text helpers shared by the mock's parts: decimal counts in, integers and JSON string literals
// out, words counted. Pure functions; they allocate only by growing the string they append to,
// which callers reuse, so the answer paths stay allocation-free on a warm connection.
#pragma once

#include <charconv>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

namespace shepherd::mock::detail {

inline bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

inline std::string_view trim(std::string_view s) {
  constexpr std::string_view kSpace = " \t\r\n\f\v";
  const auto first = s.find_first_not_of(kSpace);
  if (first == std::string_view::npos) return {};
  const auto last = s.find_last_not_of(kSpace);
  return s.substr(first, last - first + 1);
}

// A decimal integer in [0, max], nothing else.
inline std::optional<std::int64_t> parse_count(std::string_view s, std::int64_t max) {
  s = trim(s);
  std::int64_t v = 0;
  const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || ptr != s.data() + s.size() || v < 0 || v > max) {
    return std::nullopt;
  }
  return v;
}

inline std::int64_t count_words(std::string_view s) {
  std::int64_t words = 0;
  bool in_word = false;
  for (const char c : s) {
    const bool space = is_space(c);
    if (!space && !in_word) ++words;
    in_word = !space;
  }
  return words;
}

inline void append_int(std::string& out, std::int64_t v) {
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

inline void append_hex(std::string& out, std::size_t v) {
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof buf, v, 16);
  out.append(buf, r.ptr);
}

// The JSON string escape of `c` into `buf` (at most 6 bytes); returns its length. Bytes >= 0x80
// pass through (the input is whatever the client sent; the mock does not validate UTF-8).
inline std::size_t json_escape_char(char c, char* buf) {
  constexpr char kHex[] = "0123456789abcdef";
  const auto u = static_cast<unsigned char>(c);
  switch (c) {
    case '"':
      buf[0] = '\\';
      buf[1] = '"';
      return 2;
    case '\\':
      buf[0] = '\\';
      buf[1] = '\\';
      return 2;
    case '\n':
      buf[0] = '\\';
      buf[1] = 'n';
      return 2;
    case '\r':
      buf[0] = '\\';
      buf[1] = 'r';
      return 2;
    case '\t':
      buf[0] = '\\';
      buf[1] = 't';
      return 2;
    default:
      if (u < 0x20) {
        buf[0] = '\\';
        buf[1] = 'u';
        buf[2] = '0';
        buf[3] = '0';
        buf[4] = kHex[u >> 4];
        buf[5] = kHex[u & 0xf];
        return 6;
      }
      buf[0] = c;
      return 1;
  }
}

// The content of a JSON string literal for `s`, without the quotes.
inline void append_json_escaped(std::string& out, std::string_view s) {
  char buf[6];
  for (const char c : s) out.append(buf, json_escape_char(c, buf));
}

// `s` escaped twice: JSON text that itself sits inside a JSON string (a tool call's arguments).
inline void append_json_escaped_twice(std::string& out, std::string_view s) {
  char once[6];
  char twice[6];
  for (const char c : s) {
    const std::size_t n = json_escape_char(c, once);
    for (std::size_t i = 0; i < n; ++i) out.append(twice, json_escape_char(once[i], twice));
  }
}

// A JSON string literal, quotes included.
inline void append_json_string(std::string& out, std::string_view s) {
  out.push_back('"');
  append_json_escaped(out, s);
  out.push_back('"');
}

}  // namespace shepherd::mock::detail
