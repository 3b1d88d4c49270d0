// UTF-8 and JSON string text, for the modules that check or write them by hand. Pure.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace shepherd::base {

inline constexpr std::uint32_t kInvalidCodePoint = 0xFFFFFFFF;

// The code point of the UTF-8 sequence at s[i] (i < s.size()) and its length in bytes;
// {kInvalidCodePoint, 1} for a byte that does not start a well-formed sequence (RFC 3629: no
// overlong forms, no surrogates, nothing above U+10FFFF).
std::pair<std::uint32_t, std::size_t> decode_utf8(std::string_view s, std::size_t i);

// `text` with each byte that does not start a well-formed UTF-8 sequence replaced by U+FFFD, for
// answers and messages that must be valid UTF-8 whatever a client sent.
std::string utf8_safe(std::string_view text);

// JSON's two-character escape for `c` (RFC 8259 §7: \" \\ \n \r \t \b \f), or "" when it has
// none (other control characters take \u00XX).
std::string_view json_short_escape(unsigned char c);

// `items` joined with `separator` ("a, b, c"), for messages and logs.
std::string join(const std::vector<std::string>& items, std::string_view separator = ", ");

// `s` without the spaces and tabs at either end.
std::string_view trim(std::string_view s);

// The items of a `separator`-separated list, each trimmed, empty ones left out: views into `s`.
std::vector<std::string_view> split(std::string_view s, char separator);

// Frees `s`'s storage when it is empty and has grown past `bound` bytes; a smaller buffer stays,
// so a buffer reused for every small piece allocates nothing.
inline void release_idle(std::string& s, std::size_t bound) {
  if (s.empty() && s.capacity() > bound) s.shrink_to_fit();
}

}  // namespace shepherd::base
