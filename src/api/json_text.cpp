#include "api/json_text.hpp"

#include <boost/json.hpp>
#include <charconv>
#include <cmath>

namespace shepherd::api {

namespace json = boost::json;

namespace {

void write(std::string& out, const json::value& v) {
  switch (v.kind()) {
    case json::kind::double_: {
      const double d = v.get_double();
      if (!std::isfinite(d)) {
        out += "null";  // as Boost.JSON writes them
        return;
      }
      char digits[32];
      const auto [end, ec] = std::to_chars(digits, digits + sizeof digits, d);
      out.append(digits, end);
      return;
    }
    case json::kind::object: {
      out.push_back('{');
      bool first = true;
      for (const auto& member : v.get_object()) {
        if (!first) out.push_back(',');
        first = false;
        out += json::serialize(json::string(member.key()));
        out.push_back(':');
        write(out, member.value());
      }
      out.push_back('}');
      return;
    }
    case json::kind::array: {
      out.push_back('[');
      bool first = true;
      for (const auto& item : v.get_array()) {
        if (!first) out.push_back(',');
        first = false;
        write(out, item);
      }
      out.push_back(']');
      return;
    }
    default:
      out += json::serialize(v);
  }
}

}  // namespace

std::string json_text(const json::value& value) {
  std::string out;
  write(out, value);
  return out;
}

double rounded(double v, int decimals) {
  const double scale = std::pow(10.0, decimals);
  return std::round(v * scale) / scale;
}

}  // namespace shepherd::api
