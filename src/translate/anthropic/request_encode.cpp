// encode_request: the common form as Anthropic's body.
#include <algorithm>

#include "translate/anthropic/internal.hpp"

namespace shepherd::translate {

namespace detail::anthropic {

std::optional<json::value> tool_input(std::string_view arguments, json::storage_ptr sp) {
  if (arguments.find_first_not_of(" \t\r\n") == std::string_view::npos) {
    return json::value(json::object(sp));
  }
  boost::system::error_code ec;
  auto v = parse_json(arguments, kUpstreamMaxDepth, sp, ec);
  if (ec || !v.is_object()) return std::nullopt;
  return v;
}

namespace {

// Whether the message writes at least one block (see append_part for what is skipped).
bool writes_blocks(const Message& m) {
  for (const auto& p : m.parts) {
    if (p.kind == Part::Kind::kText && p.text.empty()) continue;
    if (p.kind == Part::Kind::kThinking && p.signature.empty()) continue;
    return true;
  }
  return false;
}

json::object image_block(const Part& p, json::storage_ptr sp) {
  json::object source(sp);
  std::string_view url = p.url;
  constexpr std::string_view kData = "data:";
  constexpr std::string_view kBase64 = ";base64,";
  if (p.data.empty() && url.starts_with(kData)) {
    // A data URL that was not split by the client's decoder: Anthropic takes base64 only as
    // media_type + data.
    if (const auto at = url.find(kBase64); at != std::string_view::npos) {
      source.emplace("type", "base64");
      source.emplace("media_type", url.substr(kData.size(), at - kData.size()));
      source.emplace("data", url.substr(at + kBase64.size()));
    }
  }
  if (source.empty()) {
    if (!p.data.empty()) {
      source.emplace("type", "base64");
      source.emplace("media_type", std::string_view(p.media_type));
      source.emplace("data", std::string_view(p.data));
    } else {
      source.emplace("type", "url");
      source.emplace("url", url);
    }
  }
  json::object block(sp);
  block.emplace("type", "image");
  block.emplace("source", std::move(source));
  return block;
}

json::object text_block(std::string_view text, json::storage_ptr sp) {
  json::object block(sp);
  block.emplace("type", "text");
  block.emplace("text", text);
  return block;
}

json::object tool_result_block(const Part& p, json::storage_ptr sp) {
  json::object block(sp);
  block.emplace("type", "tool_result");
  block.emplace("tool_use_id", std::string_view(p.id));
  if (p.content.size() == 1 && p.content[0].kind == Part::Kind::kText) {
    block.emplace("content", std::string_view(p.content[0].text));
  } else if (!p.content.empty()) {
    json::array inner(sp);
    inner.reserve(p.content.size());
    for (const auto& c : p.content) {
      if (c.kind == Part::Kind::kText && !c.text.empty()) {
        inner.emplace_back(text_block(c.text, sp));
      } else if (c.kind == Part::Kind::kImage) {
        inner.emplace_back(image_block(c, sp));
      }
    }
    block.emplace("content", std::move(inner));
  }
  if (p.is_error) block.emplace("is_error", true);
  return block;
}

base::Status append_part(const Part& p, json::array& content, json::storage_ptr sp) {
  switch (p.kind) {
    case Part::Kind::kText:
      if (!p.text.empty()) content.emplace_back(text_block(p.text, sp));
      break;
    case Part::Kind::kImage:
      content.emplace_back(image_block(p, sp));
      break;
    case Part::Kind::kToolCall: {
      auto input = tool_input(p.arguments, sp);
      if (!input) {
        return bad_request(cat("the arguments of tool call ", p.id,
                               " are not a JSON object; Anthropic takes a tool call's input as "
                               "an object"),
                           "");
      }
      json::object block(sp);
      block.emplace("type", "tool_use");
      block.emplace("id", std::string_view(p.id));
      block.emplace("name", std::string_view(p.name));
      block.emplace("input", std::move(*input));
      content.emplace_back(std::move(block));
      break;
    }
    case Part::Kind::kToolResult:
      content.emplace_back(tool_result_block(p, sp));
      break;
    case Part::Kind::kThinking: {
      // Anthropic verifies the signature of every thinking block sent back; reasoning from
      // another provider has none and would be refused, so it is dropped.
      if (p.signature.empty()) break;
      json::object block(sp);
      block.emplace("type", "thinking");
      block.emplace("thinking", std::string_view(p.text));
      block.emplace("signature", std::string_view(p.signature));
      content.emplace_back(std::move(block));
      break;
    }
    case Part::Kind::kRedactedThinking: {
      json::object block(sp);
      block.emplace("type", "redacted_thinking");
      block.emplace("data", std::string_view(p.text));
      content.emplace_back(std::move(block));
      break;
    }
  }
  return base::Ok{};
}

// Anthropic wants roles to alternate, and a user turn answering tool calls to open with its
// tool_result blocks (docs: tool use, "Handling tool use and tool result content blocks").
base::Status append_messages(const std::vector<Message>& messages, json::array& out,
                             json::storage_ptr sp) {
  out.reserve(messages.size());
  std::size_t i = 0;
  while (i < messages.size()) {
    if (!writes_blocks(messages[i])) {
      ++i;
      continue;
    }
    const Role role = messages[i].role;
    std::size_t end = i + 1;
    while (end < messages.size() && (messages[end].role == role || !writes_blocks(messages[end]))) {
      ++end;
    }
    json::array content(sp);
    if (role == Role::kUser) {
      for (std::size_t k = i; k < end; ++k) {
        for (const auto& p : messages[k].parts) {
          if (p.kind != Part::Kind::kToolResult) continue;
          if (auto s = append_part(p, content, sp); !s) return s;
        }
      }
    }
    for (std::size_t k = i; k < end; ++k) {
      for (const auto& p : messages[k].parts) {
        if (role == Role::kUser && p.kind == Part::Kind::kToolResult) continue;
        if (auto s = append_part(p, content, sp); !s) return s;
      }
    }
    json::object message(sp);
    message.emplace("role", role == Role::kUser ? "user" : "assistant");
    message.emplace("content", std::move(content));
    out.emplace_back(std::move(message));
    i = end;
  }
  return base::Ok{};
}

// The thinking budget for `r`: its own, or one for its effort; 0 for none.
std::int64_t thinking_budget(const Request& r) {
  if (r.thinking_budget) return std::max<std::int64_t>(*r.thinking_budget, 0);
  const std::string_view effort = r.reasoning_effort;
  if (effort == "minimal") return 1024;
  if (effort == "low") return 2048;
  if (effort == "medium") return 8192;
  if (effort == "high") return 24576;
  return 0;  // unset, "none", or a level Anthropic has no budget for
}

bool forces_tool(const Request& r) {
  return r.tool_choice && !r.tools.empty() &&
         (r.tool_choice->mode == ToolChoice::Mode::kRequired ||
          r.tool_choice->mode == ToolChoice::Mode::kTool);
}

// Anthropic has no JSON mode (response_format): the closest it honours is an instruction in the
// system prompt, with the schema when there is one (docs: "Increase output consistency").
std::string system_with_format(const Request& r) {
  std::string system = r.system;
  if (!system.empty()) system.append("\n\n");
  system.append("Respond only with a JSON object");
  if (r.response_format.kind == ResponseFormat::Kind::kJsonSchema &&
      !r.response_format.schema.is_null()) {
    system.append(" that conforms to this JSON Schema:\n");
    system.append(json::serialize(r.response_format.schema));
  } else {
    system.append(".");
  }
  return system;
}

void append_tools(const Request& r, json::object& body, json::storage_ptr sp) {
  json::array tools(sp);
  tools.reserve(r.tools.size());
  for (const auto& t : r.tools) {
    json::object tool(sp);
    tool.emplace("name", std::string_view(t.name));
    if (!t.description.empty()) tool.emplace("description", std::string_view(t.description));
    if (t.parameters.is_object()) {
      tool.emplace("input_schema", t.parameters);
    } else {
      json::object schema(sp);
      schema.emplace("type", "object");
      schema.emplace("properties", json::object(sp));
      tool.emplace("input_schema", std::move(schema));
    }
    tools.emplace_back(std::move(tool));
  }
  body.emplace("tools", std::move(tools));
  // tool_choice without tools is refused by Anthropic; without tools there is nothing to choose
  // from, so it is sent only with them.
  if (!r.tool_choice) return;
  json::object choice(sp);
  switch (r.tool_choice->mode) {
    case ToolChoice::Mode::kAuto:
      choice.emplace("type", "auto");
      break;
    case ToolChoice::Mode::kNone:
      choice.emplace("type", "none");
      break;
    case ToolChoice::Mode::kRequired:
      choice.emplace("type", "any");
      break;
    case ToolChoice::Mode::kTool:
      choice.emplace("type", "tool");
      choice.emplace("name", std::string_view(r.tool_choice->name));
      break;
  }
  if (!r.tool_choice->parallel_calls && r.tool_choice->mode != ToolChoice::Mode::kNone) {
    choice.emplace("disable_parallel_tool_use", true);
  }
  body.emplace("tool_choice", std::move(choice));
}

}  // namespace

base::Status encode_request(const Request& r, std::string_view upstream_model, std::string& out) {
  Scratch<4096> scratch;
  const json::storage_ptr sp = scratch.storage();
  json::object body(16, sp);
  body.emplace("model", upstream_model);

  std::int64_t max_tokens = r.max_tokens.value_or(kAnthropicDefaultMaxTokens);
  // Extended thinking refuses forced tool use (docs: extended thinking, "Tool use"): a client's
  // demand for a tool call is kept and thinking is left off.
  std::int64_t budget = forces_tool(r) ? 0 : thinking_budget(r);
  if (budget > 0) {
    budget = std::max<std::int64_t>(budget, 1024);  // the documented minimum
    // budget_tokens must stay below max_tokens.
    if (max_tokens <= budget) max_tokens = budget + 1024;
  }
  body.emplace("max_tokens", max_tokens);

  std::string with_format;
  std::string_view system = r.system;
  if (r.response_format.kind != ResponseFormat::Kind::kText) {
    with_format = system_with_format(r);
    system = with_format;
  }
  if (!system.empty()) body.emplace("system", system);

  json::array messages(sp);
  if (auto s = append_messages(r.messages, messages, sp); !s) return s;
  if (messages.empty()) {
    return bad_request(
        "the request has no message with content; Anthropic needs at least one message",
        "messages");
  }
  body.emplace("messages", std::move(messages));
  if (!r.tools.empty()) append_tools(r, body, sp);

  if (!r.stop.empty()) {
    json::array stop(sp);
    stop.reserve(r.stop.size());
    for (const auto& s : r.stop) stop.emplace_back(std::string_view(s));
    body.emplace("stop_sequences", std::move(stop));
  }
  if (budget > 0) {
    json::object thinking(sp);
    thinking.emplace("type", "enabled");
    thinking.emplace("budget_tokens", budget);
    body.emplace("thinking", std::move(thinking));
    // Thinking "isn't compatible with temperature or top_k modifications", and top_p may only
    // be set between 0.95 and 1 (docs: extended thinking, "Feature compatibility"): the
    // sampling settings Anthropic would refuse are left out.
    if (r.top_p && *r.top_p >= 0.95) body.emplace("top_p", *r.top_p);
  } else {
    if (r.temperature) body.emplace("temperature", *r.temperature);
    if (r.top_p) body.emplace("top_p", *r.top_p);
    if (r.top_k) body.emplace("top_k", *r.top_k);
  }
  // presence_penalty, frequency_penalty and seed have no counterpart in the Messages API.
  if (!r.user.empty()) {
    json::object metadata(sp);
    metadata.emplace("user_id", std::string_view(r.user));
    body.emplace("metadata", std::move(metadata));
  }
  if (r.stream) body.emplace("stream", true);
  out.append(json::serialize(body));
  return base::Ok{};
}

}  // namespace detail::anthropic
}  // namespace shepherd::translate
