#include "admin/routes.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

namespace shepherd::admin {
namespace {

using Kind = Route::Kind;

TEST(AdminRoutes, NamesEachRoute) {
  EXPECT_EQ(parse_route("GET", "/admin/deployments")->kind, Kind::kDeployments);
  EXPECT_EQ(parse_route("GET", "/admin/config")->kind, Kind::kConfig);
  EXPECT_EQ(parse_route("POST", "/admin/config/reload")->kind, Kind::kReload);
  EXPECT_EQ(parse_route("POST", "/admin/config/rollback")->kind, Kind::kRollback);
  auto drain = parse_route("POST", "/admin/deployments/gpt-4.1%40relay/drain");
  ASSERT_TRUE(drain);
  EXPECT_EQ(drain->kind, Kind::kDrain);
  EXPECT_EQ(drain->deployment, "gpt-4.1@relay");
  EXPECT_EQ(parse_route("POST", "/admin/deployments/a/b/enable")->deployment, "a/b");
}

TEST(AdminRoutes, AnotherMethodIsA405NamingTheRightOne) {
  auto r = parse_route("POST", "/admin/deployments");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->kind, Kind::kWrongMethod);
  EXPECT_EQ(r->allow, "GET");
  EXPECT_EQ(parse_route("GET", "/admin/deployments/x/drain")->allow, "POST");
  EXPECT_EQ(parse_route("DELETE", "/admin/config/reload")->allow, "POST");
}

TEST(AdminRoutes, UnknownPathsAre404s) {
  for (const auto* path : {"/admin/", "/admin/x", "/admin/deployments/x/restart",
                           "/admin/deployments/x", "/admin/config/x"}) {
    auto r = parse_route("POST", path);
    ASSERT_FALSE(r) << path;
    EXPECT_EQ(r.error().code, base::ErrorCode::kNotFound) << path;
  }
}

TEST(AdminRoutes, PercentDecodingLeavesMalformedEscapes) {
  EXPECT_EQ(percent_decode("a%2Fb%40c"), "a/b@c");
  EXPECT_EQ(percent_decode("100%"), "100%");
  EXPECT_EQ(percent_decode("%zz%4"), "%zz%4");
}

TEST(AdminRoutes, Utf8SafeReplacesOnlyMalformedBytes) {
  EXPECT_EQ(utf8_safe("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x90\x91"),
            "caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x90\x91");
  EXPECT_EQ(utf8_safe("a\xFF"
                      "b"),
            "a\xEF\xBF\xBD"
            "b");
  EXPECT_EQ(utf8_safe("\xC0\xAF"), "\xEF\xBF\xBD\xEF\xBF\xBD");                  // overlong '/'
  EXPECT_EQ(utf8_safe("\xED\xA0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");  // surrogate
  EXPECT_EQ(utf8_safe("\xE2\x82"), "\xEF\xBF\xBD\xEF\xBF\xBD");                  // cut short
  // A config path in Latin-1 still gives a JSON answer a client can parse.
  EXPECT_NO_THROW(boost::json::parse(versions_body(1, {{1, "/etc/caf\xE9.yaml", 0, true}})));
}

TEST(AdminRoutes, AnswerBodiesAreJson) {
  const auto versions = boost::json::parse(
      versions_body(2, {{1, "a \"quoted\" path", 10, false}, {2, "b", 20, true}}));
  EXPECT_EQ(versions.at("version").to_number<std::uint64_t>(), 2u);
  EXPECT_EQ(versions.at("versions").as_array().at(0).at("source").as_string(), "a \"quoted\" path");
  const auto pair = boost::json::parse(string_members_body({{"id", "x\ny"}, {"state", "drained"}}));
  EXPECT_EQ(pair.at("id").as_string(), "x\ny");
  EXPECT_EQ(boost::json::parse(applied_body(7)).at("version").to_number<std::uint64_t>(), 7u);
}

}  // namespace
}  // namespace shepherd::admin
