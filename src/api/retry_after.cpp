#include "api/retry_after.hpp"

#include <array>
#include <charconv>
#include <cstdio>
#include <string>

namespace shepherd::api {

std::optional<long> parse_retry_after(std::string_view value, std::time_t now) {
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
  if (value.empty()) return std::nullopt;
  if (value.front() >= '0' && value.front() <= '9') {
    long seconds = 0;
    auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), seconds);
    if (ec != std::errc{} || p != value.data() + value.size()) return std::nullopt;
    return seconds;
  }
  // IMF-fixdate, e.g. "Sun, 06 Nov 1994 08:49:37 GMT" (the form senders must use).
  if (value.size() != 29 || value.substr(25) != " GMT") return std::nullopt;
  static constexpr std::array<std::string_view, 12> kMonths = {
      "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  const std::string text(value);
  int day = 0, year = 0, hour = 0, minute = 0, second = 0;
  char month[4] = {};
  char weekday[4] = {};
  if (std::sscanf(text.c_str(), "%3s, %2d %3s %4d %2d:%2d:%2d GMT", weekday, &day, month, &year,
                  &hour, &minute, &second) != 7) {
    return std::nullopt;
  }
  int mon = -1;
  for (std::size_t i = 0; i < kMonths.size(); ++i) {
    if (kMonths[i] == month) mon = static_cast<int>(i);
  }
  if (mon < 0 || day < 1 || day > 31 || year < 1970 || hour > 23 || minute > 59 || second > 60) {
    return std::nullopt;
  }
  std::tm tm{};
  tm.tm_year = year - 1900;
  tm.tm_mon = mon;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = minute;
  tm.tm_sec = second;
  const std::time_t at = timegm(&tm);
  if (at == static_cast<std::time_t>(-1)) return std::nullopt;
  return at > now ? static_cast<long>(at - now) : 0L;
}

std::optional<long> parse_reset_duration(std::string_view v) {
  while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
  while (!v.empty() && v.back() == ' ') v.remove_suffix(1);
  if (v.empty() || v.size() > 64) return std::nullopt;
  double total_ms = 0;
  while (!v.empty()) {
    std::size_t i = 0;
    double number = 0, scale = 0;
    bool digits = false;
    for (; i < v.size() && ((v[i] >= '0' && v[i] <= '9') || v[i] == '.'); ++i) {
      if (v[i] == '.') {
        if (scale != 0) return std::nullopt;
        scale = 1;
        continue;
      }
      digits = true;
      if (scale != 0) {
        scale /= 10;
        number += (v[i] - '0') * scale;
      } else {
        number = number * 10 + (v[i] - '0');
      }
    }
    if (!digits) return std::nullopt;
    v.remove_prefix(i);
    double unit = 0;
    if (v.starts_with("ms")) {
      unit = 1;
      v.remove_prefix(2);
    } else if (v.starts_with("s")) {
      unit = 1000;
      v.remove_prefix(1);
    } else if (v.starts_with("m")) {
      unit = 60'000;
      v.remove_prefix(1);
    } else if (v.starts_with("h")) {
      unit = 3'600'000;
      v.remove_prefix(1);
    } else {
      return std::nullopt;
    }
    total_ms += number * unit;
  }
  if (total_ms > 1e12) return std::nullopt;
  return static_cast<long>(total_ms + 0.5);
}

}  // namespace shepherd::api
