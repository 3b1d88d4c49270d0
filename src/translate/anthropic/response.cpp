// Complete answers: Anthropic's read into the common form (decode_response) and the common form
// written as Anthropic's (encode_response).
#include <algorithm>

#include "translate/anthropic/internal.hpp"

namespace shepherd::translate {

namespace detail::anthropic {

Usage usage_from(std::int64_t input, std::int64_t cache_creation, std::int64_t cache_read,
                 std::int64_t output) {
  Usage usage;
  usage.cache_read_tokens = cache_read;
  usage.cache_creation_tokens = cache_creation;
  usage.prompt_tokens = input + cache_read + cache_creation;
  usage.completion_tokens = output;
  return usage;
}

std::int64_t uncached_input_tokens(const Usage& u) {
  return std::max<std::int64_t>(0, u.prompt_tokens - u.cache_read_tokens - u.cache_creation_tokens);
}

namespace {

Usage usage_of(const json::object& u) {
  return usage_from(count(u, "input_tokens"), count(u, "cache_creation_input_tokens"),
                    count(u, "cache_read_input_tokens"), count(u, "output_tokens"));
}

// An answer's content block; nullopt for blocks with no counterpart (server tool blocks, which
// requests encoded here never ask for).
base::Result<std::optional<Part>> answer_block(const json::value& v, std::size_t i) {
  const auto* o = v.if_object();
  const auto* type = o ? string_member(*o, "type") : nullptr;
  if (!type) return unreadable(cat("content[", i, "] is not a typed block"));
  Part part;
  if (*type == "text") {
    const auto* text = string_member(*o, "text");
    if (!text) return unreadable(cat("content[", i, "].text is not a string"));
    part.text = sv(*text);
  } else if (*type == "thinking") {
    const auto* thinking = string_member(*o, "thinking");
    if (!thinking) return unreadable(cat("content[", i, "].thinking is not a string"));
    part.kind = Part::Kind::kThinking;
    part.text = sv(*thinking);
    if (const auto* s = string_member(*o, "signature")) part.signature = sv(*s);
  } else if (*type == "redacted_thinking") {
    const auto* data = string_member(*o, "data");
    if (!data) return unreadable(cat("content[", i, "].data is not a string"));
    part.kind = Part::Kind::kRedactedThinking;
    part.text = sv(*data);
  } else if (*type == "tool_use") {
    const auto* id = string_member(*o, "id");
    const auto* name = string_member(*o, "name");
    if (!id || !name) return unreadable(cat("content[", i, "] is a tool_use without id or name"));
    part.kind = Part::Kind::kToolCall;
    part.id = sv(*id);
    part.name = sv(*name);
    const auto* input = object_member(*o, "input");
    part.arguments = input ? json::serialize(*input) : "{}";
  } else {
    return std::optional<Part>{};
  }
  return std::optional<Part>(std::move(part));
}

json::object usage_object(const Usage& u, json::storage_ptr sp) {
  json::object usage(sp);
  usage.emplace("input_tokens", uncached_input_tokens(u));
  usage.emplace("output_tokens", u.completion_tokens);
  usage.emplace("cache_creation_input_tokens", u.cache_creation_tokens);
  usage.emplace("cache_read_input_tokens", u.cache_read_tokens);
  return usage;
}

// An answer's part as Anthropic's content block; an empty object for parts an answer has none
// of (images, tool results).
json::object answer_content(const Part& p, json::storage_ptr sp) {
  json::object block(sp);
  switch (p.kind) {
    case Part::Kind::kText:
      block.emplace("type", "text");
      block.emplace("text", std::string_view(p.text));
      break;
    case Part::Kind::kThinking:
      block.emplace("type", "thinking");
      block.emplace("thinking", std::string_view(p.text));
      block.emplace("signature", std::string_view(p.signature));
      break;
    case Part::Kind::kRedactedThinking:
      block.emplace("type", "redacted_thinking");
      block.emplace("data", std::string_view(p.text));
      break;
    case Part::Kind::kToolCall: {
      block.emplace("type", "tool_use");
      block.emplace("id", std::string_view(p.id));
      block.emplace("name", std::string_view(p.name));
      // A provider's arguments that are not a JSON object cannot be an Anthropic input; the call
      // is kept with an empty one rather than failing an answer already paid for.
      auto input = tool_input(p.arguments, sp);
      block.emplace("input", input ? std::move(*input) : json::value(json::object(sp)));
      break;
    }
    case Part::Kind::kImage:
    case Part::Kind::kToolResult:
      break;  // not part of an assistant answer
  }
  return block;
}

}  // namespace

base::Result<Response> decode_response(std::string_view body) {
  Scratch<4096> scratch;
  json::value root(scratch.storage());
  const auto parsed = upstream_object(body, "the body", root);
  if (!parsed) return parsed.error();
  const json::object* o = *parsed;
  const auto* type = string_member(*o, "type");
  if (type && *type == "error") {
    const auto* error = object_member(*o, "error");
    const auto* message = error ? string_member(*error, "message") : nullptr;
    return unreadable(message ? cat("it is an error object (", utf8_prefix(sv(*message), 200), ")")
                              : std::string("it is an error object"),
                      body);
  }
  const auto* blocks = array_member(*o, "content");
  if (!blocks) return unreadable("it has no content array", body);
  Response response;
  if (const auto* id = string_member(*o, "id")) response.id = sv(*id);
  if (const auto* model = string_member(*o, "model")) response.model = sv(*model);
  response.content.reserve(blocks->size());
  for (std::size_t i = 0; i < blocks->size(); ++i) {
    auto part = answer_block((*blocks)[i], i);
    if (!part) return std::move(part).error();
    if (*part) response.content.push_back(std::move(**part));
  }
  if (const auto* reason = string_member(*o, "stop_reason")) {
    response.stop_reason = stop_reason_of(sv(*reason));
  }
  if (const auto* seq = string_member(*o, "stop_sequence")) response.stop_sequence = sv(*seq);
  if (const auto* usage = object_member(*o, "usage")) response.usage = usage_of(*usage);
  return response;
}

void encode_response(const Response& response, std::string_view model, std::string& out) {
  Scratch<4096> scratch;
  const json::storage_ptr sp = scratch.storage();
  json::object body(8, sp);
  body.emplace("id", with_prefix(response.id, "msg_"));
  body.emplace("type", "message");
  body.emplace("role", "assistant");
  body.emplace("model", model);
  json::array content(sp);
  content.reserve(response.content.size());
  for (const auto& p : response.content) {
    auto block = answer_content(p, sp);
    if (!block.empty()) content.emplace_back(std::move(block));
  }
  body.emplace("content", std::move(content));
  body.emplace("stop_reason", stop_reason_name(response.stop_reason));
  if (response.stop_reason == StopReason::kStopSequence && !response.stop_sequence.empty()) {
    body.emplace("stop_sequence", std::string_view(response.stop_sequence));
  } else {
    body.emplace("stop_sequence", nullptr);
  }
  body.emplace("usage", usage_object(response.usage.value_or(Usage{}), sp));
  out.append(json::serialize(body));
}

}  // namespace detail::anthropic
}  // namespace shepherd::translate
