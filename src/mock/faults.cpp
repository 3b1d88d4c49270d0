// Fault injection decisions; see faults.hpp.
#include "mock/faults.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <system_error>
#include <utility>

#include "mock/text.hpp"

namespace shepherd::mock::detail {
namespace {

constexpr std::int64_t kMaxCount = 1000000000;
constexpr std::int64_t kMaxBigChunk = 64 * 1024 * 1024;
constexpr std::string_view kRedirectLocation = "http://127.0.0.1:1/elsewhere";

base::Error fault_error(std::string_view what, std::string_view item) {
  std::string message(what);
  message.append(" '");
  message.append(item);
  message.append(
      "' in the fault spec (items: status=CODE, retry-after=VALUE, reset, redirect, "
      "slow-headers=MS, stall-after=N, reset-after=N, cut-after=N, malformed-after=N, "
      "error-event-after=N, no-usage, big-chunk=BYTES, fail-first=N, fail-rate=PCT, "
      "ratelimit=REMAINING/RESET)");
  return base::make_error(base::ErrorCode::kBadRequest, std::move(message));
}

// Whether a stream fault set to fire after `after` content chunks fires after `sent`.
bool fires(std::int64_t after, std::int64_t sent, std::int64_t total) {
  return after >= 0 && (after == sent || (sent == total && after > total));
}

}  // namespace

const FaultSpec kNoFault{};

base::Result<FaultSpec> parse_fault_spec(std::string_view spec) {
  FaultSpec f;
  bool has_retry_after = false;
  while (!spec.empty()) {
    const auto comma = spec.find(',');
    std::string_view item = trim(spec.substr(0, comma));
    spec = comma == std::string_view::npos ? std::string_view() : spec.substr(comma + 1);
    if (item.empty()) continue;
    const auto eq = item.find('=');
    const std::string_view key = trim(item.substr(0, eq));
    const std::string_view value =
        eq == std::string_view::npos ? std::string_view() : trim(item.substr(eq + 1));
    const bool has_value = eq != std::string_view::npos;

    if (key == "reset" || key == "redirect" || key == "no-usage") {
      if (has_value) return fault_error("unexpected value in mock fault item", item);
      if (key == "reset") f.reset = true;
      if (key == "redirect") f.redirect = true;
      if (key == "no-usage") f.no_usage = true;
      continue;
    }
    if (key == "retry-after") {
      std::string_view v = value;
      // An HTTP-date ("Wed, 21 Oct 2015 07:28:00 GMT") has a comma after the day name.
      const bool day_name = v.size() == 3 && std::all_of(v.begin(), v.end(), [](char c) {
                              return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
                            });
      std::string joined(v);
      if (day_name && !spec.empty()) {
        const auto next_comma = spec.find(',');
        joined.append(",");
        joined.append(spec.substr(0, next_comma));
        spec =
            next_comma == std::string_view::npos ? std::string_view() : spec.substr(next_comma + 1);
      }
      const bool printable = std::all_of(joined.begin(), joined.end(), [](char c) {
        return static_cast<unsigned char>(c) >= 0x20 && c != 0x7f;
      });
      if (joined.empty() || !printable) {
        return fault_error("invalid value in mock fault item", item);
      }
      f.retry_after = std::move(joined);
      has_retry_after = true;
      continue;
    }
    if (key == "ratelimit") {
      // REMAINING/RESET: RESET is sent verbatim, so it must be a token a header value can carry.
      const auto slash = value.find('/');
      const std::string_view reset =
          slash == std::string_view::npos ? std::string_view() : value.substr(slash + 1);
      const bool reset_ok = !reset.empty() && std::all_of(reset.begin(), reset.end(), [](char c) {
        return c > 0x20 && c < 0x7f && c != ',';
      });
      const std::string_view remaining_text = value.substr(0, slash);
      const bool remaining_digits =
          !remaining_text.empty() && std::all_of(remaining_text.begin(), remaining_text.end(),
                                                 [](char c) { return c >= '0' && c <= '9'; });
      const auto remaining = parse_count(remaining_text, kMaxCount);
      if (!reset_ok || !remaining_digits || !remaining) {
        return fault_error("invalid value (REMAINING/RESET) in mock fault item", item);
      }
      f.ratelimit_remaining = *remaining;
      f.ratelimit_reset.assign(reset);
      f.ratelimit_reset_ms = parse_duration_ms(reset);
      continue;
    }
    if (key == "status") {
      const auto code = parse_count(value, 599);
      if (!code || *code < 400)
        return fault_error("invalid value (400..599) in mock fault item", item);
      f.status = static_cast<int>(*code);
      continue;
    }
    struct CountItem {
      std::string_view key;
      std::int64_t FaultSpec::*field;
      std::int64_t max;
    };
    static constexpr std::array<CountItem, 9> kCountItems = {{
        {"slow-headers", &FaultSpec::slow_headers_ms, kMaxDelayMs},
        {"stall-after", &FaultSpec::stall_after, kMaxCount},
        {"reset-after", &FaultSpec::reset_after, kMaxCount},
        {"cut-after", &FaultSpec::cut_after, kMaxCount},
        {"malformed-after", &FaultSpec::malformed_after, kMaxCount},
        {"error-event-after", &FaultSpec::error_event_after, kMaxCount},
        {"big-chunk", &FaultSpec::big_chunk, kMaxBigChunk},
        {"fail-first", &FaultSpec::fail_first, kMaxCount},
        {"fail-rate", &FaultSpec::fail_rate, 100},
    }};
    const auto it = std::find_if(kCountItems.begin(), kCountItems.end(),
                                 [&](const CountItem& c) { return c.key == key; });
    if (it == kCountItems.end()) return fault_error("unknown mock fault item", item);
    const auto n = parse_count(value, it->max);
    if (!n) return fault_error("invalid value in mock fault item", item);
    f.*(it->field) = *n;
  }
  if (has_retry_after && f.status == 0) {
    return fault_error("mock fault item needs status=CODE:", "retry-after");
  }
  return f;
}

void FaultSelector::reset(std::uint64_t seed) {
  fail_first_seen_ = 0;
  std::lock_guard lock(mutex_);
  engine_.seed(seed);
}

const FaultSpec& FaultSelector::select(const FaultSpec& spec) {
  const FaultSpec* f = &spec;
  if (f->fail_rate >= 0) {
    std::uint64_t x = 0;
    {
      std::lock_guard lock(mutex_);
      x = engine_();
    }
    if (static_cast<std::int64_t>(x % 100) >= f->fail_rate) f = &kNoFault;
  }
  if (f->fail_first >= 0) {
    const auto seen = fail_first_seen_.fetch_add(1, std::memory_order_relaxed);
    if (seen >= static_cast<std::uint64_t>(f->fail_first)) f = &kNoFault;
  }
  return *f;
}

bool malformed_due(const FaultSpec& f, std::int64_t sent, std::int64_t total) {
  return fires(f.malformed_after, sent, total);
}

StreamEnd stream_end_due(const FaultSpec& f, std::int64_t sent, std::int64_t total) {
  if (fires(f.error_event_after, sent, total)) return StreamEnd::kErrorEvent;
  if (fires(f.cut_after, sent, total)) return StreamEnd::kCut;
  if (fires(f.reset_after, sent, total)) return StreamEnd::kReset;
  if (fires(f.stall_after, sent, total)) return StreamEnd::kStall;
  return StreamEnd::kNone;
}

std::int64_t parse_duration_ms(std::string_view text) {
  if (text.empty()) return -1;
  double total = 0;
  while (!text.empty()) {
    std::size_t n = 0;
    while (n < text.size() && ((text[n] >= '0' && text[n] <= '9') || text[n] == '.')) ++n;
    double number = 0;
    const auto [ptr, ec] = std::from_chars(text.data(), text.data() + n, number);
    if (n == 0 || ec != std::errc() || ptr != text.data() + n) return -1;
    text.remove_prefix(n);
    double unit = 0;
    if (text.starts_with("ms")) {
      unit = 1;
      text.remove_prefix(2);
    } else if (!text.empty() && (text[0] == 'h' || text[0] == 'm' || text[0] == 's')) {
      unit = text[0] == 'h' ? 3600000 : text[0] == 'm' ? 60000 : 1000;
      text.remove_prefix(1);
    } else {
      return -1;
    }
    total += number * unit;
  }
  if (total > static_cast<double>(kMaxDelayMs) * 24 * 365) return -1;
  return static_cast<std::int64_t>(total + 0.5);
}

void append_redirect_headers(std::string& out, const FaultSpec& /*f*/) {
  out.append("Location: ");
  out.append(kRedirectLocation);
  out.append("\r\n");
}

void append_status_headers(std::string& out, const FaultSpec& f) {
  if (!f.retry_after.empty()) {
    out.append("Retry-After: ");
    out.append(f.retry_after);
    out.append("\r\n");
  }
}

void append_status_message(std::string& out, const FaultSpec& f) {
  out.append("mock fault: status ");
  append_int(out, f.status);
}

}  // namespace shepherd::mock::detail
