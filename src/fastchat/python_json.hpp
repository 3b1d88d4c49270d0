// JSON as FastChat's Python processes write and read it: printing byte for byte as Python's json
// module does, and reading numbers as Python's float() does. Pure.
#pragma once

#include <boost/json/value.hpp>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace shepherd::fastchat {

enum class PythonJsonStyle {
  // json.dumps(obj): separators ", " and ": ", ensure_ascii (non-ASCII as \uXXXX), allow_nan.
  // Stream chunks and every request body a FastChat process sends.
  kDumpsDefaults,
  // Starlette's JSONResponse: json.dumps(obj, ensure_ascii=False, allow_nan=False,
  // separators=(",", ":")). Every answer of a FastChat FastAPI endpoint.
  kFastApiResponse,
};

// `value` printed byte for byte as Python's json module prints the equivalent Python object
// (json.loads(x) of the same text, then dumps):
//   - object members in insertion order (a boost::json::object keeps it, as a dict does);
//   - strings: `"` and `\` as \" and \\; \n \r \t \b \f as such; other code points below U+0020
//     as \u00XX; with kDumpsDefaults also U+007F and everything above it as \uXXXX (lowercase
//     hex, as Python writes), code points above U+FFFF as a UTF-16 surrogate pair; with
//     kFastApiResponse those are written as UTF-8. A string holding invalid UTF-8 (only a value
//     built in code can) has each bad byte written as U+FFFD; Python strings cannot hold them.
//   - int64 and uint64 in decimal; true, false, null;
//   - doubles as Python's float repr: the shortest digits that read back to the same double;
//     positional notation with at least one digit after the point ("1.0", "0.7", "0.0001",
//     "1234567890123456.0") when 1e-4 <= |x| < 1e16, else scientific with a sign and at least two
//     exponent digits and no ".0" ("1e-05", "1.5e-07", "1e+16", "1.7976931348623157e+308");
//     "-0.0"; NaN and ±infinity as Python's NaN, Infinity, -Infinity (with kFastApiResponse
//     Python would fail instead; they are written the same way).
// Divergences from Python for parsed input: an integer beyond the uint64 range is read as a
// double (Python keeps an int) and printed in float form; the parse_* functions refuse what
// Python's json.loads accepts but JSON does not allow (NaN, Infinity, lone surrogate escapes such
// as "\ud800").
// python_json(value, style) appended to `out`; and a string as python_json() prints it, quotes
// included.
void append_python_json(std::string& out, const boost::json::value& value, PythonJsonStyle style);
void append_python_string(std::string& out, std::string_view s, PythonJsonStyle style);
// A double and an integer as python_json() prints them (float repr, decimal).
void append_python_float(std::string& out, double d);
void append_python_int(std::string& out, std::int64_t v);

std::string python_json(const boost::json::value& value,
                        PythonJsonStyle style = PythonJsonStyle::kDumpsDefaults);

// `text` parsed as one JSON value, nesting at most `max_depth`, as boost::json::parse would
// except for doubles: each double literal is read with std::from_chars, which rounds correctly as
// Python's float() does (Boost.JSON 1.81's own reading misses the nearest double for about one in
// five shortest-form 15-17 digit literals). Syntax errors and too-deep nesting come back in `ec`;
// resource limits (a string or array over its maximum size, allocation failure) throw. The value
// is allocated from `storage` (the default resource when null).
boost::json::value read_json_exact(std::string_view text, std::size_t max_depth,
                                   boost::json::error_code& ec,
                                   boost::json::storage_ptr storage = {});

}  // namespace shepherd::fastchat
