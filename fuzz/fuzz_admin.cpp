// The admin API's request side and its answer bodies. The input is "METHOD\nTARGET\nTEXT".
// Properties: routing never crashes and is total (a route, or a 404 naming the routes); a
// deployment id is the percent-decoding of the path segment, never longer than it; answer bodies
// built from any bytes (a config source, a deployment id) are valid JSON, which gives the text
// back whenever it was valid UTF-8. The key, audit and spend parsers take any text without
// crashing; a key body they accept yields a key whose answer body is valid JSON; a time they read
// is written back as RFC 3339 that reads as the same instant; an audit record read from JSON is
// written back as JSON that reads as the same record.
#include <boost/json.hpp>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "admin/keys_json.hpp"
#include "admin/routes.hpp"
#include "storage/record_json.hpp"

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
  if (auto changes = shepherd::admin::parse_key_changes(text, true, 16)) {
    shepherd::storage::KeyRecord key;
    changes->apply(key);
    const std::string secret = "sk-shep-test";
    boost::json::parse(shepherd::admin::key_body(key, &secret, 1.5));
  }
  (void)shepherd::admin::parse_audit_query(text);
  (void)shepherd::admin::parse_spend_query(text);
  if (const auto t = shepherd::admin::parse_time(text); t && *t >= 0 && *t < 253'402'300'800'000) {
    if (shepherd::admin::parse_time(shepherd::admin::format_time(*t)) != t) std::abort();
  }
  boost::system::error_code ec;
  const auto doc = boost::json::parse(text, ec);
  if (!ec) {
    if (auto record = shepherd::storage::audit_from_json(doc)) {
      const auto again = shepherd::storage::audit_from_json(shepherd::storage::to_json(*record));
      if (!again || again->request_id != shepherd::admin::utf8_safe(record->request_id)) {
        std::abort();
      }
    }
  }
  return 0;
}
