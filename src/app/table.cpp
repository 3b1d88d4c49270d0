#include "app/table.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace shepherd::app {

namespace {

// Characters, not bytes: UTF-8 continuation bytes do not count.
std::size_t width(const std::string& s) {
  return static_cast<std::size_t>(
      std::count_if(s.begin(), s.end(), [](char c) { return (c & 0xC0) != 0x80; }));
}

// "1234567" → "1,234,567" (digits only, no sign).
std::string group(const std::string& digits) {
  std::string out;
  const auto n = digits.size();
  for (std::size_t i = 0; i < n; ++i) {
    if (i > 0 && (n - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

}  // namespace

std::string Table::render() const {
  std::vector<std::size_t> widths;
  for (const auto& c : columns_) widths.push_back(width(c.title));
  for (const auto& row : rows_) {
    for (std::size_t i = 0; i < columns_.size() && i < row.size(); ++i) {
      widths[i] = std::max(widths[i], width(row[i]));
    }
  }
  std::string out;
  auto line = [&](auto cell_of) {
    std::string l;
    for (std::size_t i = 0; i < columns_.size(); ++i) {
      const std::string cell = cell_of(i);
      const auto pad = std::string(widths[i] - width(cell), ' ');
      if (i > 0) l += "  ";
      l += columns_[i].align == Align::kRight ? pad + cell : cell + pad;
    }
    while (!l.empty() && l.back() == ' ') l.pop_back();
    out += l;
    out += '\n';
  };
  auto rule_line = [&] {
    std::size_t total = 0;
    for (const auto w : widths) total += w;
    out += std::string(total + 2 * (widths.empty() ? 0 : widths.size() - 1), '-');
    out += '\n';
  };
  line([&](std::size_t i) { return columns_[i].title; });
  rule_line();
  for (std::size_t r = 0; r < rows_.size(); ++r) {
    if (std::find(rules_.begin(), rules_.end(), r) != rules_.end()) rule_line();
    line([&](std::size_t i) { return i < rows_[r].size() ? rows_[r][i] : std::string(); });
  }
  return out;
}

std::string thousands(long long n) {
  const bool negative = n < 0;
  const auto magnitude =
      negative ? 0ULL - static_cast<unsigned long long>(n) : static_cast<unsigned long long>(n);
  return (negative ? "-" : "") + group(std::to_string(magnitude));
}

std::string fixed(double v, int decimals) {
  if (!std::isfinite(v)) return "-";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, std::fabs(v));
  std::string text(buf);
  const auto dot = text.find('.');
  std::string out = group(text.substr(0, dot));
  if (dot != std::string::npos) out += text.substr(dot);
  // No "-0.00".
  const bool negative = v < 0 && out.find_first_not_of("0.,") != std::string::npos;
  return negative ? "-" + out : out;
}

std::string money(double usd) {
  const std::string body = fixed(usd, std::fabs(usd) < 1 ? 4 : 2);
  return body.front() == '-' ? "-$" + body.substr(1) : "$" + body;
}

std::string percent(double ratio) { return fixed(ratio * 100, 1) + " %"; }

}  // namespace shepherd::app
