// Retry-After parsing never crashes and never yields a negative delay.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "api/retry_after.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view value(reinterpret_cast<const char*>(data), size);
  auto seconds = shepherd::api::parse_retry_after(value, 1'700'000'000);
  if (seconds && *seconds < 0) std::abort();
  return 0;
}
