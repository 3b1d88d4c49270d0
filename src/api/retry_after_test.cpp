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

}  // namespace
}  // namespace shepherd::api
