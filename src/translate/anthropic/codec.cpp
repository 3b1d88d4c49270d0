// The codec itself, what its parts share, and errors (docs: errors, "HTTP errors" and "Error
// shapes").
#include "translate/anthropic/internal.hpp"

namespace shepherd::translate {

namespace detail::anthropic {

json::value parse_json(std::string_view text, std::size_t max_depth, json::storage_ptr sp,
                       boost::system::error_code& ec) {
  json::parse_options opts;
  opts.max_depth = max_depth;
  return json::parse(text, ec, std::move(sp), opts);
}

base::Result<const json::object*> upstream_object(std::string_view text, std::string_view what,
                                                  json::value& root) {
  boost::system::error_code ec;
  root = parse_json(text, kUpstreamMaxDepth, root.storage(), ec);
  if (ec) return unreadable(cat(what, " is not JSON (", ec.message(), ")"), text);
  const auto* o = root.if_object();
  if (!o) return unreadable(cat(what, " is not a JSON object"), text);
  return o;
}

std::string_view stop_reason_name(StopReason r) {
  switch (r) {
    case StopReason::kEndTurn:
      return "end_turn";
    case StopReason::kMaxTokens:
      return "max_tokens";
    case StopReason::kStopSequence:
      return "stop_sequence";
    case StopReason::kToolUse:
      return "tool_use";
    case StopReason::kContentFilter:
      return "refusal";
    case StopReason::kPauseTurn:
      return "pause_turn";
  }
  return "end_turn";
}

StopReason stop_reason_of(std::string_view s) {
  if (s == "max_tokens") return StopReason::kMaxTokens;
  if (s == "stop_sequence") return StopReason::kStopSequence;
  if (s == "tool_use") return StopReason::kToolUse;
  if (s == "refusal") return StopReason::kContentFilter;
  if (s == "pause_turn") return StopReason::kPauseTurn;
  // The answer stopped because the context window filled: for the client, output was cut short.
  if (s == "model_context_window_exceeded") return StopReason::kMaxTokens;
  return StopReason::kEndTurn;  // "end_turn" and reasons added after this was written
}

// The status Anthropic answers with for an error `type` (docs: API errors, "HTTP errors").
int status_of_error_type(std::string_view type) {
  if (type == "invalid_request_error") return 400;
  if (type == "authentication_error") return 401;
  if (type == "billing_error") return 402;
  if (type == "permission_error") return 403;
  if (type == "not_found_error") return 404;
  if (type == "request_too_large") return 413;
  if (type == "rate_limit_error") return 429;
  if (type == "timeout_error") return 504;
  if (type == "overloaded_error") return 529;
  return 500;  // api_error and unknown types
}

void append_error(std::string& out, const base::Error& error) {
  out.append(R"({"type":"error","error":{"type":)");
  append_quoted(out, anthropic_error_type(error));
  out.append(R"(,"message":)");
  append_quoted(out, error.message);
  out.append("}}");
}

std::string error_message(std::string_view body) {
  Scratch<1024> scratch;
  boost::system::error_code ec;
  const auto root = parse_json(body, kUpstreamMaxDepth, scratch.storage(), ec);
  if (!ec) {
    const auto* o = root.if_object();
    const auto* error = o ? object_member(*o, "error") : nullptr;
    const auto* message = error ? string_member(*error, "message") : nullptr;
    if (message) return std::string(utf8_prefix(sv(*message), kMaxMessageBytes));
  }
  // Not Anthropic's error shape (a proxy's HTML page, plain text): a cleaned excerpt.
  std::string s = excerpt(body, kMaxMessageBytes);
  const auto first = s.find_first_not_of(' ');
  if (first == std::string::npos) return {};
  s.erase(0, first);
  s.erase(s.find_last_not_of(' ') + 1);
  return s;
}

}  // namespace detail::anthropic

using base::ErrorCode;

std::string_view anthropic_error_type(const base::Error& e) {
  switch (e.code) {
    case ErrorCode::kBadRequest:
    case ErrorCode::kMethodNotAllowed:
    case ErrorCode::kConflict:
    // Anthropic uses invalid_request_error "for other 4XX status codes not listed".
    case ErrorCode::kRequestTimeout:
    case ErrorCode::kHeadersTooLarge:
      return "invalid_request_error";
    case ErrorCode::kUnauthorized:
      return "authentication_error";
    case ErrorCode::kForbidden:
      return "permission_error";
    case ErrorCode::kNotFound:
    case ErrorCode::kModelNotFound:
      return "not_found_error";
    case ErrorCode::kPayloadTooLarge:
      return "request_too_large";
    case ErrorCode::kRateLimited:
    case ErrorCode::kQuotaExceeded:
      return "rate_limit_error";
    case ErrorCode::kUnavailable:
      return "overloaded_error";
    case ErrorCode::kUpstreamStatus:
      switch (e.status) {
        case 401:
          return "authentication_error";
        case 402:
          return "billing_error";
        case 403:
          return "permission_error";
        case 404:
          return "not_found_error";
        case 413:
          return "request_too_large";
        case 429:
          return "rate_limit_error";
        case 504:
          return "timeout_error";
        case 529:
          return "overloaded_error";
        default:
          return e.status >= 400 && e.status < 500 ? "invalid_request_error" : "api_error";
      }
    case ErrorCode::kUpstreamTimeout:
      return "timeout_error";  // 504 (https://docs.anthropic.com/en/api/errors)
    case ErrorCode::kUpstreamUnreachable:
    case ErrorCode::kInternal:
      return "api_error";
  }
  return "api_error";
}

// The operations are in the files named in internal.hpp.

base::Result<Request> AnthropicCodec::decode_request(std::string_view body, int max_depth) const {
  return detail::anthropic::decode_request(body, max_depth);
}

base::Status AnthropicCodec::encode_request(const Request& request, std::string_view upstream_model,
                                            std::string& out) const {
  return detail::anthropic::encode_request(request, upstream_model, out);
}

base::Result<Response> AnthropicCodec::decode_response(std::string_view body) const {
  return detail::anthropic::decode_response(body);
}

void AnthropicCodec::encode_response(const Request&, const Response& response,
                                     std::string_view model, std::string& out) const {
  detail::anthropic::encode_response(response, model, out);
}

std::unique_ptr<StreamDecoder> AnthropicCodec::stream_decoder() const {
  return detail::anthropic::stream_decoder();
}

std::unique_ptr<StreamEncoder> AnthropicCodec::stream_encoder(const Request&,
                                                              std::string_view model) const {
  return detail::anthropic::stream_encoder(model);
}

std::string AnthropicCodec::error_body(const base::Error& error) const {
  std::string out;
  detail::anthropic::append_error(out, error);
  return out;
}

std::string AnthropicCodec::error_message(std::string_view body) const {
  return detail::anthropic::error_message(body);
}

const Codec& anthropic_codec() {
  static const AnthropicCodec codec;
  return codec;
}

}  // namespace shepherd::translate
