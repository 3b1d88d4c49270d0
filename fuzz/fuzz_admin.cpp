// The admin API's request side and its answer bodies. The input is "METHOD\nTARGET\nTEXT".
// Properties: routing never crashes and is total (a route, or a 404 naming the routes); a
// deployment id is the percent-decoding of the path segment, never longer than it; answer bodies
// built from any bytes (a config source, a deployment id) are valid JSON, which gives the text
// back whenever it was valid UTF-8.
#include <boost/json.hpp>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "admin/routes.hpp"

namespace {

std::string_view next_line(std::string_view& rest) {
  const auto nl = rest.find('\n');
  const auto line = rest.substr(0, nl);
  rest = nl == std::string_view::npos ? std::string_view{} : rest.substr(nl + 1);
  return line;
}

// Boost.JSON gives back the UTF-8 it was given only when that is valid.
bool valid_utf8(std::string_view s) {
  boost::system::error_code ec;
  boost::json::parse(boost::json::serialize(boost::json::string(s)), ec);
  return !ec;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view rest(reinterpret_cast<const char*>(data), size);
  const auto method = next_line(rest);
  const auto target = next_line(rest);
  const auto text = rest;

  auto route = shepherd::admin::parse_route(method, target);
  if (route) {
    using Kind = shepherd::admin::Route::Kind;
    if (route->kind == Kind::kDrain || route->kind == Kind::kEnable) {
      if (route->deployment.size() > target.size()) std::abort();
      if (method != "POST") std::abort();
    }
    if (route->kind == Kind::kWrongMethod && route->allow == method) std::abort();
  } else if (route.error().code != shepherd::base::ErrorCode::kNotFound) {
    std::abort();
  }
  if (shepherd::admin::percent_decode(text).size() > text.size()) std::abort();

  const std::string source(text);
  const auto versions = boost::json::parse(
      shepherd::admin::versions_body(3, {{1, source, 0, false}, {3, "b", 1, true}}));
  const auto pair = boost::json::parse(
      shepherd::admin::string_members_body({{"id", source}, {"state", "drained"}}));
  if (valid_utf8(source)) {
    if (versions.at("versions").at(0).at("source").as_string() != source) std::abort();
    if (pair.at("id").as_string() != source) std::abort();
  }
  return 0;
}
