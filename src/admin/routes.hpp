// The admin API's routes and answer bodies, as pure functions: which route a method and path
// name (with the deployment id percent-decoded), and the JSON each answer carries. The serving
// side is admin_api.hpp. Deny by default: a path that is not listed here is a 404, a listed one
// with another method a 405.
#pragma once

#include <cstdint>
#include <ctime>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.hpp"
#include "base/text.hpp"

namespace shepherd::admin {

struct Route {
  enum class Kind {
    kDeployments,  // GET  /admin/deployments
    kDrain,        // POST /admin/deployments/{id}/drain
    kEnable,       // POST /admin/deployments/{id}/enable
    kConfig,       // GET  /admin/config
    kReload,       // POST /admin/config/reload
    kRollback,     // POST /admin/config/rollback
    kKeyCreate,    // POST /admin/keys
    kKeyList,      // GET  /admin/keys
    kKeyShow,      // GET  /admin/keys/{id}
    kKeyUpdate,    // PATCH /admin/keys/{id}
    kKeyRevoke,    // DELETE /admin/keys/{id}
    kRequests,     // GET  /admin/requests?since=&until=&model=&key=&status=&limit=
    kSpend,        // GET  /admin/spend?by=&since=&until=
    kWrongMethod,  // a listed path with another method: 405 with `allow`
  };
  Kind kind = Kind::kDeployments;
  std::string deployment;  // kDrain, kEnable: the id, percent-decoded
  std::string key;         // kKeyShow, kKeyUpdate, kKeyRevoke: the key id, percent-decoded
  std::string_view allow;  // kWrongMethod: the method the path takes
};

// The route of `method` `target` (a path under /admin/, without the query). Errors: kNotFound
// naming the routes that exist.
base::Result<Route> parse_route(std::string_view method, std::string_view target);

// Percent-decoding (RFC 3986 section 2.1) for ids in paths; a malformed escape stays as it is.
std::string percent_decode(std::string_view s);

// Text for a JSON answer or a message: each byte that does not start well-formed UTF-8 as U+FFFD.
using base::utf8_safe;

// {"version":N,"status":"applied"}
std::string applied_body(std::uint64_t version);

struct Version {
  std::uint64_t number = 0;
  std::string source;
  std::time_t applied_at = 0;
  bool current = false;
};
// {"version":current,"versions":[{"version","source","applied_at","current"},...]}
std::string versions_body(std::uint64_t current, const std::vector<Version>& versions);

// A JSON object of string members, in order: {"id":..,"state":..} answers drain and enable,
// {"status":..,"reason":..} an unready probe.
std::string string_members_body(
    std::initializer_list<std::pair<std::string_view, std::string_view>> members);

}  // namespace shepherd::admin
