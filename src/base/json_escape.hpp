// JSON string contents from any bytes, for lines that log shippers parse (access lines, JSON
// logs): quotes, backslashes and control characters escaped, and bytes that are not well-formed
// UTF-8 written as U+FFFD, so the result is valid JSON, on one line, whatever a client sent.
#pragma once

#include <cstddef>
#include <string_view>

namespace shepherd::base {

namespace detail {

// The length of the well-formed UTF-8 sequence at s[i] (a byte >= 0x80), or 0.
inline std::size_t utf8_sequence(std::string_view s, std::size_t i) {
  const auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  const auto cont = [&](std::size_t k, unsigned char lo = 0x80, unsigned char hi = 0xbf) {
    return k < s.size() && b(k) >= lo && b(k) <= hi;
  };
  const unsigned char lead = b(i);
  if (lead >= 0xc2 && lead <= 0xdf) return cont(i + 1) ? 2 : 0;
  if (lead >= 0xe0 && lead <= 0xef) {
    const unsigned char lo = lead == 0xe0 ? 0xa0 : 0x80, hi = lead == 0xed ? 0x9f : 0xbf;
    return cont(i + 1, lo, hi) && cont(i + 2) ? 3 : 0;
  }
  if (lead >= 0xf0 && lead <= 0xf4) {
    const unsigned char lo = lead == 0xf0 ? 0x90 : 0x80, hi = lead == 0xf4 ? 0x8f : 0xbf;
    return cont(i + 1, lo, hi) && cont(i + 2) && cont(i + 3) ? 4 : 0;
  }
  return 0;
}

}  // namespace detail

// Appends the contents of a JSON string for `s` (without quotes) to `out`, a std::string or any
// buffer with append(first, last) and push_back().
template <typename Out>
void append_json_escaped(Out& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::size_t plain = 0;  // start of the run of bytes that go as they are
  auto flush = [&](std::size_t end) { out.append(s.data() + plain, s.data() + end); };
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {
      ++i;
      continue;
    }
    if (c >= 0x80) {
      if (const auto n = detail::utf8_sequence(s, i)) {
        i += n;
        continue;
      }
    }
    flush(i);
    std::string_view escape;
    char control[6] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 0xf]};
    switch (c) {
      case '"':
        escape = "\\\"";
        break;
      case '\\':
        escape = "\\\\";
        break;
      case '\n':
        escape = "\\n";
        break;
      case '\r':
        escape = "\\r";
        break;
      case '\t':
        escape = "\\t";
        break;
      default:
        escape = c >= 0x80 ? std::string_view("\\ufffd") : std::string_view(control, 6);
    }
    out.append(escape.data(), escape.data() + escape.size());
    plain = ++i;
  }
  flush(s.size());
}

}  // namespace shepherd::base
