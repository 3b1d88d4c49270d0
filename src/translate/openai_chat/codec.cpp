// The codec object, and the vocabulary every direction of the OpenAI chat format shares.
#include <algorithm>

#include "api/openai.hpp"
#include "translate/openai_chat.hpp"
#include "translate/openai_chat/internal.hpp"

namespace shepherd::translate {

namespace openai_chat {

std::optional<json::value> parse(std::string_view text, std::size_t max_depth,
                                 json::storage_ptr storage, boost::system::error_code& ec) {
  json::parse_options opts;
  opts.max_depth = max_depth;
  auto v = json::parse(json::string_view(text.data(), text.size()), ec, std::move(storage), opts);
  if (ec) return std::nullopt;
  return v;
}

// ---------------------------------------------------------------------------------------------
// Parts and deltas

Part text_part(std::string_view text) {
  Part p;
  p.text = text;
  return p;
}

Part thinking_part(std::string_view text, std::string_view signature) {
  Part p;
  p.kind = Part::Kind::kThinking;
  p.text = text;
  p.signature = signature;
  return p;
}

Part redacted_part(std::string_view data) {
  Part p;
  p.kind = Part::Kind::kRedactedThinking;
  p.text = data;
  return p;
}

Part call_part(std::string_view id, std::string_view name, std::string_view arguments) {
  Part p;
  p.kind = Part::Kind::kToolCall;
  p.id = id;
  p.name = name;
  // An empty arguments string is no JSON object; other formats need one.
  p.arguments = arguments.empty() ? std::string_view("{}") : arguments;
  return p;
}

Delta make_delta(Delta::Kind kind, std::string_view text, int index) {
  Delta d;
  d.kind = kind;
  d.text = text;
  d.index = index;
  return d;
}

// ---------------------------------------------------------------------------------------------
// Shared vocabulary

std::string_view finish_reason(StopReason r) {
  switch (r) {
    case StopReason::kMaxTokens:
      return "length";
    case StopReason::kToolUse:
      return "tool_calls";
    case StopReason::kContentFilter:
      return "content_filter";
    case StopReason::kEndTurn:
    case StopReason::kStopSequence:
    case StopReason::kPauseTurn:
      break;
  }
  return "stop";
}

// Some OpenAI-compatible servers say "stop" after tool calls; a turn that called tools ends in
// tool use whatever it says, since other formats' clients run tools only on that reason.
StopReason stop_reason(std::string_view r, bool called_tools) {
  if (r == "length") return StopReason::kMaxTokens;
  if (r == "tool_calls" || r == "function_call") return StopReason::kToolUse;
  if (r == "content_filter") return StopReason::kContentFilter;
  return called_tools ? StopReason::kToolUse : StopReason::kEndTurn;
}

void append_usage(std::string& out, const Usage& u) {
  out += "{\"prompt_tokens\":";
  append_int(out, u.prompt_tokens);
  out += ",\"completion_tokens\":";
  append_int(out, u.completion_tokens);
  out += ",\"total_tokens\":";
  append_int(out, u.total());
  out += ",\"prompt_tokens_details\":{\"cached_tokens\":";
  append_int(out, u.cache_read_tokens);
  out += "},\"completion_tokens_details\":{\"reasoning_tokens\":";
  append_int(out, u.reasoning_tokens);
  out += '}';
  if (u.cost_usd) {
    out += ",\"cost\":";
    append_double(out, *u.cost_usd);
  }
  out += '}';
}

Usage read_usage(const json::object& u) {
  Usage usage;
  usage.prompt_tokens = count(u, "prompt_tokens");
  usage.completion_tokens = count(u, "completion_tokens");
  if (const auto* d = object_member(u, "prompt_tokens_details")) {
    usage.cache_read_tokens = count(*d, "cached_tokens");
  }
  if (const auto* d = object_member(u, "completion_tokens_details")) {
    usage.reasoning_tokens = count(*d, "reasoning_tokens");
  }
  return usage;
}

std::string_view reasoning_text(const json::object& message) {
  const auto text = string_or_empty(message, "reasoning_content");
  return text.empty() ? string_or_empty(message, "reasoning") : text;
}

// ---------------------------------------------------------------------------------------------
// Writing

bool has_part(const std::vector<Part>& parts, Part::Kind kind) {
  return std::any_of(parts.begin(), parts.end(), [&](const Part& p) { return p.kind == kind; });
}

void append_joined(std::string& out, const std::vector<Part>& parts, Part::Kind kind) {
  const Part* first = nullptr;
  bool many = false;
  std::string joined;  // only when there are two or more: one is written as it is
  for (const auto& p : parts) {
    if (p.kind != kind) continue;
    if (!first) {
      first = &p;
      continue;
    }
    if (!many) joined = first->text;
    many = true;
    joined += p.text;
  }
  if (many) return append_quoted(out, joined);
  append_quoted(out, first ? std::string_view(first->text) : std::string_view());
}

void append_text_item(std::string& out, std::string_view text) {
  out += "{\"type\":\"text\",\"text\":";
  append_quoted(out, text);
  out.push_back('}');
}

void append_call_members(std::string& out, std::string_view id, std::string_view name,
                         std::string_view arguments) {
  out += "\"id\":";
  append_quoted(out, id);
  out += ",\"type\":\"function\",\"function\":{\"name\":";
  append_quoted(out, name);
  out += ",\"arguments\":";
  append_quoted(out, arguments);
  out.push_back('}');
}

void append_tool_calls(std::string& out, const std::vector<Part>& parts,
                       std::string_view empty_arguments) {
  out.push_back('[');
  Members items(out);
  for (const auto& p : parts) {
    if (p.kind != Part::Kind::kToolCall) continue;
    items.next().push_back('{');
    append_call_members(out, p.id, p.name, p.arguments.empty() ? empty_arguments : p.arguments);
    out.push_back('}');
  }
  out.push_back(']');
}

}  // namespace openai_chat

// ---------------------------------------------------------------------------------------------

std::unique_ptr<StreamDecoder> OpenAiChatCodec::stream_decoder() const {
  return openai_chat::make_stream_decoder();
}

std::unique_ptr<StreamEncoder> OpenAiChatCodec::stream_encoder(const Request& request,
                                                               std::string_view model) const {
  return openai_chat::make_stream_encoder(request, model);
}

std::string OpenAiChatCodec::error_body(const base::Error& error) const {
  return api::error_body(error);
}

std::string OpenAiChatCodec::error_message(std::string_view body) const {
  return api::upstream_error_message(body);
}

const Codec& openai_chat_codec() {
  static const OpenAiChatCodec codec;
  return codec;
}

}  // namespace shepherd::translate
