#include "routing/strategy.hpp"

#include <array>
#include <cmath>
#include <limits>

namespace shepherd::routing {
namespace {

// Among the candidates with the smallest key, the next in turn.
template <typename Key>
std::size_t min_by(std::span<const Candidate> c, std::uint64_t turn, Key key) {
  double best = std::numeric_limits<double>::infinity();
  std::size_t ties = 0;
  for (const auto& x : c) {
    const double k = key(x);
    if (k < best) {
      best = k;
      ties = 1;
    } else if (k == best) {
      ++ties;
    }
  }
  if (ties == 0) return static_cast<std::size_t>(turn % c.size());  // every key was +inf/NaN
  auto pick = turn % ties;
  for (std::size_t i = 0; i < c.size(); ++i) {
    if (key(c[i]) == best && pick-- == 0) return i;
  }
  return 0;
}

}  // namespace

std::size_t choose(config::Strategy strategy, std::span<const Candidate> c,
                   const ChoiceSettings& settings, base::Random& random, std::uint64_t& cursor) {
  const auto turn = cursor++;
  if (c.size() == 1) return 0;
  switch (strategy) {
    case config::Strategy::kRoundRobin:
      return static_cast<std::size_t>(turn % c.size());
    case config::Strategy::kWeighted:
    case config::Strategy::kLottery: {
      // lottery is FastChat's name for it, a worker's speed being the deployment's weight.
      double total = 0;
      for (const auto& x : c) total += x.weight;
      double r = random.uniform() * total;
      for (std::size_t i = 0; i < c.size(); ++i) {
        r -= c[i].weight;
        if (r < 0) return i;
      }
      return c.size() - 1;
    }
    case config::Strategy::kLeastBusy:
      return min_by(c, turn, [](const Candidate& x) { return static_cast<double>(x.in_flight); });
    case config::Strategy::kShortestQueue:
      // FastChat's queue_length / speed, with requests in flight as the queue; ties in turn
      // (FastChat takes the first). A weight of 0 ranks last.
      return min_by(c, turn, [](const Candidate& x) {
        return x.weight > 0 ? static_cast<double>(x.in_flight) / x.weight
                            : std::numeric_limits<double>::infinity();
      });
    case config::Strategy::kLowestLatency:
      if (settings.exploration > 0 && random.uniform() < settings.exploration) {
        return static_cast<std::size_t>(random.below(c.size()));
      }
      return min_by(c, turn, [](const Candidate& x) { return x.latency.value_or(-1.0); });
    case config::Strategy::kCheapest: {
      if (settings.latency_bound) {
        const double bound = *settings.latency_bound;
        auto within = [&](const Candidate& x) { return !x.latency || *x.latency <= bound; };
        bool any = false;
        for (const auto& x : c) any |= within(x);
        if (any) {
          return min_by(c, turn, [&](const Candidate& x) {
            return within(x) ? x.price : std::numeric_limits<double>::infinity();
          });
        }
      }
      return min_by(c, turn, [](const Candidate& x) { return x.price; });
    }
  }
  return 0;
}

}  // namespace shepherd::routing
