#include "api/retry_after.hpp"

#include <gtest/gtest.h>

namespace shepherd::api {
namespace {

constexpr std::time_t kNow = 784111777;  // Sun, 06 Nov 1994 08:49:37 GMT

TEST(RetryAfter, ParsesDelaySeconds) {
  EXPECT_EQ(parse_retry_after("120", kNow), 120);
  EXPECT_EQ(parse_retry_after(" 7 ", kNow), 7);
  EXPECT_EQ(parse_retry_after("0", kNow), 0);
}

TEST(RetryAfter, ParsesImfFixdateRelativeToNow) {
  EXPECT_EQ(parse_retry_after("Sun, 06 Nov 1994 08:50:37 GMT", kNow), 60);
  EXPECT_EQ(parse_retry_after("Mon, 07 Nov 1994 08:49:37 GMT", kNow), 86400);
}

TEST(RetryAfter, DateInThePastMeansNow) {
  EXPECT_EQ(parse_retry_after("Sat, 05 Nov 1994 08:49:37 GMT", kNow), 0);
}

TEST(RetryAfter, RejectsGarbage) {
  EXPECT_FALSE(parse_retry_after("", kNow));
  EXPECT_FALSE(parse_retry_after("soon", kNow));
  EXPECT_FALSE(parse_retry_after("12s", kNow));
  EXPECT_FALSE(parse_retry_after("-5", kNow));
  EXPECT_FALSE(parse_retry_after("Sun, 06 Foo 1994 08:49:37 GMT", kNow));
  EXPECT_FALSE(parse_retry_after("Sun, 06 Nov 1994 08:49:37 UTC", kNow));
  EXPECT_FALSE(parse_retry_after("99999999999999999999999", kNow));
}

TEST(ResetDuration, ParsesOpenAiStyleDurations) {
  EXPECT_EQ(parse_reset_duration("1s"), 1000);
  EXPECT_EQ(parse_reset_duration("6m0s"), 360'000);
  EXPECT_EQ(parse_reset_duration("20ms"), 20);
  EXPECT_EQ(parse_reset_duration("1m30.5s"), 90'500);
  EXPECT_EQ(parse_reset_duration("2h"), 7'200'000);
  EXPECT_EQ(parse_reset_duration(" 0.25s "), 250);
}

TEST(ResetDuration, RejectsAnythingElse) {
  for (const char* bad : {"", "s", "1", "1x", "-1s", "1.2.3s", "abc", "1s2", "1 s", "ms"}) {
    EXPECT_FALSE(parse_reset_duration(bad).has_value()) << bad;
  }
}

}  // namespace
}  // namespace shepherd::api
