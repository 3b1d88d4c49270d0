// Strategies: which of a model's available deployments gets the next request. Pure functions
// over a snapshot of the candidates; the caller supplies the random source and the
// round-robin cursor so tests can replay every choice.
#pragma once

#include <cstdint>
#include <optional>
#include <span>

#include "base/random.hpp"
#include "config/config.hpp"

namespace shepherd::routing {

struct Candidate {
  std::size_t deployment = 0;  // index into the model's deployments
  double weight = 1;
  double price = 0;  // USD per 1M prompt + completion tokens
  std::uint32_t in_flight = 0;
  std::optional<double> latency;  // seconds; nullopt before any sample
};

struct ChoiceSettings {
  // lowest-latency: share of choices made at random, so a recovered deployment is noticed.
  double exploration = 0.05;
  // cheapest: prefer deployments whose measured latency is within this bound (seconds).
  std::optional<double> latency_bound;
};

// The position in `candidates` (non-empty) to use. `cursor` advances on every call; ties and
// round-robin use it.
//  - round-robin: in turn.
//  - weighted: at random, in proportion to weight.
//  - least-busy: fewest requests in flight.
//  - lowest-latency: smallest measured latency; never-measured deployments first; with
//    probability `exploration` any candidate at random.
//  - cheapest: lowest price; with a latency bound, among those measured within it (unmeasured
//    ones count as within), unless none is.
std::size_t choose(config::Strategy strategy, std::span<const Candidate> candidates,
                   const ChoiceSettings& settings, base::Random& random, std::uint64_t& cursor);

}  // namespace shepherd::routing
