#include "fastchat/python_json.hpp"

#include <array>
#include <boost/json.hpp>
#include <boost/json/basic_parser_impl.hpp>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <limits>
#include <system_error>
#include <utility>

#include "base/text.hpp"

namespace shepherd::fastchat {
namespace {

namespace json = boost::json;

// ---------------------------------------------------------------------------------------------
// Python's JSON printing

constexpr char kHex[] = "0123456789abcdef";

void append_u_escape(std::string& out, std::uint32_t unit) {
  out += "\\u";
  out.push_back(kHex[(unit >> 12) & 0xF]);
  out.push_back(kHex[(unit >> 8) & 0xF]);
  out.push_back(kHex[(unit >> 4) & 0xF]);
  out.push_back(kHex[unit & 0xF]);
}

// Builds the same value as boost::json::parser, except for doubles. Boost.JSON 1.81 reads number
// literals with its own algorithm, which misses the nearest double for many 15-17 digit literals
// (about one in five shortest-repr doubles, measured with random values), so a worker's logprobs
// would print back with another last digit. Each double literal is read again with
// std::from_chars, which rounds correctly as Python's float() does.
struct ValueHandler {
  static constexpr std::size_t max_object_size = json::object::max_size();
  static constexpr std::size_t max_array_size = json::array::max_size();
  static constexpr std::size_t max_key_size = json::string::max_size();
  static constexpr std::size_t max_string_size = json::string::max_size();

  json::value_stack st;
  std::string number;  // the start of a number literal split across writes

  bool on_document_begin(json::error_code&) { return true; }
  bool on_document_end(json::error_code&) { return true; }
  bool on_object_begin(json::error_code&) { return true; }
  bool on_object_end(std::size_t n, json::error_code&) {
    st.push_object(n);
    return true;
  }
  bool on_array_begin(json::error_code&) { return true; }
  bool on_array_end(std::size_t n, json::error_code&) {
    st.push_array(n);
    return true;
  }
  bool on_key_part(json::string_view s, std::size_t, json::error_code&) {
    st.push_chars(s);
    return true;
  }
  bool on_key(json::string_view s, std::size_t, json::error_code&) {
    st.push_key(s);
    return true;
  }
  bool on_string_part(json::string_view s, std::size_t, json::error_code&) {
    st.push_chars(s);
    return true;
  }
  bool on_string(json::string_view s, std::size_t, json::error_code&) {
    st.push_string(s);
    return true;
  }
  bool on_number_part(json::string_view s, json::error_code&) {
    number.append(s.data(), s.size());
    return true;
  }
  bool on_int64(std::int64_t i, json::string_view, json::error_code&) {
    number.clear();
    st.push_int64(i);
    return true;
  }
  bool on_uint64(std::uint64_t u, json::string_view, json::error_code&) {
    number.clear();
    st.push_uint64(u);
    return true;
  }
  bool on_double(double d, json::string_view s, json::error_code&) {
    std::string_view text(s.data(), s.size());
    if (!number.empty()) {
      number.append(text);
      text = number;
    }
    double exact = 0;
    const auto res = std::from_chars(text.data(), text.data() + text.size(), exact);
    // Out of range (1e400, 1e-400): keep Boost's infinity or zero, as Python's float() gives.
    if (res.ec == std::errc() && res.ptr == text.data() + text.size()) d = exact;
    number.clear();
    st.push_double(d);
    return true;
  }
  bool on_bool(bool b, json::error_code&) {
    st.push_bool(b);
    return true;
  }
  bool on_null(json::error_code&) {
    st.push_null();
    return true;
  }
  bool on_comment_part(json::string_view, json::error_code&) { return true; }
  bool on_comment(json::string_view, json::error_code&) { return true; }
};

template <typename Int>
void append_int(std::string& out, Int v) {
  std::array<char, 24> buf{};
  const auto res = std::to_chars(buf.data(), buf.data() + buf.size(), v);
  out.append(buf.data(), res.ptr);
}

}  // namespace

// float.__repr__ (Python/pystrtod.c format_float_short, mode 'r'): the shortest round-trip digits
// d1..dn with the value 0.d1..dn × 10^decpt; scientific notation when decpt <= -4 or decpt > 16,
// else positional with ".0" added to integers. std::to_chars without a precision gives the same
// shortest digits (both pick the candidate nearest the exact value).
void append_python_float(std::string& out, double d) {
  if (std::isnan(d)) {
    out += "NaN";
    return;
  }
  if (std::isinf(d)) {
    out += d < 0 ? "-Infinity" : "Infinity";
    return;
  }
  std::array<char, 64> buf{};
  const auto res =
      std::to_chars(buf.data(), buf.data() + buf.size(), d, std::chars_format::scientific);
  // buf holds [-]D[.DDD]e(+|-)XX[X].
  std::string_view sci(buf.data(), static_cast<std::size_t>(res.ptr - buf.data()));
  if (!sci.empty() && sci.front() == '-') {
    out.push_back('-');
    sci.remove_prefix(1);
  }
  const auto e = sci.find('e');
  std::array<char, 32> digit_buf{};
  std::size_t count = 0;
  for (const char ch : sci.substr(0, e)) {
    if (ch != '.') digit_buf[count++] = ch;
  }
  const std::string_view digits(digit_buf.data(), count);
  int exponent = 0;
  const auto exp_text = sci.substr(e + 1);
  const char* first = exp_text.data();
  if (*first == '+') ++first;  // from_chars takes '-' but not '+'
  std::from_chars(first, exp_text.data() + exp_text.size(), exponent);
  const int decpt = exponent + 1;
  const int n = static_cast<int>(digits.size());
  if (decpt <= -4 || decpt > 16) {
    out.push_back(digits[0]);
    if (n > 1) {
      out.push_back('.');
      out.append(digits.substr(1));
    }
    out.push_back('e');
    out.push_back(exponent < 0 ? '-' : '+');
    const int mag = exponent < 0 ? -exponent : exponent;
    if (mag < 10) out.push_back('0');
    append_int(out, mag);
  } else if (decpt <= 0) {
    out += "0.";
    out.append(static_cast<std::size_t>(-decpt), '0');
    out += digits;
  } else if (decpt >= n) {
    out += digits;
    out.append(static_cast<std::size_t>(decpt - n), '0');
    out += ".0";
  } else {
    out.append(digits.substr(0, static_cast<std::size_t>(decpt)));
    out.push_back('.');
    out.append(digits.substr(static_cast<std::size_t>(decpt)));
  }
}

void append_python_int(std::string& out, std::int64_t v) { append_int(out, v); }

void append_python_json(std::string& out, const json::value& v, PythonJsonStyle style) {
  const bool spaced = style == PythonJsonStyle::kDumpsDefaults;
  switch (v.kind()) {
    case json::kind::null:
      out += "null";
      return;
    case json::kind::bool_:
      out += v.get_bool() ? "true" : "false";
      return;
    case json::kind::int64:
      append_int(out, v.get_int64());
      return;
    case json::kind::uint64:
      append_int(out, v.get_uint64());
      return;
    case json::kind::double_:
      append_python_float(out, v.get_double());
      return;
    case json::kind::string:
      append_python_string(out, v.get_string(), style);
      return;
    case json::kind::array: {
      out.push_back('[');
      bool first = true;
      for (const auto& item : v.get_array()) {
        if (!first) out += spaced ? ", " : ",";
        first = false;
        append_python_json(out, item, style);
      }
      out.push_back(']');
      return;
    }
    case json::kind::object: {
      out.push_back('{');
      bool first = true;
      for (const auto& member : v.get_object()) {
        if (!first) out += spaced ? ", " : ",";
        first = false;
        append_python_string(out, member.key(), style);
        out += spaced ? ": " : ":";
        append_python_json(out, member.value(), style);
      }
      out.push_back('}');
      return;
    }
  }
}

// Python's json encoder (Lib/json/encoder.py, Modules/_json.c): ESCAPE_DCT for the characters
// below U+0020, `"` and `\`; with ensure_ascii also everything outside ' '..'~'.
void append_python_string(std::string& out, std::string_view s, PythonJsonStyle style) {
  const bool ascii = style == PythonJsonStyle::kDumpsDefaults;
  out.push_back('"');
  // Characters printed as they are go out in runs: prompts and answers are mostly such text.
  std::size_t run = 0;
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    if ((c >= 0x20 && c < 0x7F && c != '"' && c != '\\') || (c == 0x7F && !ascii)) {
      ++i;
      continue;
    }
    out.append(s.data() + run, i - run);
    if (c < 0x80) {
      if (const auto e = base::json_short_escape(c); !e.empty()) {
        out += e;
      } else {
        append_u_escape(out, c);  // below U+0020, or U+007F with ensure_ascii
      }
      run = ++i;
      continue;
    }
    auto [cp, len] = base::decode_utf8(s, i);
    if (cp == base::kInvalidCodePoint) cp = 0xFFFD;
    if (!ascii) {
      if (len == 1) {
        out += "\xEF\xBF\xBD";  // U+FFFD for the bad byte
      } else {
        out.append(s.substr(i, len));
      }
    } else if (cp > 0xFFFF) {
      const std::uint32_t v = cp - 0x10000;
      append_u_escape(out, 0xD800 | (v >> 10));
      append_u_escape(out, 0xDC00 | (v & 0x3FF));
    } else {
      append_u_escape(out, cp);
    }
    i += len;
    run = i;
  }
  out.append(s.data() + run, s.size() - run);
  out.push_back('"');
}

std::string python_json(const boost::json::value& value, PythonJsonStyle style) {
  std::string out;
  append_python_json(out, value, style);
  return out;
}

json::value read_json_exact(std::string_view text, std::size_t max_depth, json::error_code& ec,
                            json::storage_ptr storage) {
  json::parse_options options;
  options.max_depth = max_depth;
  json::basic_parser<ValueHandler> parser(options);
  parser.handler().st.reset(std::move(storage));
  const auto used = parser.write_some(false, text.data(), text.size(), ec);
  if (!ec && used < text.size()) ec = json::error::extra_data;
  if (ec) return nullptr;
  return parser.handler().st.release();
}

}  // namespace shepherd::fastchat
