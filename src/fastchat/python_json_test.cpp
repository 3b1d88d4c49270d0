#include "fastchat/python_json.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "fastchat/protocol.hpp"
#include "fastchat/protocol_test_fixtures.hpp"

namespace shepherd::fastchat {
namespace {

namespace json = boost::json;
using base::ErrorCode;
using namespace std::string_literals;
using namespace test_fixtures;

// ---------------------------------------------------------------------------------------------
// python_json

std::string dumps(const json::value& v) { return python_json(v); }
std::string fastapi(const json::value& v) {
  return python_json(v, PythonJsonStyle::kFastApiResponse);
}

TEST(PythonJson, SeparatesLikeJsonDumpsDefaults) {
  const json::value v = json::parse(R"({"a":[1,2,{"b":null}],"c":{},"d":[],"e":true,"f":false})");
  EXPECT_EQ(dumps(v), R"({"a": [1, 2, {"b": null}], "c": {}, "d": [], "e": true, "f": false})");
}

TEST(PythonJson, KeepsObjectKeysInInsertionOrder) {
  json::object o;
  o["zeta"] = 1;
  o["alpha"] = 2;
  o["mid"] = 3;
  EXPECT_EQ(dumps(o), R"({"zeta": 1, "alpha": 2, "mid": 3})");
}

TEST(PythonJson, KeepsTheFirstPositionAndLastValueOfADuplicateKeyAsADictDoes) {
  EXPECT_EQ(dumps(json::parse(R"({"a":1,"b":2,"a":3})")), R"({"a": 3, "b": 2})");
}

TEST(PythonJson, EscapesNonAsciiAsLowercaseUtf16Units) {
  // U+00E9, U+20AC, U+FFFF, U+1F600 (surrogates D83D DE00), U+10FFFF (DBFF DFFF).
  EXPECT_EQ(dumps(json::string(
                "caf\xC3\xA9 \xE2\x82\xAC \xEF\xBF\xBF \xF0\x9F\x98\x80 \xF4\x8F\xBF\xBF")),
            R"("caf\u00e9 \u20ac \uffff \ud83d\ude00 \udbff\udfff")");
}

TEST(PythonJson, EscapesControlCharactersAsPythonDoes) {
  EXPECT_EQ(dumps(json::string("q\" b\\ n\n r\r t\t b\b f\f / ")),
            R"("q\" b\\ n\n r\r t\t b\b f\f / ")");
  EXPECT_EQ(dumps(json::string("\x00\x01\x1f\x7f~"s)), R"("\u0000\u0001\u001f\u007f~")");
}

TEST(PythonJson, EscapesObjectKeysLikeStrings) {
  json::object o;
  o["k\xC3\xA9y\n"] = "v";
  EXPECT_EQ(dumps(o), R"({"k\u00e9y\n": "v"})");
}

TEST(PythonJson, WritesFloatsAsPythonReprDoes) {
  const std::vector<std::pair<double, std::string_view>> cases = {
      {1.0, "1.0"},
      {0.7, "0.7"},
      {0.0, "0.0"},
      {-0.0, "-0.0"},
      {100.0, "100.0"},
      {-2.5, "-2.5"},
      {0.1 + 0.2, "0.30000000000000004"},
      {123456789.123, "123456789.123"},
      {0.0001, "0.0001"},  // the smallest decimal exponent in positional form
      {0.00012, "0.00012"},
      {1e-05, "1e-05"},  // below 1e-4: scientific, two exponent digits at least
      {1.5e-07, "1.5e-07"},
      {-3.25e-10, "-3.25e-10"},
      {1234567890123456.0, "1234567890123456.0"},
      {9999999999999998.0, "9999999999999998.0"},
      {1e16, "1e+16"},  // from 1e16 on: scientific
      {2.5e16, "2.5e+16"},
      {12345678901234567.0, "1.2345678901234568e+16"},
      {1e22, "1e+22"},
      {1e100, "1e+100"},
      {5e-324, "5e-324"},
      {1.7976931348623157e308, "1.7976931348623157e+308"},
  };
  for (const auto& [d, text] : cases) EXPECT_EQ(dumps(d), text) << text;
}

TEST(PythonJson, WritesNonFiniteFloatsAsPythonsNanAndInfinity) {
  EXPECT_EQ(dumps(std::numeric_limits<double>::quiet_NaN()), "NaN");
  EXPECT_EQ(dumps(std::numeric_limits<double>::infinity()), "Infinity");
  EXPECT_EQ(dumps(-std::numeric_limits<double>::infinity()), "-Infinity");
}

TEST(PythonJson, WritesIntegersInDecimal) {
  EXPECT_EQ(dumps(std::numeric_limits<std::int64_t>::min()), "-9223372036854775808");
  EXPECT_EQ(dumps(std::numeric_limits<std::uint64_t>::max()), "18446744073709551615");
  EXPECT_EQ(dumps(json::parse("[0, -1, 41]")), "[0, -1, 41]");
}

TEST(PythonJson, ReadsFloatLiteralsBackAsFloats) {
  // json.loads("1e2") is the float 100.0, so Python prints it back as 100.0.
  EXPECT_EQ(dumps(json::parse("[1e2, 1.0, 7E-1, 1E400]")), "[100.0, 1.0, 0.7, Infinity]");
}

TEST(PythonJson, WritesFastApiResponsesCompactWithUtf8) {
  json::object o;
  o["text"] = "caf\xC3\xA9 \xF0\x9F\x98\x80\n\x7f\x01";
  o["n"] = json::array{1, 0.5, nullptr};
  EXPECT_EQ(fastapi(o),
            "{\"text\":\"caf\xC3\xA9 \xF0\x9F\x98\x80\\n\x7f\\u0001\",\"n\":[1,0.5,null]}");
}

TEST(PythonJson, WritesEachInvalidUtf8ByteAsReplacementCharacter) {
  // A lone continuation byte, a truncated sequence, an overlong '/', an encoded surrogate.
  EXPECT_EQ(dumps(json::string("a\x80z \xE2\x82 \xC0\xAF \xED\xA0\x80")),
            R"("a\ufffdz \ufffd\ufffd \ufffd\ufffd \ufffd\ufffd\ufffd")");
  EXPECT_EQ(fastapi(json::string("a\x80z")), "\"a\xEF\xBF\xBDz\"");
}

}  // namespace
}  // namespace shepherd::fastchat
