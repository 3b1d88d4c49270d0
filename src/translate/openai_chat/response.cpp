// decode_response and encode_response: a whole chat completion, from a provider and for a client.
#include "api/openai.hpp"
#include "translate/openai_chat.hpp"
#include "translate/openai_chat/internal.hpp"

namespace shepherd::translate {

namespace openai_chat {
namespace {

// The thinking of a completion's message: its thinking_blocks, else its reasoning text.
void read_message_thinking(const json::object& message, std::vector<Part>& out) {
  const auto before = out.size();
  for_each_thinking_block(message, [&](std::string_view type, const json::object& b) {
    if (type == "thinking") {
      out.push_back(thinking_part(string_or_empty(b, "thinking"), string_or_empty(b, "signature")));
    } else if (type == "redacted_thinking") {
      out.push_back(redacted_part(string_or_empty(b, "data")));
    }
  });
  if (out.size() > before) return;
  if (const auto text = reasoning_text(message); !text.empty()) out.push_back(thinking_part(text));
}

}  // namespace
}  // namespace openai_chat

base::Result<Response> OpenAiChatCodec::decode_response(std::string_view body) const {
  using namespace openai_chat;
  unsigned char buffer[kParseBuffer];
  json::monotonic_resource mr(buffer, sizeof buffer);
  boost::system::error_code ec;
  const auto root = parse(body, kUpstreamMaxDepth, &mr, ec);
  if (!root || !root->is_object()) return unreadable("it is not a JSON object", body);
  const auto& o = root->get_object();
  if (member(o, "error") || string_or_empty(o, "object") == "error") {
    return unreadable(cat("it holds an error instead of a completion: ",
                          excerpt(api::upstream_error_message(body))));
  }
  const auto* choices = member(o, "choices");
  if (!choices || !choices->is_array() || choices->get_array().empty()) {
    return unreadable("it has no choices", body);
  }
  const auto* choice = choices->get_array()[0].if_object();
  const auto* message = choice ? object_member(*choice, "message") : nullptr;
  if (!message) return unreadable("its first choice has no message", body);
  const auto& m = *message;

  Response r;
  r.id = string_or_empty(o, "id");
  r.model = string_or_empty(o, "model");
  if (const auto* created = member(o, "created")) r.created = integer(*created).value_or(0);

  read_message_thinking(m, r.content);
  if (const auto* content = member(m, "content")) {
    if (const auto* s = content->if_string(); s && !s->empty()) {
      r.content.push_back(text_part(sv(*s)));
    } else if (const auto* parts = content->if_array()) {
      for (const auto& p : *parts) {
        const auto* part = p.if_object();
        if (part && string_or_empty(*part, "type") == "text") {
          r.content.push_back(text_part(string_or_empty(*part, "text")));
        }
      }
    }
  }
  if (const auto text = string_or_empty(m, "refusal"); !text.empty()) {
    r.content.push_back(text_part(text));
  }
  bool called = false;
  const auto add_call = [&](const json::object& fn, std::string_view id) {
    r.content.push_back(
        call_part(id, string_or_empty(fn, "name"), string_or_empty(fn, "arguments")));
    called = true;
  };
  if (const auto* calls = member(m, "tool_calls")) {
    if (!calls->is_array()) return unreadable("its tool_calls is not an array", body);
    for (const auto& v : calls->get_array()) {
      const auto* call = v.if_object();
      const auto* fn = call ? object_member(*call, "function") : nullptr;
      if (!fn) return unreadable("a tool call has no function", body);
      add_call(*fn, string_or_empty(*call, "id"));
    }
  } else if (const auto* fn = object_member(m, "function_call")) {
    add_call(*fn, string_or_empty(*fn, "name"));
  }
  r.stop_reason = stop_reason(string_or_empty(*choice, "finish_reason"), called);
  if (const auto* usage = object_member(o, "usage")) r.usage = read_usage(*usage);
  return r;
}

void OpenAiChatCodec::encode_response(const Request&, const Response& r, std::string_view model,
                                      std::string& out) const {
  using namespace openai_chat;
  out += "{\"id\":";
  append_quoted(out, with_prefix(r.id, kIdPrefix));
  out += ",\"object\":\"chat.completion\",\"created\":";
  append_int(out, r.created);
  out += ",\"model\":";
  append_quoted(out, model);
  out += ",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":";

  const auto& parts = r.content;
  if (has_part(parts, Part::Kind::kText)) {
    append_joined(out, parts, Part::Kind::kText);
  } else {
    out += "null";
  }
  const bool thinking = has_part(parts, Part::Kind::kThinking);
  if (thinking) {
    out += ",\"reasoning_content\":";
    append_joined(out, parts, Part::Kind::kThinking);
  }
  if (thinking || has_part(parts, Part::Kind::kRedactedThinking)) {
    out += ",\"thinking_blocks\":[";
    Members items(out);
    for (const auto& p : parts) {
      if (p.kind == Part::Kind::kThinking) {
        items.next() += "{\"type\":\"thinking\",\"thinking\":";
        append_quoted(out, p.text);
        out += ",\"signature\":";
        append_quoted(out, p.signature);
        out.push_back('}');
      } else if (p.kind == Part::Kind::kRedactedThinking) {
        items.next() += "{\"type\":\"redacted_thinking\",\"data\":";
        append_quoted(out, p.text);
        out.push_back('}');
      }
    }
    out.push_back(']');
  }
  if (has_part(parts, Part::Kind::kToolCall)) {
    out += ",\"tool_calls\":";
    append_tool_calls(out, parts, {});
  }
  out += "},\"logprobs\":null,\"finish_reason\":";
  append_quoted(out, finish_reason(r.stop_reason));
  out += "}]";
  if (r.usage) {
    out += ",\"usage\":";
    append_usage(out, *r.usage);
  }
  out.push_back('}');
}

}  // namespace shepherd::translate
