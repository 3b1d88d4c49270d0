#include "app/table.hpp"

#include <gtest/gtest.h>

namespace shepherd::app {
namespace {

TEST(Table, ColumnsAlignToTheirWidestCell) {
  Table t({{"model", Table::Align::kLeft}, {"requests", Table::Align::kRight}});
  t.add({"gpt-4.1", "1,234"});
  t.add({"deepseek-v3.2", "7"});
  t.rule();
  t.add({"total", "1,241"});
  EXPECT_EQ(t.render(),
            "model          requests\n"
            "-----------------------\n"
            "gpt-4.1           1,234\n"
            "deepseek-v3.2         7\n"
            "-----------------------\n"
            "total             1,241\n");
}

TEST(Table, WidthCountsCharactersNotBytes) {
  Table t({{"name", Table::Align::kLeft}, {"n", Table::Align::kRight}});
  t.add({"café", "1"});
  t.add({"tea", "22"});
  EXPECT_EQ(t.render(),
            "name   n\n"
            "--------\n"
            "café   1\n"
            "tea   22\n");
}

TEST(Numbers, AsPeopleReadThem) {
  EXPECT_EQ(thousands(0), "0");
  EXPECT_EQ(thousands(999), "999");
  EXPECT_EQ(thousands(1000), "1,000");
  EXPECT_EQ(thousands(-1234567), "-1,234,567");
  EXPECT_EQ(fixed(1234.5, 1), "1,234.5");
  EXPECT_EQ(fixed(-0.0001, 2), "0.00");
  EXPECT_EQ(fixed(1.0 / 0.0, 1), "-");
  EXPECT_EQ(money(0.0123), "$0.0123");
  EXPECT_EQ(money(1234.567), "$1,234.57");
  EXPECT_EQ(money(-2.5), "-$2.50");
  EXPECT_EQ(percent(0.985), "98.5 %");
  EXPECT_EQ(percent(1), "100.0 %");
}

}  // namespace
}  // namespace shepherd::app
