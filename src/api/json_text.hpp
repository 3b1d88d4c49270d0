// JSON text for people as well as programs: Boost.JSON's serializer writes every double in
// exponent form (1 as "1E0", 0.5 as "5E-1"); here doubles take their shortest decimal form
// ("1", "0.5", "7.2e-05"). For answers people read: /stats, the admin API, the CLI.
#pragma once

#include <boost/json/value.hpp>
#include <string>

namespace shepherd::api {

std::string json_text(const boost::json::value& value);

// `v` rounded to `decimals` places (for figures such as latencies and rates).
double rounded(double v, int decimals);

}  // namespace shepherd::api
