#include "metering/cost.hpp"

namespace shepherd::metering {

double cost_usd(const Usage& usage, double input_per_million, double output_per_million) {
  return (static_cast<double>(usage.prompt_tokens) * input_per_million +
          static_cast<double>(usage.completion_tokens) * output_per_million) /
         1e6;
}

}  // namespace shepherd::metering
