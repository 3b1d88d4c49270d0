// The Prometheus text helpers metrics.cpp and metrics_keys.cpp share.
#pragma once

#include <atomic>
#include <cstdio>
#include <string>
#include <string_view>

namespace shepherd::observability::detail {

// The shards are summed when read; no ordering is needed between counters.
inline constexpr auto kRelaxed = std::memory_order_relaxed;

// Prometheus label values escape backslash, quote and newline.
inline std::string label(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') {
      out.push_back('\\');
      out.push_back(c);
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out.push_back(c);
    }
  }
  return out;
}

inline std::string number(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

// The HELP and TYPE lines of a family.
inline void header(std::string& out, std::string_view name, std::string_view type,
                   std::string_view help) {
  out.append("# HELP ").append(name).append(" ").append(help).append("\n# TYPE ");
  out.append(name).append(" ").append(type).append("\n");
}

}  // namespace shepherd::observability::detail
