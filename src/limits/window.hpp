// Arithmetic on the minute windows and Retry-After values that both limiters share.
#pragma once

#include <algorithm>

#include "storage/records.hpp"

namespace shepherd::limits {

constexpr storage::Millis kWindowMs = 60'000;

// The start of the one-minute window holding `now` (windows align to the Unix epoch's minutes).
constexpr storage::Millis window_start(storage::Millis now) {
  storage::Millis q = now / kWindowMs;
  if (now % kWindowMs < 0) --q;
  return q * kWindowMs;
}

// Whole seconds from `now` until `end`, rounded up and at least 1: a Retry-After of 0 invites an
// immediate retry that would be refused again.
constexpr long seconds_until(storage::Millis end, storage::Millis now) {
  return static_cast<long>(std::max<storage::Millis>(1, (end - now + 999) / 1000));
}

}  // namespace shepherd::limits
