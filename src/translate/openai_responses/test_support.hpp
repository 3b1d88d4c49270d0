// What the tests of the OpenAI Responses codec share: decoding a request body that must be
// accepted or refused.
#pragma once

#include <gtest/gtest.h>

#include <string_view>
#include <utility>

#include "translate/openai_responses.hpp"

namespace shepherd::translate::responses_test {

inline constexpr int kDepth = 64;

inline Request decode_ok(std::string_view body) {
  auto r = openai_responses_codec().decode_request(body, kDepth);
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
  return r.ok() ? std::move(r).value() : Request{};
}

inline base::Error decode_error(std::string_view body) {
  auto r = openai_responses_codec().decode_request(body, kDepth);
  EXPECT_FALSE(r.ok());
  return r.ok() ? base::Error{} : std::move(r).error();
}

}  // namespace shepherd::translate::responses_test
