// Retry-After (RFC 9110 section 10.2.3): delay-seconds or an HTTP-date.
#pragma once

#include <ctime>
#include <optional>
#include <string_view>

namespace shepherd::api {

// Seconds to wait, from `value` at wall-clock time `now`; a date in the past gives 0. nullopt
// for anything else (garbage is ignored, as the RFC's recipients may).
std::optional<long> parse_retry_after(std::string_view value, std::time_t now);

// OpenAI's x-ratelimit-reset-requests / -tokens: a Go-style duration ("1s", "6m0s", "20ms",
// "1m30.5s", "2h"), in milliseconds. nullopt for anything else.
std::optional<long> parse_reset_duration(std::string_view value);

}  // namespace shepherd::api
