// Helpers for the codec tests: golden fixtures (tests/fixtures/<provider>/) and JSON comparison
// that ignores formatting and key order.
#pragma once

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "translate/canonical.hpp"

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

// Builders for the common form.

inline Part text(std::string t) {
  Part p;
  p.text = std::move(t);
  return p;
}

inline Part tool_call(std::string id, std::string name, std::string arguments) {
  Part p;
  p.kind = Part::Kind::kToolCall;
  p.id = std::move(id);
  p.name = std::move(name);
  p.arguments = std::move(arguments);
  return p;
}

inline Part tool_result(std::string id, std::string content, bool is_error = false) {
  Part p;
  p.kind = Part::Kind::kToolResult;
  p.id = std::move(id);
  p.content.push_back(text(std::move(content)));
  p.is_error = is_error;
  return p;
}

inline Message message(Role role, std::vector<Part> parts) {
  Message m;
  m.role = role;
  m.parts = std::move(parts);
  return m;
}

}  // namespace shepherd::translate::testing
