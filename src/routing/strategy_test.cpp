#include "routing/strategy.hpp"

#include <gtest/gtest.h>

#include <array>
#include <optional>
#include <vector>

namespace shepherd::routing {
namespace {

using config::Strategy;

Candidate candidate(std::size_t deployment) {
  Candidate c;
  c.deployment = deployment;
  return c;
}

std::vector<Candidate> candidates(std::size_t n) {
  std::vector<Candidate> out;
  for (std::size_t i = 0; i < n; ++i) out.push_back(candidate(i));
  return out;
}

ChoiceSettings no_exploration() {
  ChoiceSettings s;
  s.exploration = 0;
  return s;
}

// The positions chosen by `n` calls.
std::vector<std::size_t> choices(Strategy strategy, const std::vector<Candidate>& c, int n,
                                 const ChoiceSettings& settings = no_exploration(),
                                 std::uint64_t seed = 1) {
  base::Random random(seed);
  std::uint64_t cursor = 0;
  std::vector<std::size_t> out;
  for (int i = 0; i < n; ++i) out.push_back(choose(strategy, c, settings, random, cursor));
  return out;
}

using Positions = std::vector<std::size_t>;

TEST(Choose, SingleCandidateIsAlwaysChosenAndTheCursorStillAdvances) {
  base::Random random(1);
  std::uint64_t cursor = 7;
  const auto c = candidates(1);
  for (auto s :
       {Strategy::kRoundRobin, Strategy::kWeighted, Strategy::kLeastBusy, Strategy::kLowestLatency,
        Strategy::kCheapest, Strategy::kLottery, Strategy::kShortestQueue}) {
    EXPECT_EQ(choose(s, c, ChoiceSettings{}, random, cursor), 0u);
  }
  EXPECT_EQ(cursor, 14u);
}

TEST(RoundRobin, CyclesInOrder) {
  EXPECT_EQ(choices(Strategy::kRoundRobin, candidates(3), 7), (Positions{0, 1, 2, 0, 1, 2, 0}));
}

TEST(RoundRobin, ContinuesFromTheCursor) {
  base::Random random(1);
  std::uint64_t cursor = 4;
  const auto c = candidates(3);
  EXPECT_EQ(choose(Strategy::kRoundRobin, c, no_exploration(), random, cursor), 1u);
  EXPECT_EQ(cursor, 5u);
  EXPECT_EQ(choose(Strategy::kRoundRobin, c, no_exploration(), random, cursor), 2u);
}

TEST(Weighted, DistributionFollowsTheWeights) {
  auto c = candidates(3);
  c[0].weight = 1;
  c[1].weight = 3;
  c[2].weight = 6;
  constexpr int kDraws = 10000;
  std::array<int, 3> counts{};
  for (auto i : choices(Strategy::kWeighted, c, kDraws, no_exploration(), 42)) ++counts[i];
  // Four standard deviations of a binomial with p = 0.6 over 10000 draws is about 0.02.
  EXPECT_NEAR(counts[0] / double(kDraws), 0.1, 0.02);
  EXPECT_NEAR(counts[1] / double(kDraws), 0.3, 0.02);
  EXPECT_NEAR(counts[2] / double(kDraws), 0.6, 0.02);
}

TEST(Weighted, SameSeedMakesTheSameChoices) {
  auto c = candidates(4);
  for (std::size_t i = 0; i < c.size(); ++i) c[i].weight = double(i + 1);
  EXPECT_EQ(choices(Strategy::kWeighted, c, 50, no_exploration(), 7),
            choices(Strategy::kWeighted, c, 50, no_exploration(), 7));
  EXPECT_NE(choices(Strategy::kWeighted, c, 50, no_exploration(), 7),
            choices(Strategy::kWeighted, c, 50, no_exploration(), 8));
}

TEST(Lottery, DrawsAsWeightedDoesWithWeightsAsSpeeds) {
  auto c = candidates(3);
  c[0].weight = 1;
  c[1].weight = 3;
  c[2].weight = 0;
  EXPECT_EQ(choices(Strategy::kLottery, c, 200, no_exploration(), 9),
            choices(Strategy::kWeighted, c, 200, no_exploration(), 9));
  for (auto i : choices(Strategy::kLottery, c, 200, no_exploration(), 9)) EXPECT_NE(i, 2u);
}

TEST(ShortestQueue, PicksTheLeastInFlightPerWeight) {
  auto c = candidates(3);
  c[0].in_flight = 2;  // 2 / 1
  c[0].weight = 1;
  c[1].in_flight = 3;  // 3 / 2: the shortest
  c[1].weight = 2;
  c[2].in_flight = 0;  // weight 0 ranks last, even idle
  c[2].weight = 0;
  EXPECT_EQ(choices(Strategy::kShortestQueue, c, 3), (Positions{1, 1, 1}));
  c[1].in_flight = 4;  // 4 / 2 ties with 2 / 1: in turn
  EXPECT_EQ(choices(Strategy::kShortestQueue, c, 4), (Positions{0, 1, 0, 1}));
}

TEST(LeastBusy, PicksTheFewestInFlight) {
  auto c = candidates(3);
  c[0].in_flight = 5;
  c[1].in_flight = 2;
  c[2].in_flight = 7;
  EXPECT_EQ(choices(Strategy::kLeastBusy, c, 5), (Positions{1, 1, 1, 1, 1}));
}

TEST(LeastBusy, RotatesAmongTies) {
  auto c = candidates(4);
  c[0].in_flight = 3;
  c[1].in_flight = 1;
  c[2].in_flight = 4;
  c[3].in_flight = 1;
  EXPECT_EQ(choices(Strategy::kLeastBusy, c, 4), (Positions{1, 3, 1, 3}));
}

TEST(LowestLatency, PrefersUnmeasuredDeployments) {
  auto c = candidates(3);
  c[0].latency = 0.1;
  c[2].latency = 0.5;
  EXPECT_EQ(choices(Strategy::kLowestLatency, c, 3), (Positions{1, 1, 1}));
}

TEST(LowestLatency, RotatesAmongUnmeasuredDeployments) {
  auto c = candidates(3);
  c[1].latency = 0.01;
  EXPECT_EQ(choices(Strategy::kLowestLatency, c, 4), (Positions{0, 2, 0, 2}));
}

TEST(LowestLatency, PicksTheLowestMeasured) {
  auto c = candidates(3);
  c[0].latency = 0.3;
  c[1].latency = 0.1;
  c[2].latency = 0.5;
  EXPECT_EQ(choices(Strategy::kLowestLatency, c, 4), (Positions{1, 1, 1, 1}));
}

TEST(LowestLatency, ExplorationSendsThatShareToARandomDeployment) {
  auto c = candidates(5);
  for (std::size_t i = 0; i < c.size(); ++i) c[i].latency = 1.0 + double(i);
  c[2].latency = 0.1;  // the best
  ChoiceSettings settings;
  settings.exploration = 0.2;
  constexpr int kDraws = 5000;
  std::array<int, 5> counts{};
  for (auto i : choices(Strategy::kLowestLatency, c, kDraws, settings, 3)) ++counts[i];
  // A random choice lands on the best one a fifth of the time: 0.2 * 4/5 go elsewhere.
  const double non_best = double(kDraws - counts[2]) / kDraws;
  EXPECT_NEAR(non_best, 0.16, 0.03);
  for (std::size_t i : {0u, 1u, 3u, 4u}) {
    EXPECT_NEAR(counts[i] / double(kDraws), 0.04, 0.015) << "candidate " << i;
  }
}

TEST(LowestLatency, NoExplorationNeverLeavesTheBest) {
  auto c = candidates(2);
  c[0].latency = 0.5;
  c[1].latency = 0.2;
  for (auto i : choices(Strategy::kLowestLatency, c, 1000)) ASSERT_EQ(i, 1u);
}

TEST(Cheapest, PicksTheLowestPrice) {
  auto c = candidates(3);
  c[0].price = 3;
  c[1].price = 1;
  c[2].price = 2;
  EXPECT_EQ(choices(Strategy::kCheapest, c, 3), (Positions{1, 1, 1}));
}

TEST(Cheapest, IgnoresLatencyWithoutABound) {
  auto c = candidates(2);
  c[0].price = 1;
  c[0].latency = 30;
  c[1].price = 2;
  c[1].latency = 0.1;
  EXPECT_EQ(choices(Strategy::kCheapest, c, 2), (Positions{0, 0}));
}

TEST(Cheapest, RespectsTheLatencyBound) {
  auto c = candidates(3);
  c[0].price = 1;
  c[0].latency = 2.0;  // too slow
  c[1].price = 2;
  c[1].latency = 0.5;
  c[2].price = 3;
  c[2].latency = 0.1;
  ChoiceSettings settings = no_exploration();
  settings.latency_bound = 1.0;
  EXPECT_EQ(choices(Strategy::kCheapest, c, 3, settings), (Positions{1, 1, 1}));
}

TEST(Cheapest, UnmeasuredCountsAsWithinTheBound) {
  auto c = candidates(2);
  c[0].price = 1;  // never measured
  c[1].price = 2;
  c[1].latency = 0.1;
  ChoiceSettings settings = no_exploration();
  settings.latency_bound = 1.0;
  EXPECT_EQ(choices(Strategy::kCheapest, c, 2, settings), (Positions{0, 0}));
}

TEST(Cheapest, IgnoresTheBoundWhenNoCandidateMeetsIt) {
  auto c = candidates(3);
  c[0].price = 2;
  c[0].latency = 3.0;
  c[1].price = 1;
  c[1].latency = 5.0;
  c[2].price = 3;
  c[2].latency = 2.0;
  ChoiceSettings settings = no_exploration();
  settings.latency_bound = 1.0;
  EXPECT_EQ(choices(Strategy::kCheapest, c, 2, settings), (Positions{1, 1}));
}

TEST(Cheapest, RotatesAmongEquallyCheap) {
  auto c = candidates(3);
  c[0].price = 1;
  c[1].price = 5;
  c[2].price = 1;
  EXPECT_EQ(choices(Strategy::kCheapest, c, 4), (Positions{0, 2, 0, 2}));
}

}  // namespace
}  // namespace shepherd::routing
