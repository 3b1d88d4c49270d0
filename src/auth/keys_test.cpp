#include "auth/keys.hpp"

#include <gtest/gtest.h>

namespace shepherd::auth {
namespace {

TEST(Keys, BearerTokenTakesAnyCaseOfTheScheme) {
  EXPECT_EQ(bearer_token("Bearer abc"), "abc");
  EXPECT_EQ(bearer_token("bearer abc"), "abc");
  EXPECT_FALSE(bearer_token("Bearer "));
  EXPECT_FALSE(bearer_token("Basic abc"));
  EXPECT_FALSE(bearer_token(""));
}

TEST(Keys, MatchesOnlyAConfiguredKey) {
  const auto keys = KeyDigests::of({"sk-one", "sk-two"}, "master");
  EXPECT_TRUE(bearer_matches("Bearer sk-two", keys.api_keys));
  EXPECT_FALSE(bearer_matches("Bearer sk-three", keys.api_keys));
  EXPECT_FALSE(bearer_matches("sk-one", keys.api_keys));
  ASSERT_TRUE(keys.master);
  EXPECT_TRUE(bearer_matches("Bearer master", std::span(&*keys.master, 1)));
  EXPECT_FALSE(KeyDigests::of({}, "").master);
}

}  // namespace
}  // namespace shepherd::auth
