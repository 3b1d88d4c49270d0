#include "metering/cost.hpp"

#include <algorithm>

namespace shepherd::metering {

double cost_usd(const Usage& usage, double input_per_million, double output_per_million,
                double cached_input_per_million) {
  const auto cached = std::clamp<std::int64_t>(usage.cached_tokens, 0, usage.prompt_tokens);
  return (static_cast<double>(usage.prompt_tokens - cached) * input_per_million +
          static_cast<double>(cached) * cached_input_per_million +
          static_cast<double>(usage.completion_tokens) * output_per_million) /
         1e6;
}

}  // namespace shepherd::metering
