// Helpers for the codec tests: golden fixtures (tests/fixtures/<provider>/) and JSON comparison
// that ignores formatting and key order.
#pragma once

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>

namespace shepherd::translate::testing {

// The text of tests/fixtures/<path>; fails the test when it cannot be read.
inline std::string fixture(std::string_view path) {
  const std::string full = std::string(SHEPHERD_FIXTURES_DIR) + "/" + std::string(path);
  std::ifstream in(full, std::ios::binary);
  EXPECT_TRUE(in.good()) << "cannot read fixture " << full;
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// Whether two JSON texts hold the same value (objects compare without regard to key order).
inline ::testing::AssertionResult json_equal(std::string_view actual, std::string_view expected) {
  boost::system::error_code ea, ee;
  const auto a = boost::json::parse(actual, ea);
  const auto e = boost::json::parse(expected, ee);
  if (ea) return ::testing::AssertionFailure() << "actual is not JSON: " << actual;
  if (ee) return ::testing::AssertionFailure() << "expected is not JSON: " << expected;
  if (a == e) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "\n  actual:   " << boost::json::serialize(a)
                                       << "\n  expected: " << boost::json::serialize(e);
}

}  // namespace shepherd::translate::testing
