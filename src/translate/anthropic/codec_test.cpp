// Errors both ways, and the codec itself.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "translate/anthropic/test_support.hpp"

namespace shepherd::translate::anthropic_test {
namespace {

TEST(AnthropicErrors, MapsEveryCodeToAnErrorType) {
  using base::ErrorCode;
  const struct {
    ErrorCode code;
    int status;
    const char* type;
  } cases[] = {
      {ErrorCode::kBadRequest, 0, "invalid_request_error"},
      {ErrorCode::kMethodNotAllowed, 0, "invalid_request_error"},
      {ErrorCode::kConflict, 0, "invalid_request_error"},
      {ErrorCode::kUnauthorized, 0, "authentication_error"},
      {ErrorCode::kForbidden, 0, "permission_error"},
      {ErrorCode::kNotFound, 0, "not_found_error"},
      {ErrorCode::kModelNotFound, 0, "not_found_error"},
      {ErrorCode::kPayloadTooLarge, 0, "request_too_large"},
      {ErrorCode::kRateLimited, 0, "rate_limit_error"},
      {ErrorCode::kUnavailable, 0, "overloaded_error"},
      {ErrorCode::kUpstreamTimeout, 0, "timeout_error"},
      {ErrorCode::kUpstreamUnreachable, 0, "api_error"},
      {ErrorCode::kInternal, 0, "api_error"},
      {ErrorCode::kUpstreamStatus, 400, "invalid_request_error"},
      {ErrorCode::kUpstreamStatus, 422, "invalid_request_error"},
      {ErrorCode::kUpstreamStatus, 401, "authentication_error"},
      {ErrorCode::kUpstreamStatus, 403, "permission_error"},
      {ErrorCode::kUpstreamStatus, 404, "not_found_error"},
      {ErrorCode::kUpstreamStatus, 413, "request_too_large"},
      {ErrorCode::kUpstreamStatus, 429, "rate_limit_error"},
      {ErrorCode::kUpstreamStatus, 529, "overloaded_error"},
      {ErrorCode::kUpstreamStatus, 504, "timeout_error"},
      {ErrorCode::kUpstreamStatus, 402, "billing_error"},
      {ErrorCode::kUpstreamStatus, 500, "api_error"},
      {ErrorCode::kUpstreamStatus, 503, "api_error"},
  };
  for (const auto& c : cases) {
    auto e = base::make_error(c.code, "what \"went\" wrong");
    e.status = c.status;
    EXPECT_EQ(anthropic_error_type(e), c.type) << base::code_name(c.code) << " " << c.status;
    EXPECT_TRUE(
        json_equal(codec().error_body(e), std::string(R"({"type":"error","error":{"type":")") +
                                              c.type + R"(","message":"what \"went\" wrong"}})"));
  }
}

TEST(AnthropicErrors, ReadsTheMessageOfAnUpstreamErrorBody) {
  EXPECT_EQ(codec().error_message(fixture("anthropic/error_overloaded.json")), "Overloaded");
  EXPECT_EQ(codec().error_message("<html>\r\n<body>Bad Gateway</body>\n</html>\n"),
            "<html>  <body>Bad Gateway</body> </html>");
  const std::string long_body(2000, 'x');
  EXPECT_EQ(codec().error_message(long_body).size(), 500u);
  const std::string long_message =
      R"({"type":"error","error":{"type":"api_error","message":")" + std::string(900, 'y') + "\"}}";
  EXPECT_EQ(codec().error_message(long_message), std::string(500, 'y'));
}

TEST(AnthropicCodec, IsTheAnthropicWire) {
  EXPECT_EQ(codec().wire(), Wire::kAnthropic);
  EXPECT_EQ(&anthropic_codec(), &anthropic_codec());
}

}  // namespace
}  // namespace shepherd::translate::anthropic_test
