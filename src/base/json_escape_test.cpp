#include "base/json_escape.hpp"

#include <gtest/gtest.h>

#include <string>

namespace shepherd::base {
namespace {

std::string escaped(std::string_view s) {
  std::string out;
  append_json_escaped(out, s);
  return out;
}

TEST(JsonEscape, PlainTextPassesAsItIs) {
  EXPECT_EQ(escaped("gpt-4.1 says hi"), "gpt-4.1 says hi");
  EXPECT_EQ(escaped(""), "");
  EXPECT_EQ(escaped("Zoë 東京 🦙"), "Zoë 東京 🦙");  // well-formed UTF-8 stays
}

TEST(JsonEscape, QuotesBackslashesAndControlsAreEscaped) {
  EXPECT_EQ(escaped("a\"b\\c"), "a\\\"b\\\\c");
  EXPECT_EQ(escaped("line\nbreak\r\ttab"), "line\\nbreak\\r\\ttab");
  EXPECT_EQ(escaped(std::string("nul\0x\x1f", 6)), "nul\\u0000x\\u001f");
}

TEST(JsonEscape, BytesThatAreNotUtf8BecomeTheReplacementCharacter) {
  EXPECT_EQ(escaped("bad\xff\xfe!"), "bad\\ufffd\\ufffd!");
  EXPECT_EQ(escaped("\xc3"), "\\ufffd");                        // cut in the middle of a character
  EXPECT_EQ(escaped("\xc0\xaf"), "\\ufffd\\ufffd");             // overlong
  EXPECT_EQ(escaped("\xed\xa0\x80"), "\\ufffd\\ufffd\\ufffd");  // a surrogate
  EXPECT_EQ(escaped("\xf4\x90\x80\x80"), "\\ufffd\\ufffd\\ufffd\\ufffd");  // past U+10FFFF
  EXPECT_EQ(escaped("ok \xe2\x82\xac"), "ok \xe2\x82\xac");                // the euro sign
}

}  // namespace
}  // namespace shepherd::base
