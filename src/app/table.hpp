// Reports for people: aligned text tables, and numbers written as people read them
// ("12,345", "$0.0123", "98.5 %").
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace shepherd::app {

class Table {
 public:
  enum class Align { kLeft, kRight };
  struct Column {
    std::string title;
    Align align = Align::kLeft;
  };

  explicit Table(std::vector<Column> columns) : columns_(std::move(columns)) {}
  // One row; missing cells are empty, extra ones ignored.
  void add(std::vector<std::string> cells) { rows_.push_back(std::move(cells)); }
  // A rule before the next row (e.g. above a total).
  void rule() { rules_.push_back(rows_.size()); }
  bool empty() const { return rows_.empty(); }

  // The titles, a rule, then the rows, each column as wide as its widest cell (counted in
  // characters, not bytes), two spaces apart; no trailing spaces.
  std::string render() const;

 private:
  std::vector<Column> columns_;
  std::vector<std::vector<std::string>> rows_;
  std::vector<std::size_t> rules_;
};

// 1234567 → "1,234,567".
std::string thousands(long long n);
// `v` with `decimals` places and thousands separators: 1234.5 → "1,234.5".
std::string fixed(double v, int decimals);
// US dollars: 4 decimals under $1 ("$0.0123"), else 2 ("$1,234.56").
std::string money(double usd);
// A ratio as a percentage with one decimal: 0.985 → "98.5 %".
std::string percent(double ratio);

}  // namespace shepherd::app
