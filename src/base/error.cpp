#include "base/error.hpp"

namespace shepherd::base {

int http_status(const Error& error) {
  switch (error.code) {
    case ErrorCode::kBadRequest:
      return 400;
    case ErrorCode::kUnauthorized:
      return 401;
    case ErrorCode::kForbidden:
      return 403;
    case ErrorCode::kNotFound:
    case ErrorCode::kModelNotFound:
      return 404;
    case ErrorCode::kMethodNotAllowed:
      return 405;
    case ErrorCode::kRequestTimeout:
      return 408;
    case ErrorCode::kPayloadTooLarge:
      return 413;
    case ErrorCode::kHeadersTooLarge:
      return 431;
    case ErrorCode::kConflict:
      return 409;
    case ErrorCode::kRateLimited:
    case ErrorCode::kQuotaExceeded:
      return 429;
    case ErrorCode::kUpstreamStatus:
      return error.status >= 400 && error.status <= 599 ? error.status : 502;
    case ErrorCode::kUpstreamUnreachable:
      return 502;
    case ErrorCode::kUpstreamTimeout:
      return 504;
    case ErrorCode::kUnavailable:
      return 503;
    case ErrorCode::kInternal:
      return 500;
  }
  return 500;
}

const char* code_name(ErrorCode code) {
  switch (code) {
    case ErrorCode::kBadRequest:
      return "bad_request";
    case ErrorCode::kUnauthorized:
      return "unauthorized";
    case ErrorCode::kForbidden:
      return "forbidden";
    case ErrorCode::kNotFound:
      return "not_found";
    case ErrorCode::kModelNotFound:
      return "model_not_found";
    case ErrorCode::kMethodNotAllowed:
      return "method_not_allowed";
    case ErrorCode::kRequestTimeout:
      return "request_timeout";
    case ErrorCode::kPayloadTooLarge:
      return "payload_too_large";
    case ErrorCode::kHeadersTooLarge:
      return "headers_too_large";
    case ErrorCode::kConflict:
      return "conflict";
    case ErrorCode::kRateLimited:
      return "rate_limited";
    case ErrorCode::kQuotaExceeded:
      return "insufficient_quota";
    case ErrorCode::kUpstreamStatus:
      return "upstream_status";
    case ErrorCode::kUpstreamUnreachable:
      return "upstream_unreachable";
    case ErrorCode::kUpstreamTimeout:
      return "upstream_timeout";
    case ErrorCode::kUnavailable:
      return "unavailable";
    case ErrorCode::kInternal:
      return "internal";
  }
  return "internal";
}

}  // namespace shepherd::base
