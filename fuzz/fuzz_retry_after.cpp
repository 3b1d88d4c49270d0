// The upstream's wait hints: Retry-After (RFC 9110) and x-ratelimit-reset-* durations never crash
// the parsers and never yield a negative wait.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "api/retry_after.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view value(reinterpret_cast<const char*>(data), size);
  auto seconds = shepherd::api::parse_retry_after(value, 1'700'000'000);
  if (seconds && *seconds < 0) std::abort();
  auto ms = shepherd::api::parse_reset_duration(value);
  if (ms && *ms < 0) std::abort();
  return 0;
}
