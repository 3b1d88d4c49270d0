#include "providers/registry.hpp"

#include <strings.h>

#include <array>

#include "api/retry_after.hpp"
#include "providers/anthropic/anthropic_adapter.hpp"
#include "providers/fastchat/fastchat_adapter.hpp"
#include "providers/gemini/gemini_adapter.hpp"
#include "providers/openai/openai_adapter.hpp"

namespace shepherd::providers {

using base::ErrorCode;

namespace {

const openai::OpenAiAdapter kOpenAi;
const anthropic::AnthropicAdapter kAnthropic;
const gemini::GeminiAdapter kGemini;
const fastchat::FastChatAdapter kFastChat;

constexpr std::array<const Adapter*, 4> kAdapters = {&kOpenAi, &kAnthropic, &kGemini, &kFastChat};

void redact(std::string& text, std::string_view secret) {
  if (secret.empty()) return;
  for (auto at = text.find(secret); at != std::string::npos; at = text.find(secret)) {
    text.replace(at, secret.size(), "[redacted]");
  }
}

std::string_view operation_path(Operation op) {
  switch (op) {
    case Operation::kChat:
      return "chat requests";
    case Operation::kCompletions:
      return "/v1/completions";
    case Operation::kEmbeddings:
      return "/v1/embeddings";
  }
  return "this request";
}

}  // namespace

const Adapter* find_adapter(std::string_view kind) {
  for (const auto* a : kAdapters) {
    if (a->kind() == kind) return a;
  }
  return nullptr;
}

std::span<const Adapter* const> adapters() { return kAdapters; }

routing::AttemptResult status_verdict(int status) {
  using routing::AttemptResult;
  if (status == 401 || status == 403) return AttemptResult::kAuthFailure;
  if (status == 429) return AttemptResult::kRateLimited;
  if (status == 408 || status >= 500 || status < 400) return AttemptResult::kFailure;
  return AttemptResult::kNeutral;
}

api::Usage usage_of(const translate::Usage& u) {
  return api::Usage{u.prompt_tokens, u.completion_tokens, u.total(), u.cache_read_tokens,
                    u.reasoning_tokens};
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && ::strncasecmp(a.data(), b.data(), a.size()) == 0;
}

base::Error cannot_serve(std::string_view kind, Operation op) {
  return base::make_error(ErrorCode::kBadRequest, "a provider of kind " + std::string(kind) +
                                                      " cannot serve " +
                                                      std::string(operation_path(op)));
}

base::Result<std::string_view> Adapter::operation_body(Operation op, const api::ChatRequest&,
                                                       std::string_view, std::string_view, int,
                                                       std::string&) const {
  return cannot_serve(kind(), op);
}

std::string_view Adapter::chat_body(const api::ChatRequest&, std::string_view body,
                                    std::string_view, std::string&) const {
  return body;
}

base::Result<Answer> Adapter::read_answer(std::string_view body) const {
  auto response = codec().decode_response(body);
  if (!response) return std::move(response).error();
  Answer answer;
  if (response->usage) answer.usage = usage_of(*response->usage);
  return answer;
}

base::Result<Event> Adapter::read_event(const api::SseEvent&) const { return Event{}; }

bool Adapter::is_preamble(const api::SseEvent&) const { return false; }

std::optional<std::chrono::milliseconds> Adapter::exhausted_for(std::span<const Header>,
                                                                std::time_t) const {
  return std::nullopt;
}

base::Result<Answer> Adapter::operation_answer(Operation, std::string& answer, std::string_view,
                                               std::int64_t) const {
  return read_answer(answer);
}

std::string basic_head(const config::ProviderConfig& provider, std::string_view method,
                       std::string_view path, std::string_view accept,
                       std::string_view credentials) {
  std::string head;
  head.reserve(256);
  head.append(method).append(" ").append(provider.endpoint.path_prefix).append(path);
  head.append(" HTTP/1.1\r\nHost: ").append(provider.endpoint.host_header);
  head.append("\r\nUser-Agent: shepherd/0.1\r\n");
  if (method == "POST") head.append("Content-Type: application/json\r\n");
  head.append("Accept: ").append(accept).append("\r\n").append(credentials);
  return head;
}

StatusFailure Adapter::read_status(const config::ProviderConfig& provider, int status,
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
  auto message = codec().error_message(body);
  redact(message, provider.api_key);
  out.error = base::make_error(ErrorCode::kUpstreamStatus,
                               "the upstream provider '" + provider.name + "' answered HTTP " +
                                   std::to_string(status) + (message.empty() ? "" : ": " + message),
                               detail);
  out.error.status = status;
  // Anthropic's 529 "overloaded" is a 5xx like any other.
  out.error.retryable = status == 408 || status == 429 || status >= 500;
  if (!retry_after.empty()) {
    out.error.retry_after = api::parse_retry_after(retry_after, now);
  } else if (status == 429 || status == 503) {
    out.error.retry_after = retry_delay_in_body(body);
  }
  if (status >= 400 && status < 500 && context_exceeded(status, body)) {
    out.context_exceeded = true;
    out.error.retryable = true;
  }
  return out;
}

}  // namespace shepherd::providers
