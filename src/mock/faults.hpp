// Fault injection, as decisions: the parsed spec (MockOptions::fault or a request's x-mock-fault;
// grammar and semantics in mock_upstream.hpp), which chat requests it applies to (fail-rate, then
// fail-first) and which stream fault is due after N content chunks. The HTTP shell carries the
// decisions out (waits, resets, writes) and the dialect renders any bodies, so nothing here does
// I/O or knows a provider's JSON. parse_fault_spec and the stream queries are pure; one
// FaultSelector is shared by all worker threads.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <random>
#include <string>
#include <string_view>

#include "base/result.hpp"

namespace shepherd::mock::detail {

// The longest delay anywhere: options, per-request headers, slow-headers.
constexpr std::int64_t kMaxDelayMs = 3600 * 1000;

struct FaultSpec {
  int status = 0;  // 0: none
  std::string retry_after;
  bool reset = false;
  bool redirect = false;
  bool no_usage = false;
  std::int64_t slow_headers_ms = 0;
  // Stream faults: the number of content chunks after which they fire; -1: not set.
  std::int64_t stall_after = -1;
  std::int64_t reset_after = -1;
  std::int64_t cut_after = -1;
  std::int64_t malformed_after = -1;
  std::int64_t error_event_after = -1;
  std::int64_t big_chunk = -1;   // bytes; -1: not set
  std::int64_t fail_first = -1;  // -1: not set
  std::int64_t fail_rate = -1;   // percent; -1: not set
  // ratelimit=REMAINING/RESET: REMAINING (-1: not set), RESET verbatim, and RESET as a duration
  // in milliseconds (-1 when it is not one). The request's dialect renders the headers.
  std::int64_t ratelimit_remaining = -1;
  std::string ratelimit_reset;
  std::int64_t ratelimit_reset_ms = -1;
};

// What a request that no fault applies to acts on.
extern const FaultSpec kNoFault;

// An error (kBadRequest) names the offending item; its message is sent in a 400 as it is.
base::Result<FaultSpec> parse_fault_spec(std::string_view spec);

// Whether the spec makes the answer wait or misbehave before its status line: such a request
// leaves the fast path that answers synchronously.
inline bool acts_before_answer(const FaultSpec& f) {
  return f.status != 0 || f.reset || f.redirect || f.slow_headers_ms != 0;
}

// fail-rate's draws and fail-first's count, for all threads: one generator, so that a seed fixes
// the sequence of selections (in request order) whatever thread serves each request.
class FaultSelector {
 public:
  // At start and at /mock/reset: re-seeds the generator and zeroes fail-first's count.
  void reset(std::uint64_t seed);

  // The faults one chat request acts on, once it has passed validation: `spec`, or kNoFault when
  // fail-rate or fail-first spares it. fail-rate draws first; only a request it selects counts
  // for fail-first.
  const FaultSpec& select(const FaultSpec& spec);

 private:
  std::mutex mutex_;
  std::mt19937_64 engine_;
  std::atomic<std::uint64_t> fail_first_seen_{0};
};

// How a stream fault ends the body; see mock_upstream.hpp for each.
enum class StreamEnd { kNone, kErrorEvent, kCut, kReset, kStall };

// The stream faults due after `sent` of `total` content chunks (sent runs 0..total). One set at
// or beyond `total` fires after the last content chunk. A malformed event goes out first, then
// at most one StreamEnd acts, in the order of the enum.
bool malformed_due(const FaultSpec& f, std::int64_t sent, std::int64_t total);
StreamEnd stream_end_due(const FaultSpec& f, std::int64_t sent, std::int64_t total);

// RESET of ratelimit= as milliseconds when it is a duration: one or more <number><unit> with unit
// h, m, s or ms and the number a decimal, optionally with a fraction ("2s", "1m30s", "250ms",
// "1.5s"), as OpenAI writes its reset headers; else -1.
std::int64_t parse_duration_ms(std::string_view text);

// The header lines (CRLFs included) of the redirect answer and of the status=CODE answer, and the
// latter's error message. The ratelimit= headers are not among them: they are the dialect's.
void append_redirect_headers(std::string& out, const FaultSpec& f);
void append_status_headers(std::string& out, const FaultSpec& f);
void append_status_message(std::string& out, const FaultSpec& f);

}  // namespace shepherd::mock::detail
