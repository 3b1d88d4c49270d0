// What tokens cost.
#pragma once

#include "api/openai.hpp"

namespace shepherd::metering {

using api::Usage;

// Cost in US dollars for `usage` at prices per million input / output tokens.
double cost_usd(const Usage& usage, double input_per_million, double output_per_million);

}  // namespace shepherd::metering
