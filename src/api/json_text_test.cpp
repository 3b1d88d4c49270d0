#include "api/json_text.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <limits>

namespace shepherd::api {
namespace {

namespace json = boost::json;

TEST(JsonText, DoublesTakeTheirShortestDecimalForm) {
  EXPECT_EQ(json_text(json::value(1.0)), "1");
  EXPECT_EQ(json_text(json::value(0.5)), "0.5");
  EXPECT_EQ(json_text(json::value(1.06)), "1.06");
  EXPECT_EQ(json_text(json::value(7.2e-05)), "7.2e-05");
  EXPECT_EQ(json_text(json::value(-2.25)), "-2.25");
  EXPECT_EQ(json_text(json::value(std::numeric_limits<double>::infinity())), "null");
}

TEST(JsonText, EverythingElseIsWrittenAsBoostJsonWritesIt) {
  const auto v = json::parse(R"({"a":[1,-2,true,null,"x\"y\n"],"b":{"c":18446744073709551615}})");
  EXPECT_EQ(json_text(v), json::serialize(v));
  json::object o{{"rate", 1.0}, {"n", 3}, {"list", json::array{0.25, 2}}};
  EXPECT_EQ(json_text(o), R"({"rate":1,"n":3,"list":[0.25,2]})");
  // What it writes parses back to the same values.
  EXPECT_EQ(json::parse(json_text(o)).at("rate").to_number<double>(), 1.0);
}

TEST(JsonText, RoundedKeepsTheGivenDecimals) {
  EXPECT_DOUBLE_EQ(rounded(1.061964401, 2), 1.06);
  EXPECT_DOUBLE_EQ(rounded(2.0 / 3.0, 4), 0.6667);
  EXPECT_DOUBLE_EQ(rounded(5, 3), 5);
}

}  // namespace
}  // namespace shepherd::api
