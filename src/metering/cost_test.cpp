#include "metering/cost.hpp"

#include <gtest/gtest.h>

namespace shepherd::metering {
namespace {

Usage usage(std::int64_t prompt, std::int64_t completion) {
  return Usage{prompt, completion, prompt + completion, 0, 0};
}

TEST(CostUsd, PricesInputTokensPerMillion) {
  EXPECT_DOUBLE_EQ(cost_usd(usage(1'000'000, 0), 2.5, 10, 2.5), 2.5);
  EXPECT_DOUBLE_EQ(cost_usd(usage(2'000, 0), 2.5, 10, 2.5), 0.005);
}

TEST(CostUsd, PricesOutputTokensPerMillion) {
  EXPECT_DOUBLE_EQ(cost_usd(usage(0, 1'000'000), 2.5, 10, 2.5), 10.0);
  EXPECT_DOUBLE_EQ(cost_usd(usage(0, 500), 2.5, 10, 2.5), 0.005);
}

TEST(CostUsd, SumsInputAndOutput) {
  // 1000 * 2.5 / 1e6 + 500 * 10 / 1e6 = 0.0025 + 0.005
  EXPECT_DOUBLE_EQ(cost_usd(usage(1'000, 500), 2.5, 10, 2.5), 0.0075);
  EXPECT_DOUBLE_EQ(cost_usd(usage(3, 7), 1'000'000, 2'000'000, 1'000'000), 17.0);
}

TEST(CostUsd, UsesPromptAndCompletionNotTotal) {
  const Usage u{100, 50, 999'999, 0, 0};
  EXPECT_DOUBLE_EQ(cost_usd(u, 1, 2, 1), (100 * 1 + 50 * 2) / 1e6);
}

TEST(CostUsd, InputAndOutputPricesAreNotSwapped) {
  EXPECT_DOUBLE_EQ(cost_usd(usage(1'000'000, 0), 1, 100, 1), 1.0);
  EXPECT_DOUBLE_EQ(cost_usd(usage(0, 1'000'000), 1, 100, 1), 100.0);
}

TEST(CostUsd, ZeroForFreeModelsOrNoTokens) {
  EXPECT_EQ(cost_usd(usage(123'456, 7'890), 0, 0, 0), 0.0);
  EXPECT_EQ(cost_usd(usage(0, 0), 5, 15, 5), 0.0);
}

TEST(CostUsd, LargeTokenCountsKeepPrecision) {
  // 10 billion tokens at $0.15 and $0.60 per million.
  EXPECT_NEAR(cost_usd(usage(10'000'000'000, 10'000'000'000), 0.15, 0.60, 0.15), 7'500.0, 1e-6);
}

TEST(CostUsd, CachedPromptTokensAtTheCachedPrice) {
  // 1000 prompt tokens of which 800 cached: 200 at $3, 800 at $0.30, 100 completion at $15.
  Usage u = usage(1'000, 100);
  u.cached_tokens = 800;
  EXPECT_NEAR(cost_usd(u, 3, 15, 0.3), (200 * 3 + 800 * 0.3 + 100 * 15) / 1e6, 1e-15);
  // A report of more cached than prompt tokens prices no more than the prompt.
  u.cached_tokens = 5'000;
  EXPECT_NEAR(cost_usd(u, 3, 15, 0.3), (1'000 * 0.3 + 100 * 15) / 1e6, 1e-15);
}

TEST(CostUsd, FractionalPrices) {
  EXPECT_NEAR(cost_usd(usage(1, 1), 0.075, 0.3, 0.075), 0.000000375, 1e-18);
}

}  // namespace
}  // namespace shepherd::metering
