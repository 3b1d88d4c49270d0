// What tokens cost.
#pragma once

#include "api/openai.hpp"

namespace shepherd::metering {

using api::Usage;

// Cost in US dollars for `usage` at prices per million input / output tokens; the prompt's
// cached tokens at `cached_input_per_million`.
double cost_usd(const Usage& usage, double input_per_million, double output_per_million,
                double cached_input_per_million);

}  // namespace shepherd::metering
