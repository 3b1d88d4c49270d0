#include "api/json_scan.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>

namespace shepherd::api {
namespace {

using ::testing::TestWithParam;
using ::testing::ValuesIn;

// --- find_top_level_value: value kinds --------------------------------------------------------

struct FindCase {
  const char* name;
  std::string_view json;
  std::string_view key;
  std::optional<std::string_view> expected;
};
void PrintTo(const FindCase& c, std::ostream* os) { *os << c.name << ": " << c.json; }

class FindTopLevelValueTable : public TestWithParam<FindCase> {};

TEST_P(FindTopLevelValueTable, ReturnsRawValueText) {
  const auto& c = GetParam();
  EXPECT_EQ(find_top_level_value(c.json, c.key), c.expected) << c.json;
}

const FindCase kFindCases[] = {
    {"String", R"({"model":"gpt-4o"})", "model", R"("gpt-4o")"},
    {"Integer", R"({"n":42})", "n", "42"},
    {"NegativeFloat", R"({"t":-1.5e3,"u":1})", "t", "-1.5e3"},
    {"Object", R"({"so":{"include_usage":true},"x":1})", "so", R"({"include_usage":true})"},
    {"Array", R"({"messages":[{"role":"user"},[1,2]],"x":1})", "messages",
     R"([{"role":"user"},[1,2]])"},
    {"EmptyObject", R"({"a":{}})", "a", "{}"},
    {"EmptyArray", R"({"a":[]})", "a", "[]"},
    {"True", R"({"stream":true})", "stream", "true"},
    {"False", R"({"stream":false,"b":2})", "stream", "false"},
    {"Null", R"({"a":null})", "a", "null"},
    {"LastKey", R"({"a":1,"b":2,"model":"m"})", "model", R"("m")"},
    {"MissingKey", R"({"a":1,"b":2})", "model", std::nullopt},
    {"KeyIsPrefixOfOther", R"({"models":1,"model":2})", "model", "2"},
    {"OtherIsPrefixOfKey", R"({"mode":1})", "model", std::nullopt},
    {"EmptyObjectHasNoKeys", "{}", "model", std::nullopt},
    // Nested keys with the same name are not top-level keys.
    {"NestedObjectKeySkipped", R"({"a":{"model":"x"},"model":"y"})", "model", R"("y")"},
    {"NestedArrayKeySkipped", R"({"a":[{"model":"x"}],"model":"y"})", "model", R"("y")"},
    {"OnlyNested", R"({"a":{"model":"x"}})", "model", std::nullopt},
    // A key spelled inside a string value is not a key.
    {"KeyInsideStringValue", R"({"a":"\"model\":\"x\"","model":"y"})", "model", R"("y")"},
    {"BracesInsideString", R"({"a":"}{][","model":1})", "model", "1"},
    {"BracesInsideNestedString", R"({"a":{"s":"}}}"},"model":1})", "model", "1"},
    // Escapes.
    {"EscapedQuoteInValue", R"({"model":"a\"b"})", "model", R"("a\"b")"},
    {"EscapedBackslashEndsValue", R"({"model":"a\\","x":1})", "model", R"("a\\")"},
    {"EscapedKeyNeverMatches", R"({"mod\u0065l":"x"})", "model", std::nullopt},
    // Whitespace around every token.
    {"Whitespace", " \t\r\n{ \"a\" : 1 ,\n\t\"model\" :\r\n \"m\" \n}", "model", R"("m")"},
    {"WhitespaceAfterLiteral", "{\"model\":true \n,\"b\":1}", "model", "true"},
    // Malformed or not an object.
    {"EmptyInput", "", "model", std::nullopt},
    {"OnlyWhitespace", "  ", "model", std::nullopt},
    {"ArrayIsNotObject", R"(["model","x"])", "model", std::nullopt},
    {"StringIsNotObject", R"("model")", "model", std::nullopt},
    {"UnterminatedObject", "{", "model", std::nullopt},
    {"KeyWithoutColon", R"({"model"})", "model", std::nullopt},
    {"KeyWithoutValue", R"({"model":})", "model", std::nullopt},
    {"UnquotedKey", R"({model:"x"})", "model", std::nullopt},
    {"UnterminatedString", R"({"model":"abc)", "model", std::nullopt},
    {"UnterminatedEscape", R"({"model":"abc\)", "model", std::nullopt},
    {"UnterminatedKey", R"({"mod)", "model", std::nullopt},
    {"MissingCommaBeforeKey", R"({"a":1 "model":2})", "model", std::nullopt},
    {"TrailingCommaBeforeKey", R"({"a":1,,"model":2})", "model", std::nullopt},
    {"UnterminatedNestedBeforeKey", R"({"a":{"b":1,"model":2)", "model", std::nullopt},
    {"UnterminatedStringInNested", R"({"a":["x],"model":2})", "model", std::nullopt},
    // Bracket kinds must match: `[1,2}` is not a complete value.
    {"MismatchedBracketsBeforeKey", R"({"a":[1,2},"model":3})", "model", std::nullopt},
};

INSTANTIATE_TEST_SUITE_P(JsonScan, FindTopLevelValueTable, ValuesIn(kFindCases),
                         [](const auto& test_param) { return std::string(test_param.param.name); });

TEST(FindTopLevelValue, ReturnsAViewIntoTheInput) {
  const std::string json = R"({"a":[1],"model":"m"})";
  const auto v = find_top_level_value(json, "model");
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(v->data(), json.data() + json.find("\"m\""));
  EXPECT_EQ(v->size(), 3u);
}

TEST(FindTopLevelValue, ReturnsFirstOfDuplicateKeys) {
  EXPECT_EQ(find_top_level_value(R"({"model":"a","model":"b"})", "model"), R"("a")");
}

// --- count_top_level_key ----------------------------------------------------------------------

TEST(CountTopLevelKey, CountsRawTopLevelKeys) {
  constexpr std::string_view kJson = R"({"a":1,"b":{"a":2,"a":3},"a":[{"a":4}],"\u0061":5})";
  EXPECT_EQ(count_top_level_key(kJson, "a"), 2u);
  EXPECT_EQ(count_top_level_key(kJson, "b"), 1u);
  EXPECT_EQ(count_top_level_key(kJson, "c"), 0u);
  EXPECT_EQ(count_top_level_key(kJson, std::nullopt), 4u);
}

TEST(CountTopLevelKey, EmptyObjectAndNonObjectsHaveNoKeys) {
  EXPECT_EQ(count_top_level_key("{}", std::nullopt), 0u);
  EXPECT_EQ(count_top_level_key(" { } ", std::nullopt), 0u);
  EXPECT_EQ(count_top_level_key(R"(["a","b"])", std::nullopt), 0u);
  EXPECT_EQ(count_top_level_key("", std::nullopt), 0u);
}

TEST(CountTopLevelKey, KeysInsideStringsAreNotCounted) {
  EXPECT_EQ(count_top_level_key(R"({"x":"\"a\":1,\"a\":2","a":0})", "a"), 1u);
}

// --- replace_top_level_value ------------------------------------------------------------------

TEST(ReplaceTopLevelValue, PreservesEverythingElseByteForByte) {
  const std::string_view json =
      "  {\n  \"a\" : [1, {\"model\": \"nested\"}] ,\n  \"model\" :\t\"old\" , "
      "\"z\":\"\\\"model\\\"\"  }\n";
  const auto out = replace_top_level_value(json, "model", R"("new-name")");
  ASSERT_TRUE(out.has_value());
  EXPECT_EQ(*out,
            "  {\n  \"a\" : [1, {\"model\": \"nested\"}] ,\n  \"model\" :\t\"new-name\" , "
            "\"z\":\"\\\"model\\\"\"  }\n");
}

TEST(ReplaceTopLevelValue, ReplacesValuesOfAnyKindAndLength) {
  EXPECT_EQ(replace_top_level_value(R"({"so":{"a":[1,2]},"b":1})", "so", "true"),
            R"({"so":true,"b":1})");
  EXPECT_EQ(replace_top_level_value(R"({"n":12345,"b":1})", "n", R"({"x":[]})"),
            R"({"n":{"x":[]},"b":1})");
  EXPECT_EQ(replace_top_level_value(R"({"b":1,"n":null})", "n", "7"), R"({"b":1,"n":7})");
}

TEST(ReplaceTopLevelValue, OnlyReplacesTheTopLevelKey) {
  EXPECT_EQ(replace_top_level_value(R"({"a":{"model":"x"},"model":"y"})", "model", R"("z")"),
            R"({"a":{"model":"x"},"model":"z"})");
}

TEST(ReplaceTopLevelValue, ReplacesEveryMemberWithTheKey) {
  EXPECT_EQ(replace_top_level_value(R"({"a":1,"b":2,"a":[3]})", "a", "0"),
            R"({"a":0,"b":2,"a":0})");
}

TEST(ReplaceTopLevelValue, MatchesKeysSpelledWithEscapes) {
  EXPECT_EQ(replace_top_level_value(R"({"\u0061":1,"b\"":2,"\\":3})", "a", "0"),
            R"({"\u0061":0,"b\"":2,"\\":3})");
  EXPECT_EQ(replace_top_level_value(R"({"\u0061b":1})", "a", "0"), std::nullopt);
  EXPECT_EQ(replace_top_level_value(R"({"\x61":1})", "a", "0"), std::nullopt);
}

TEST(ReplaceTopLevelValue, ReplacesMembersBeforeAMalformation) {
  EXPECT_EQ(replace_top_level_value(R"({"a":1,"a":2 "b")", "a", "0"), R"({"a":0,"a":0 "b")");
}

TEST(ReplaceTopLevelValue, AbsentKeyOrMalformedJsonGivesNullopt) {
  EXPECT_EQ(replace_top_level_value(R"({"a":{"model":"x"}})", "model", "1"), std::nullopt);
  EXPECT_EQ(replace_top_level_value(R"({"a":1)", "model", "1"), std::nullopt);
  EXPECT_EQ(replace_top_level_value("not json", "model", "1"), std::nullopt);
}

// --- json_quote -------------------------------------------------------------------------------

TEST(JsonQuote, QuotesPlainText) { EXPECT_EQ(json_quote("gpt-4o"), R"("gpt-4o")"); }

TEST(JsonQuote, EscapesQuotesAndBackslashes) { EXPECT_EQ(json_quote(R"(a"b\c)"), R"("a\"b\\c")"); }

TEST(JsonQuote, EscapesControlCharacters) {
  const std::string text = std::string("l1\nl2\r\t") + '\x01' + '\x1f' + std::string(1, '\0');
  const auto quoted = json_quote(text);
  for (char c : quoted) {
    EXPECT_GE(static_cast<unsigned char>(c), 0x20) << "raw control character in " << quoted;
  }
  EXPECT_NE(quoted.find(R"(\n)"), std::string::npos);
  EXPECT_NE(quoted.find(R"(\r)"), std::string::npos);
  EXPECT_NE(quoted.find(R"(\t)"), std::string::npos);
  // It is a JSON string literal whose value is exactly the input.
  const auto parsed = boost::json::parse(quoted);
  ASSERT_TRUE(parsed.is_string());
  EXPECT_EQ(std::string_view(parsed.get_string()), text);
}

TEST(JsonQuote, KeepsUtf8AndRoundTrips) {
  const std::string text = "caf\xc3\xa9 \xe2\x82\xac";
  const auto quoted = json_quote(text);
  EXPECT_EQ(quoted, "\"" + text + "\"");
  EXPECT_EQ(std::string_view(boost::json::parse(quoted).get_string()), text);
}

TEST(JsonQuote, EmptyText) { EXPECT_EQ(json_quote(""), R"("")"); }

}  // namespace
}  // namespace shepherd::api
