#include "admin/routes.hpp"

#include <boost/json.hpp>
#include <charconv>

#include "api/json_text.hpp"

namespace shepherd::admin {

using base::ErrorCode;

namespace {

Route wrong_method(std::string_view allow) {
  Route r;
  r.kind = Route::Kind::kWrongMethod;
  r.allow = allow;
  return r;
}

Route of(std::string_view method, std::string_view allow, Route::Kind kind) {
  if (method != allow) return wrong_method(allow);
  Route r;
  r.kind = kind;
  return r;
}

}  // namespace

base::Result<Route> parse_route(std::string_view method, std::string_view target) {
  if (target == "/admin/deployments") return of(method, "GET", Route::Kind::kDeployments);
  if (target == "/admin/config") return of(method, "GET", Route::Kind::kConfig);
  if (target == "/admin/config/reload") return of(method, "POST", Route::Kind::kReload);
  if (target == "/admin/config/rollback") return of(method, "POST", Route::Kind::kRollback);
  if (target == "/admin/requests") return of(method, "GET", Route::Kind::kRequests);
  if (target == "/admin/spend") return of(method, "GET", Route::Kind::kSpend);
  if (target == "/admin/keys") {
    if (method == "POST") return of(method, "POST", Route::Kind::kKeyCreate);
    if (method != "GET") return wrong_method("GET, POST");
    return of(method, "GET", Route::Kind::kKeyList);
  }
  constexpr std::string_view kKeys = "/admin/keys/";
  if (target.starts_with(kKeys) && target.size() > kKeys.size() &&
      target.find('/', kKeys.size()) == std::string_view::npos) {
    Route r;
    if (method == "GET") {
      r.kind = Route::Kind::kKeyShow;
    } else if (method == "PATCH") {
      r.kind = Route::Kind::kKeyUpdate;
    } else if (method == "DELETE") {
      r.kind = Route::Kind::kKeyRevoke;
    } else {
      return wrong_method("GET, PATCH, DELETE");
    }
    r.key = percent_decode(target.substr(kKeys.size()));
    return r;
  }
  constexpr std::string_view kDeployments = "/admin/deployments/";
  if (target.starts_with(kDeployments)) {
    const auto rest = target.substr(kDeployments.size());
    const auto slash = rest.rfind('/');
    const auto action =
        slash == std::string_view::npos ? std::string_view{} : rest.substr(slash + 1);
    if (action != "drain" && action != "enable") {
      return base::make_error(
          ErrorCode::kNotFound,
          "no admin route " + std::string(target) +
              "; use POST /admin/deployments/{id}/drain or /admin/deployments/{id}/enable");
    }
    auto r = of(method, "POST", action == "drain" ? Route::Kind::kDrain : Route::Kind::kEnable);
    if (r.kind != Route::Kind::kWrongMethod) r.deployment = percent_decode(rest.substr(0, slash));
    return r;
  }
  return base::make_error(
      ErrorCode::kNotFound,
      "no admin route " + std::string(target) +
          "; the admin API has /admin/deployments, /admin/config, /admin/config/reload, "
          "/admin/config/rollback, /admin/keys, /admin/requests and /admin/spend");
}

std::string percent_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      int v = 0;
      auto [p, ec] = std::from_chars(s.data() + i + 1, s.data() + i + 3, v, 16);
      if (ec == std::errc{} && p == s.data() + i + 3) {
        out.push_back(static_cast<char>(v));
        i += 2;
        continue;
      }
    }
    out.push_back(s[i]);
  }
  return out;
}

std::string applied_body(std::uint64_t version) {
  boost::json::object o;
  o["version"] = version;
  o["status"] = "applied";
  return api::json_text(o);
}

std::string versions_body(std::uint64_t current, const std::vector<Version>& versions) {
  boost::json::array list;
  for (const auto& v : versions) {
    boost::json::object o;
    o["version"] = v.number;
    o["source"] = utf8_safe(v.source);
    o["applied_at"] = v.applied_at;
    o["current"] = v.current;
    list.push_back(std::move(o));
  }
  boost::json::object root;
  root["version"] = current;
  root["versions"] = std::move(list);
  return api::json_text(root);
}

std::string string_members_body(
    std::initializer_list<std::pair<std::string_view, std::string_view>> members) {
  boost::json::object o;
  for (const auto& [key, value] : members) o[key] = utf8_safe(value);
  return api::json_text(o);
}

}  // namespace shepherd::admin
