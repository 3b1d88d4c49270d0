#include "providers/openai/openai_adapter.hpp"

#include "api/retry_after.hpp"
#include "translate/openai_chat.hpp"

namespace shepherd::providers::openai {

using base::ErrorCode;

const translate::Codec& OpenAiAdapter::codec() const { return translate::openai_chat_codec(); }

std::string OpenAiAdapter::request_head(const config::ProviderConfig& provider, Operation op,
                                        std::string_view, bool stream) const {
  std::string credentials;
  if (!provider.api_key.empty()) {
    credentials.append("Authorization: Bearer ").append(provider.api_key).append("\r\n");
  }
  const std::string_view path = op == Operation::kCompletions  ? "/completions"
                                : op == Operation::kEmbeddings ? "/embeddings"
                                                               : "/chat/completions";
  return basic_head(provider, "POST", path, stream ? "text/event-stream" : "application/json",
                    credentials);
}

std::string OpenAiAdapter::probe_request(const config::ProviderConfig& provider) const {
  std::string credentials;
  if (!provider.api_key.empty()) {
    credentials.append("Authorization: Bearer ").append(provider.api_key).append("\r\n");
  }
  return basic_head(provider, "GET", "/models", "application/json", credentials) + "\r\n";
}

std::string_view OpenAiAdapter::chat_body(const api::ChatRequest& request, std::string_view body,
                                          std::string_view upstream_model,
                                          std::string& scratch) const {
  if (!api::upstream_body_changes(request, upstream_model)) return body;
  scratch = api::upstream_chat_body(body, request, upstream_model);
  return scratch;
}

base::Result<std::string_view> OpenAiAdapter::operation_body(Operation,
                                                             const api::ChatRequest& request,
                                                             std::string_view body,
                                                             std::string_view upstream_model, int,
                                                             std::string& scratch) const {
  // Completions take the chat rules as they are: the model renamed, and usage asked for on
  // streams (stream_options.include_usage works the same there). Embeddings never stream.
  return chat_body(request, body, upstream_model, scratch);
}

base::Result<Answer> OpenAiAdapter::read_answer(std::string_view body) const {
  auto usage = api::inspect_completion(body);
  if (!usage) return std::move(usage).error();
  return Answer{*usage};
}

base::Result<Event> OpenAiAdapter::read_event(const api::SseEvent& event) const {
  auto info = api::inspect_chunk(event.data);
  if (!info) return std::move(info).error();
  Event out;
  out.kind = info->kind;
  out.usage = info->usage;
  return out;
}

bool OpenAiAdapter::is_preamble(const api::SseEvent& event) const {
  return api::is_preamble_chunk(event.data);
}

bool OpenAiAdapter::context_exceeded(int status, std::string_view body) const {
  return status == 400 && body.find("context_length_exceeded") != std::string_view::npos;
}

std::optional<std::chrono::milliseconds> OpenAiAdapter::exhausted_for(
    std::span<const Header> headers, std::time_t) const {
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
