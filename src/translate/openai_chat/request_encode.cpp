// encode_request: the body for an OpenAI-compatible provider.
#include <algorithm>
#include <cmath>
#include <utility>

#include "translate/openai_chat.hpp"
#include "translate/openai_chat/internal.hpp"

namespace shepherd::translate {

namespace openai_chat {
namespace {

void append_text_content(std::string& out, const std::vector<Part>& parts) {
  const auto texts = std::count_if(parts.begin(), parts.end(),
                                   [](const Part& p) { return p.kind == Part::Kind::kText; });
  if (texts <= 1) return append_joined(out, parts, Part::Kind::kText);
  out.push_back('[');
  Members items(out);
  for (const auto& p : parts) {
    if (p.kind == Part::Kind::kText) append_text_item(items.next(), p.text);
  }
  out.push_back(']');
}

void append_image(std::string& out, const Part& p) {
  out += "{\"type\":\"image_url\",\"image_url\":{\"url\":";
  if (!p.url.empty()) {
    append_quoted(out, p.url);
  } else {
    out += "\"data:";
    append_escaped(out, p.media_type);
    out += ";base64,";
    append_escaped(out, p.data);
    out.push_back('"');
  }
  out += "}}";
}

void append_user(Members& messages, const Message& m) {
  std::string& out = messages.next();
  // Tool results become `tool` messages, which must directly follow the assistant's calls; the
  // rest of the turn follows them as a user message.
  bool any = false;
  std::size_t others = 0;
  const Part* other = nullptr;
  for (const auto& p : m.parts) {
    if (p.kind == Part::Kind::kToolResult) {
      if (any) out.push_back(',');
      any = true;
      out += "{\"role\":\"tool\",\"tool_call_id\":";
      append_quoted(out, p.id);
      out += ",\"content\":";
      append_text_content(out, p.content);  // images in tool results have no place here
      out.push_back('}');
    } else if (p.kind == Part::Kind::kText || p.kind == Part::Kind::kImage) {
      ++others;
      other = &p;
    }
  }
  if (any && others == 0) return;
  if (any) out.push_back(',');
  out += "{\"role\":\"user\",\"content\":";
  if (others == 0 || (others == 1 && other->kind == Part::Kind::kText)) {
    append_quoted(out, other ? std::string_view(other->text) : std::string_view());
    out.push_back('}');
    return;
  }
  out.push_back('[');
  Members items(out);
  for (const auto& p : m.parts) {
    if (p.kind == Part::Kind::kText) {
      append_text_item(items.next(), p.text);
    } else if (p.kind == Part::Kind::kImage) {
      items.next();
      append_image(out, p);
    }
  }
  out += "]}";
}

void append_assistant(Members& messages, const Message& m) {
  std::string& out = messages.next();
  out += "{\"role\":\"assistant\",\"content\":";
  // Text blocks join into one string: OpenAI-compatible servers differ on array content for
  // assistant turns, and every one takes a string. Thinking has no input field here.
  const bool calls = has_part(m.parts, Part::Kind::kToolCall);
  if (has_part(m.parts, Part::Kind::kText)) {
    append_joined(out, m.parts, Part::Kind::kText);
  } else {
    out += calls ? "null" : "\"\"";
  }
  if (calls) {
    out += ",\"tool_calls\":";
    append_tool_calls(out, m.parts, "{}");
  }
  out.push_back('}');
}

// OpenAI's reasoning_effort for a thinking budget (Anthropic budget_tokens, Gemini
// thinkingBudget): under 2048 tokens is low, under 8192 medium, more is high.
std::string_view effort_for_budget(std::int64_t budget) {
  if (budget < 2048) return "low";
  if (budget < 8192) return "medium";
  return "high";
}

}  // namespace
}  // namespace openai_chat

base::Status OpenAiChatCodec::encode_request(const Request& r, std::string_view upstream_model,
                                             std::string& out) const {
  using namespace openai_chat;
  out.reserve(out.size() + 256 + r.system.size());
  out += "{\"model\":";
  append_quoted(out, upstream_model);
  out += ",\"messages\":[";
  Members messages(out);
  if (!r.system.empty()) {
    messages.next() += "{\"role\":\"system\",\"content\":";
    append_quoted(out, r.system);
    out.push_back('}');
  }
  for (const auto& m : r.messages) {
    if (m.role == Role::kUser) {
      append_user(messages, m);
    } else {
      append_assistant(messages, m);
    }
  }
  out.push_back(']');

  Members body(out);
  body.next();  // "model" and "messages" are written
  if (!r.tools.empty()) {
    body.key("tools").push_back('[');
    Members tools(out);
    for (const auto& t : r.tools) {
      tools.next() += "{\"type\":\"function\",\"function\":{\"name\":";
      append_quoted(out, t.name);
      if (!t.description.empty()) {
        out += ",\"description\":";
        append_quoted(out, t.description);
      }
      if (!t.parameters.is_null()) {
        out += ",\"parameters\":";
        append_value(out, t.parameters);
      }
      out += "}}";
    }
    out.push_back(']');
    // OpenAI rejects tool_choice and parallel_tool_calls on a request without tools.
    if (r.tool_choice) {
      auto& o = body.key("tool_choice");
      switch (r.tool_choice->mode) {
        case ToolChoice::Mode::kAuto:
          o += "\"auto\"";
          break;
        case ToolChoice::Mode::kNone:
          o += "\"none\"";
          break;
        case ToolChoice::Mode::kRequired:
          o += "\"required\"";
          break;
        case ToolChoice::Mode::kTool:
          o += "{\"type\":\"function\",\"function\":{\"name\":";
          append_quoted(o, r.tool_choice->name);
          o += "}}";
          break;
      }
      if (!r.tool_choice->parallel_calls) body.key("parallel_tool_calls") += "false";
    }
  }
  if (r.max_tokens) append_int(body.key("max_tokens"), *r.max_tokens);
  const std::pair<std::string_view, const std::optional<double>*> numbers[] = {
      {"temperature", &r.temperature},
      {"top_p", &r.top_p},
      {"presence_penalty", &r.presence_penalty},
      {"frequency_penalty", &r.frequency_penalty},
      {"repetition_penalty", &r.repetition_penalty},
  };
  for (const auto& [key, value] : numbers) {
    if (*value && std::isfinite(**value)) append_double(body.key(key), **value);
  }
  if (r.top_k) append_int(body.key("top_k"), *r.top_k);
  if (r.seed) append_int(body.key("seed"), *r.seed);
  if (!r.stop.empty()) {
    body.key("stop").push_back('[');
    Members stops(out);
    for (const auto& s : r.stop) append_quoted(stops.next(), s);
    out.push_back(']');
  }
  switch (r.response_format.kind) {
    case ResponseFormat::Kind::kText:
      break;
    case ResponseFormat::Kind::kJsonObject:
      body.key("response_format") += "{\"type\":\"json_object\"}";
      break;
    case ResponseFormat::Kind::kJsonSchema:
      body.key("response_format") += "{\"type\":\"json_schema\",\"json_schema\":{\"name\":";
      append_quoted(out, r.response_format.name.empty() ? std::string_view("response")
                                                        : r.response_format.name);
      if (!r.response_format.schema.is_null()) {
        out += ",\"schema\":";
        append_value(out, r.response_format.schema);
      }
      out += r.response_format.strict ? ",\"strict\":true}}" : ",\"strict\":false}}";
      break;
  }
  if (!r.reasoning_effort.empty()) {
    append_quoted(body.key("reasoning_effort"), r.reasoning_effort);
  } else if (r.thinking_budget && *r.thinking_budget > 0) {
    // A budget of 0 (Gemini: thinking off) or -1 (Gemini: dynamic) leaves the server's default.
    append_quoted(body.key("reasoning_effort"), effort_for_budget(*r.thinking_budget));
  }
  if (r.stream) {
    // Usage is always asked for: metering needs it whatever the client asked.
    body.key("stream") += "true,\"stream_options\":{\"include_usage\":true}";
  }
  if (!r.user.empty()) append_quoted(body.key("user"), r.user);
  out.push_back('}');
  return base::Ok{};
}

}  // namespace shepherd::translate
