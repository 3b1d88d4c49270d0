#include "fastchat/body_util.hpp"

#include <cmath>
#include <exception>
#include <limits>

#include "fastchat/protocol.hpp"

namespace shepherd::fastchat::detail {

using base::ErrorCode;

base::Error bad_request(std::string_view body_name, std::string_view what, std::string param) {
  auto e = base::make_error(ErrorCode::kBadRequest,
                            "the FastChat " + std::string(body_name) + " " + std::string(what));
  e.param = std::move(param);
  return e;
}

// Parses `body` as a JSON object.
base::Result<json::object> parse_object(std::string_view body, std::string_view body_name,
                                        json::storage_ptr storage) {
  json::error_code ec;
  json::value doc(storage);
  try {
    doc = read_json_exact(body, kMaxJsonDepth, ec, storage);
  } catch (const std::exception& e) {
    // Syntax errors come back in `ec`; only resource limits (a string or array over its maximum
    // size, allocation failure) throw.
    return bad_request(body_name, "could not be read (" + std::string(e.what()) + ")");
  }
  if (ec == json::error::too_deep) {
    return bad_request(body_name, "nests deeper than " + std::to_string(kMaxJsonDepth) + " levels");
  }
  if (ec) return bad_request(body_name, "is not valid JSON in UTF-8 (" + ec.message() + ")");
  if (!doc.is_object()) return bad_request(body_name, "must be a JSON object");
  return std::move(doc.get_object());
}

// The integer value of `v`: an integer, or a double with an integral value, in the int64 range.
std::optional<std::int64_t> as_int(const json::value& v) {
  if (v.is_int64()) return v.get_int64();
  if (v.is_uint64()) {
    if (v.get_uint64() > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
      return std::nullopt;
    }
    return static_cast<std::int64_t>(v.get_uint64());
  }
  if (v.is_double()) {
    // Python's int() accepts 3.0; FastChat's own bodies always carry integers.
    const double d = v.get_double();
    if (std::isfinite(d) && std::trunc(d) == d && d >= -9223372036854775808.0 &&
        d < 9223372036854775808.0) {
      return static_cast<std::int64_t>(d);
    }
  }
  return std::nullopt;
}

std::optional<double> as_number(const json::value& v) {
  if (v.is_int64()) return static_cast<double>(v.get_int64());
  if (v.is_uint64()) return static_cast<double>(v.get_uint64());
  if (v.is_double() && std::isfinite(v.get_double())) return v.get_double();
  return std::nullopt;  // a bool is not a number here; an overflowed literal (1e400) is infinite
}

json::array strings_value(const std::vector<std::string>& items) {
  json::array a;
  a.reserve(items.size());
  for (const auto& s : items) a.emplace_back(s);
  return a;
}

std::string dumps(const json::value& v) { return python_json(v, PythonJsonStyle::kDumpsDefaults); }
std::string response(const json::value& v) {
  return python_json(v, PythonJsonStyle::kFastApiResponse);
}

}  // namespace shepherd::fastchat::detail
