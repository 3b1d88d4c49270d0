#include "providers/anthropic/anthropic_adapter.hpp"

#include <boost/json.hpp>
#include <cstdio>

#include "translate/anthropic.hpp"
#include "translate/json_util.hpp"

namespace shepherd::providers::anthropic {

namespace json = boost::json;
using translate::detail::count;
using translate::detail::unreadable;

namespace {

std::string credentials(const config::ProviderConfig& provider) {
  std::string out;
  if (!provider.api_key.empty()) out.append("x-api-key: ").append(provider.api_key).append("\r\n");
  out.append("anthropic-version: ").append(kApiVersion).append("\r\n");
  return out;
}

// Seconds since the epoch of an RFC 3339 time in UTC ("2025-06-01T12:00:30Z"), as Anthropic's
// rate-limit reset headers carry it; nullopt when it is not one.
std::optional<std::time_t> rfc3339(std::string_view text) {
  std::tm tm{};
  int consumed = 0;
  const std::string s(text.substr(0, 64));
  if (std::sscanf(s.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                  &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &consumed) != 6) {
    return std::nullopt;
  }
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return ::timegm(&tm);
}

}  // namespace

api::Usage anthropic_usage(const json::object& usage) {
  api::Usage u;
  u.prompt_tokens = count(usage, "input_tokens") + count(usage, "cache_creation_input_tokens") +
                    count(usage, "cache_read_input_tokens");
  u.completion_tokens = count(usage, "output_tokens");
  u.total_tokens = u.prompt_tokens + u.completion_tokens;
  u.cached_tokens = count(usage, "cache_read_input_tokens");
  return u;
}

const translate::Codec& AnthropicAdapter::codec() const { return translate::anthropic_codec(); }

std::string AnthropicAdapter::request_head(const config::ProviderConfig& provider, Operation,
                                           std::string_view, bool stream) const {
  return basic_head(provider, "POST", "/v1/messages",
                    stream ? "text/event-stream" : "application/json", credentials(provider));
}

std::string AnthropicAdapter::probe_request(const config::ProviderConfig& provider) const {
  return basic_head(provider, "GET", "/v1/models", "application/json", credentials(provider)) +
         "\r\n";
}

std::string_view AnthropicAdapter::chat_body(const api::ChatRequest& request, std::string_view body,
                                             std::string_view upstream_model,
                                             std::string& scratch) const {
  // Anthropic reports usage in every stream: only the model may need changing.
  if (upstream_model == request.model) return body;
  scratch = api::with_model(body, upstream_model);
  return scratch;
}

base::Result<Answer> AnthropicAdapter::read_answer(std::string_view body) const {
  boost::system::error_code ec;
  const auto v = json::parse(json::string_view(body.data(), body.size()), ec);
  const auto* o = ec ? nullptr : v.if_object();
  if (!o) return unreadable("the answer is not a JSON object");
  const auto* type = o->if_contains("type");
  if (!type || !type->is_string() || type->get_string() != "message") {
    return unreadable("the answer is not a message");
  }
  Answer answer;
  if (const auto* usage = o->if_contains("usage"); usage && usage->is_object()) {
    answer.usage = anthropic_usage(usage->get_object());
  }
  return answer;
}

base::Result<Event> AnthropicAdapter::read_event(const api::SseEvent& event) const {
  // Only the events that carry usage or end the stream are parsed; content deltas are forwarded
  // as they are.
  const auto type = event.event;
  Event out;
  if (type == "message_stop") {
    out.kind = api::ChunkKind::kDone;
    return out;
  }
  if (type == "error") {
    out.kind = api::ChunkKind::kError;
    return out;
  }
  if (type != "message_start" && type != "message_delta" && !type.empty()) return out;
  boost::system::error_code ec;
  const auto v = json::parse(json::string_view(event.data.data(), event.data.size()), ec);
  const auto* o = ec ? nullptr : v.if_object();
  if (!o) return unreadable("a stream event is not a JSON object");
  if (type.empty()) {
    // No event field: the data's type says what it is.
    const auto* t = o->if_contains("type");
    if (!t || !t->is_string()) return unreadable("a stream event has no type");
    api::SseEvent typed{std::string_view(t->get_string().data(), t->get_string().size()),
                        event.data};
    return read_event(typed);
  }
  const json::value* usage = nullptr;
  if (type == "message_start") {
    if (const auto* m = o->if_contains("message"); m && m->is_object()) {
      usage = m->get_object().if_contains("usage");
    }
  } else {
    usage = o->if_contains("usage");
  }
  if (usage && usage->is_object()) out.usage = anthropic_usage(usage->get_object());
  return out;
}

bool AnthropicAdapter::is_preamble(const api::SseEvent& event) const {
  const auto type = event.event;
  return type == "message_start" || type == "ping" || type == "content_block_start";
}

std::optional<std::chrono::milliseconds> AnthropicAdapter::exhausted_for(
    std::span<const Header> headers, std::time_t now) const {
  // anthropic-ratelimit-{requests,tokens,input-tokens,output-tokens}-remaining: 0 with the
  // matching -reset time (RFC 3339).
  constexpr std::string_view kPrefix = "anthropic-ratelimit-";
  constexpr std::string_view kRemaining = "-remaining";
  std::optional<std::chrono::milliseconds> out;
  for (const auto& h : headers) {
    if (h.value != "0" || h.name.size() <= kPrefix.size() + kRemaining.size() ||
        !iequals(h.name.substr(0, kPrefix.size()), kPrefix) ||
        !iequals(h.name.substr(h.name.size() - kRemaining.size()), kRemaining)) {
      continue;
    }
    const auto which =
        h.name.substr(kPrefix.size(), h.name.size() - kPrefix.size() - kRemaining.size());
    for (const auto& r : headers) {
      if (r.name.size() != kPrefix.size() + which.size() + 6 ||
          !iequals(r.name.substr(0, kPrefix.size()), kPrefix) ||
          !iequals(r.name.substr(kPrefix.size(), which.size()), which) ||
          !iequals(r.name.substr(kPrefix.size() + which.size()), "-reset")) {
        continue;
      }
      if (const auto at = rfc3339(r.value); at && *at > now) {
        const auto ms = std::chrono::milliseconds(std::chrono::seconds(*at - now));
        out = std::max(out.value_or(std::chrono::milliseconds::zero()), ms);
      }
      break;
    }
  }
  return out;
}

bool AnthropicAdapter::context_exceeded(int status, std::string_view body) const {
  // "prompt is too long: 210000 tokens > 200000 maximum" (invalid_request_error).
  return status == 400 && body.find("prompt is too long") != std::string_view::npos;
}

}  // namespace shepherd::providers::anthropic
