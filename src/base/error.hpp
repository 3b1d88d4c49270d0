// The one error type of Shepherd. Every failure a client can see is an Error; one function per
// dialect (api/openai_error.hpp) maps it to an HTTP status and body.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <utility>

namespace shepherd::base {

enum class ErrorCode {
  kBadRequest,        // malformed JSON, missing or wrong-typed fields (400)
  kUnauthorized,      // missing or wrong API key (401)
  kForbidden,         // key valid but not allowed (403)
  kNotFound,          // unknown route (404)
  kModelNotFound,     // unknown model (404)
  kMethodNotAllowed,  // known route, wrong method (405)
  kRequestTimeout,    // the client was too slow sending its request (408)
  kPayloadTooLarge,   // body over the limit (413)
  kHeadersTooLarge,   // request headers over the limit (431)
  kConflict,     // the request conflicts with the current state, e.g. nothing to roll back to (409)
  kRateLimited,  // 429, from Shepherd or passed on from an upstream
  kQuotaExceeded,        // 429: the key's budget is spent (OpenAI's insufficient_quota)
  kUpstreamStatus,       // the upstream answered with an error status; passed on as is
  kUpstreamUnreachable,  // connect/DNS/TLS failure, reset, malformed answer (502)
  kUpstreamTimeout,      // connect, first-byte, idle or total timeout (504)
  kUnavailable,          // Shepherd cannot serve now: shutting down, not ready (503)
  kInternal,             // a bug (500)
};

struct Error {
  ErrorCode code = ErrorCode::kInternal;
  // Safe to show to clients: never contains secrets, upstream URLs with credentials or keys.
  std::string message;
  // For logs only: may name hosts and system error text, never secrets.
  std::string detail;
  // Whether another attempt (on this or another deployment) may succeed.
  bool retryable = false;
  // For kUpstreamStatus and passed-on 429s: the upstream's status.
  int status = 0;
  // Seconds, passed to the client as Retry-After.
  std::optional<long> retry_after;
  // For kUpstreamStatus: the upstream's error body when it is a valid OpenAI-shaped error.
  std::string upstream_body;
  // Optional `param` for OpenAI-shaped errors (the offending field).
  std::string param;
};

inline Error make_error(ErrorCode code, std::string message, std::string detail = {}) {
  Error e;
  e.code = code;
  e.message = std::move(message);
  e.detail = std::move(detail);
  return e;
}

// The HTTP status an error is answered with.
int http_status(const Error& error);

// A short machine-readable code for logs and metrics ("upstream_timeout", ...).
const char* code_name(ErrorCode code);

}  // namespace shepherd::base
