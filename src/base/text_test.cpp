#include "base/text.hpp"

#include <gtest/gtest.h>

namespace shepherd::base {
namespace {

using CodePoint = std::pair<std::uint32_t, std::size_t>;
const CodePoint kBad{kInvalidCodePoint, 1};

TEST(DecodeUtf8, ReadsEachLengthOfSequence) {
  EXPECT_EQ(decode_utf8("A", 0), (CodePoint{'A', 1}));
  EXPECT_EQ(decode_utf8("\xC3\xA9", 0), (CodePoint{0xE9, 2}));              // é
  EXPECT_EQ(decode_utf8("x\xE4\xB8\x96", 1), (CodePoint{0x4E16, 3}));       // 世
  EXPECT_EQ(decode_utf8("\xF0\x9F\x90\x91", 0), (CodePoint{0x1F411, 4}));   // 🐑
  EXPECT_EQ(decode_utf8(std::string_view("\0", 1), 0), (CodePoint{0, 1}));  // NUL is a code point
}

TEST(DecodeUtf8, RefusesWhatRfc3629Forbids) {
  EXPECT_EQ(decode_utf8("\xC0\xAF", 0), kBad);          // overlong '/'
  EXPECT_EQ(decode_utf8("\xE0\x80\xAF", 0), kBad);      // overlong, three bytes
  EXPECT_EQ(decode_utf8("\xED\xA0\x80", 0), kBad);      // a surrogate
  EXPECT_EQ(decode_utf8("\xF4\x90\x80\x80", 0), kBad);  // above U+10FFFF
  EXPECT_EQ(decode_utf8("\xE4\xB8", 0), kBad);          // cut short
  EXPECT_EQ(decode_utf8("\xC3(", 0), kBad);             // not a continuation byte
  EXPECT_EQ(decode_utf8("\x80", 0), kBad);              // a lone continuation byte
  EXPECT_EQ(decode_utf8("\xFF", 0), kBad);
}

TEST(JsonShortEscape, HasTheSevenOfRfc8259AndNothingElse) {
  EXPECT_EQ(json_short_escape('"'), "\\\"");
  EXPECT_EQ(json_short_escape('\\'), "\\\\");
  EXPECT_EQ(json_short_escape('\n'), "\\n");
  EXPECT_EQ(json_short_escape('\r'), "\\r");
  EXPECT_EQ(json_short_escape('\t'), "\\t");
  EXPECT_EQ(json_short_escape('\b'), "\\b");
  EXPECT_EQ(json_short_escape('\f'), "\\f");
  EXPECT_EQ(json_short_escape('/'), "");
  EXPECT_EQ(json_short_escape(0x01), "");
  EXPECT_EQ(json_short_escape('a'), "");
}

}  // namespace
}  // namespace shepherd::base

namespace shepherd::base {
namespace {

TEST(Split, TrimsItemsAndLeavesOutEmptyOnes) {
  EXPECT_EQ(split(" a, b ,,c ", ','), (std::vector<std::string_view>{"a", "b", "c"}));
  EXPECT_EQ(split("x=3,4;y=5", ';'), (std::vector<std::string_view>{"x=3,4", "y=5"}));
  EXPECT_TRUE(split("", ',').empty());
  EXPECT_TRUE(split(" , ", ',').empty());
  EXPECT_EQ(split("one\ntwo\n", '\n'), (std::vector<std::string_view>{"one", "two"}));
  EXPECT_EQ(trim("\t a b \t"), "a b");
}

TEST(ReleaseIdle, FreesOnlyEmptyStringsGrownPastTheBound) {
  std::string grown(10'000, 'x');
  grown.clear();
  release_idle(grown, 4096);
  EXPECT_LE(grown.capacity(), 4096u);
  std::string full(10'000, 'x');
  release_idle(full, 4096);
  EXPECT_EQ(full.size(), 10'000u);
  std::string small;
  small.reserve(1000);
  release_idle(small, 4096);
  EXPECT_GE(small.capacity(), 1000u);  // kept: no allocation per piece
}

}  // namespace
}  // namespace shepherd::base
