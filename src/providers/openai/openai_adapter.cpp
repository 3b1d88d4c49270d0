#include "providers/openai/openai_adapter.hpp"

#include <strings.h>

#include "api/retry_after.hpp"

namespace shepherd::providers::openai {

using base::ErrorCode;

namespace {

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && ::strncasecmp(a.data(), b.data(), a.size()) == 0;
}

void redact(std::string& text, std::string_view secret) {
  if (secret.empty()) return;
  for (auto at = text.find(secret); at != std::string::npos; at = text.find(secret)) {
    text.replace(at, secret.size(), "[redacted]");
  }
}

}  // namespace

std::string request_head(const config::ProviderConfig& provider, std::string_view method,
                         std::string_view path, std::string_view accept) {
  std::string head;
  head.reserve(256);
  head.append(method).append(" ").append(provider.endpoint.path_prefix).append(path);
  head.append(" HTTP/1.1\r\nHost: ").append(provider.endpoint.host_header);
  head.append("\r\nUser-Agent: shepherd/0.1\r\n");
  if (method == "POST") head.append("Content-Type: application/json\r\n");
  head.append("Accept: ").append(accept).append("\r\n");
  if (!provider.api_key.empty()) {
    head.append("Authorization: Bearer ").append(provider.api_key).append("\r\n");
  }
  return head;
}

std::string OpenAiAdapter::chat_head(const config::ProviderConfig& provider, bool stream) const {
  return request_head(provider, "POST", "/chat/completions",
                      stream ? "text/event-stream" : "application/json");
}

std::string OpenAiAdapter::probe_request(const config::ProviderConfig& provider) const {
  return request_head(provider, "GET", "/models", "application/json") + "\r\n";
}

std::string_view OpenAiAdapter::chat_body(const api::ChatRequest& request, std::string_view body,
                                          std::string_view upstream_model,
                                          std::string& scratch) const {
  if (!api::upstream_body_changes(request, upstream_model)) return body;
  scratch = api::upstream_chat_body(body, request, upstream_model);
  return scratch;
}

base::Result<Answer> OpenAiAdapter::read_answer(std::string_view body) const {
  auto usage = api::inspect_completion(body);
  if (!usage) return std::move(usage).error();
  return Answer{*usage};
}

base::Result<Event> OpenAiAdapter::read_event(std::string_view data) const {
  auto info = api::inspect_chunk(data);
  if (!info) return std::move(info).error();
  return Event{info->kind, info->usage};
}

bool OpenAiAdapter::is_preamble(std::string_view data) const {
  return api::is_preamble_chunk(data);
}

StatusFailure OpenAiAdapter::read_status(const config::ProviderConfig& provider, int status,
                                         std::string_view body, std::string_view retry_after,
                                         std::time_t now) const {
  StatusFailure out;
  out.verdict = status_verdict(status);
  const auto detail = "provider " + provider.name + " answered " + std::to_string(status);
  if (status == 401 || status == 403) {
    // The provider rejected Shepherd's own key: the client cannot fix that, and the provider's
    // text may quote the key, so it is not passed on. Another deployment may have a valid key.
    out.error =
        base::make_error(ErrorCode::kUpstreamUnreachable,
                         "the upstream provider '" + provider.name +
                             "' rejected Shepherd's credentials (HTTP " + std::to_string(status) +
                             "); the operator must check providers." + provider.name + ".api_key",
                         detail);
    out.error.retryable = true;
    return out;
  }
  if (status >= 300 && status < 400) {
    out.error = base::make_error(ErrorCode::kUpstreamUnreachable,
                                 "the upstream provider '" + provider.name +
                                     "' answered with a redirect, which Shepherd never follows",
                                 detail);
    return out;
  }
  auto message = api::upstream_error_message(body);
  redact(message, provider.api_key);
  out.error = base::make_error(ErrorCode::kUpstreamStatus,
                               "the upstream provider '" + provider.name + "' answered HTTP " +
                                   std::to_string(status) + (message.empty() ? "" : ": " + message),
                               detail);
  out.error.status = status;
  out.error.retryable = status == 408 || status == 429 || status >= 500;
  if (!retry_after.empty()) out.error.retry_after = api::parse_retry_after(retry_after, now);
  if (status == 400 && body.find("context_length_exceeded") != std::string_view::npos) {
    out.context_exceeded = true;
    out.error.retryable = true;
  }
  return out;
}

std::optional<std::chrono::milliseconds> OpenAiAdapter::exhausted_for(
    std::span<const Header> headers) const {
  // x-ratelimit-remaining-{requests,tokens}: 0 with the matching x-ratelimit-reset-{...}. One
  // pass; most answers have no such header.
  constexpr std::string_view kRemaining = "x-ratelimit-remaining-";
  constexpr std::string_view kReset = "x-ratelimit-reset-";
  std::optional<std::chrono::milliseconds> out;
  for (const auto& h : headers) {
    if (h.name.size() <= kRemaining.size() || (h.name[0] != 'x' && h.name[0] != 'X') ||
        !iequals(h.name.substr(0, kRemaining.size()), kRemaining) || h.value != "0") {
      continue;
    }
    const auto which = h.name.substr(kRemaining.size());  // "requests" or "tokens"
    for (const auto& r : headers) {
      if (r.name.size() != kReset.size() + which.size() ||
          !iequals(r.name.substr(0, kReset.size()), kReset) ||
          !iequals(r.name.substr(kReset.size()), which)) {
        continue;
      }
      if (auto ms = api::parse_reset_duration(r.value)) {
        out = std::max(out.value_or(std::chrono::milliseconds::zero()),
                       std::chrono::milliseconds(*ms));
      }
      break;
    }
  }
  return out;
}

}  // namespace shepherd::providers::openai
