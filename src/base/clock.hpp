// Wall-clock time as the records keep it.
#pragma once

#include <chrono>
#include <cstdint>

namespace shepherd::base {

// Now, in Unix milliseconds (UTC).
inline std::int64_t unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Now, in Unix microseconds (UTC).
inline std::int64_t unix_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace shepherd::base
