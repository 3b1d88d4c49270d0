// Answers: the response object and its output items, written whole for a complete answer and
// piece by piece by the stream encoder.
#include <limits>
#include <optional>
#include <string>
#include <utility>

#include "translate/openai_responses/internal.hpp"

namespace shepherd::translate::openai_responses {

namespace {

json::value usage_object(const std::optional<Usage>& usage, const json::storage_ptr& sp) {
  if (!usage) return json::value(nullptr, sp);
  json::object u(sp);
  u["input_tokens"] = usage->prompt_tokens;
  u["input_tokens_details"] = json::object({{"cached_tokens", usage->cache_read_tokens}}, sp);
  u["output_tokens"] = usage->completion_tokens;
  u["output_tokens_details"] = json::object({{"reasoning_tokens", usage->reasoning_tokens}}, sp);
  u["total_tokens"] = usage->total();
  if (usage->cost_usd) u["cost"] = *usage->cost_usd;
  return u;
}

json::value tool_choice_value(const std::optional<ToolChoice>& c, const json::storage_ptr& sp) {
  if (!c) return json::value("auto", sp);
  switch (c->mode) {
    case ToolChoice::Mode::kNone:
      return json::value("none", sp);
    case ToolChoice::Mode::kRequired:
      return json::value("required", sp);
    case ToolChoice::Mode::kTool:
      return json::object({{"type", "function"}, {"name", c->name}}, sp);
    default:
      return json::value("auto", sp);
  }
}

json::object format_object(const ResponseFormat& f, const json::storage_ptr& sp) {
  json::object o(sp);
  if (f.kind == ResponseFormat::Kind::kText) {
    o["type"] = "text";
  } else if (f.kind == ResponseFormat::Kind::kJsonObject) {
    o["type"] = "json_object";
  } else {
    o["type"] = "json_schema";
    o["name"] = f.name;
    o["schema"] = json::value(f.schema, sp);
    o["strict"] = f.strict;
  }
  return o;
}

json::array tools_array(const std::vector<Tool>& tools, const json::storage_ptr& sp) {
  json::array out(sp);
  for (const auto& t : tools) {
    json::object o(sp);
    o["type"] = "function";
    o["name"] = t.name;
    o["description"] = t.description.empty() ? json::value(nullptr) : json::value(t.description);
    o["parameters"] = json::value(t.parameters, sp);
    o["strict"] = false;
    out.push_back(std::move(o));
  }
  return out;
}

}  // namespace

Echo echo_of(const Request& request) {
  Echo e;
  e.temperature = request.temperature;
  e.top_p = request.top_p;
  e.max_output_tokens = request.max_tokens;
  e.tool_choice = request.tool_choice;
  e.parallel_tool_calls = !request.tool_choice || request.tool_choice->parallel_calls;
  e.reasoning_effort = request.reasoning_effort;
  e.format = request.response_format;
  e.instructions = request.system;
  e.tools = request.tools;
  return e;
}

std::string response_id(std::string_view id) { return detail::with_prefix(id, "resp_"); }

std::string item_id(std::string_view prefix, std::string_view response, std::size_t index) {
  if (response.starts_with("resp_")) response.remove_prefix(5);
  return cat(prefix, response, "_", index);
}

const char* incomplete_reason(StopReason reason) {
  switch (reason) {
    case StopReason::kMaxTokens:
      return "max_output_tokens";
    case StopReason::kContentFilter:
      return "content_filter";
    default:
      return nullptr;
  }
}

json::object output_text(std::string_view text, const json::storage_ptr& sp) {
  json::object part(sp);
  part["type"] = "output_text";
  part["text"] = text;
  part["annotations"] = json::array(sp);
  part["logprobs"] = json::array(sp);
  return part;
}

json::object message_item(std::string_view id, std::string_view status, const std::string* text,
                          const json::storage_ptr& sp) {
  json::object item(sp);
  item["id"] = id;
  item["type"] = "message";
  item["status"] = status;
  item["role"] = "assistant";
  json::array content(sp);
  if (text) content.push_back(output_text(*text, sp));
  item["content"] = std::move(content);
  return item;
}

json::object summary_text(std::string_view text, const json::storage_ptr& sp) {
  json::object part(sp);
  part["type"] = "summary_text";
  part["text"] = text;
  return part;
}

json::object reasoning_item(std::string_view id, const std::string* text,
                            std::string_view encrypted, bool redacted,
                            const json::storage_ptr& sp) {
  json::object item(sp);
  item["id"] = id;
  item["type"] = "reasoning";
  json::array summary(sp);
  if (text) summary.push_back(summary_text(*text, sp));
  item["summary"] = std::move(summary);
  if (!encrypted.empty()) {
    if (redacted) {
      item["encrypted_content"] = cat(kRedactedPrefix, encrypted);
    } else {
      item["encrypted_content"] = encrypted;
    }
  }
  return item;
}

json::object function_call_item(std::string_view id, std::string_view status,
                                std::string_view call_id, std::string_view name,
                                std::string_view arguments, const json::storage_ptr& sp) {
  json::object item(sp);
  item["id"] = id;
  item["type"] = "function_call";
  item["status"] = status;
  item["call_id"] = call_id;
  item["name"] = name;
  item["arguments"] = arguments;
  return item;
}

json::object response_object(const Head& head, std::string_view status, const char* incomplete,
                             json::array output, const std::optional<Usage>& usage,
                             const json::storage_ptr& sp) {
  static const Echo kDefaults;
  const Echo& echo = head.echo ? *head.echo : kDefaults;
  auto optional_number = [&](const auto& v) {
    return v ? json::value(*v, sp) : json::value(nullptr, sp);
  };
  json::object r(sp);
  r.reserve(24);
  r["id"] = head.id;
  r["object"] = "response";
  r["created_at"] = head.created;
  r["status"] = status;
  r["background"] = false;
  r["error"] = nullptr;
  if (incomplete) {
    r["incomplete_details"] = json::object({{"reason", incomplete}}, sp);
  } else {
    r["incomplete_details"] = nullptr;
  }
  r["instructions"] =
      echo.instructions.empty() ? json::value(nullptr, sp) : json::value(echo.instructions, sp);
  r["max_output_tokens"] = optional_number(echo.max_output_tokens);
  r["model"] = head.model;
  r["output"] = std::move(output);
  r["parallel_tool_calls"] = echo.parallel_tool_calls;
  r["previous_response_id"] = nullptr;
  r["reasoning"] =
      json::object({{"effort", echo.reasoning_effort.empty() ? json::value(nullptr)
                                                             : json::value(echo.reasoning_effort)},
                    {"summary", nullptr}},
                   sp);
  r["store"] = false;
  r["temperature"] = optional_number(echo.temperature);
  r["text"] = json::object({{"format", format_object(echo.format, sp)}}, sp);
  r["tool_choice"] = tool_choice_value(echo.tool_choice, sp);
  r["tools"] = tools_array(echo.tools, sp);
  r["top_p"] = optional_number(echo.top_p);
  r["truncation"] = "disabled";
  r["usage"] = usage_object(usage, sp);
  r["user"] = nullptr;
  r["metadata"] = json::object(sp);
  return r;
}

void encode_response(const Request& request, const Response& response, std::string_view model,
                     std::string& out) {
  unsigned char buffer[4096];
  json::monotonic_resource mr(buffer);
  json::storage_ptr sp(&mr);
  const std::string id = response_id(response.id);
  const char* incomplete = incomplete_reason(response.stop_reason);

  json::array output(sp);
  output.reserve(response.content.size());
  std::string text;
  // The output index of the message item being filled; kNone when there is none.
  constexpr std::size_t kNone = std::numeric_limits<std::size_t>::max();
  std::size_t message = kNone;
  auto flush_message = [&] {
    if (message == kNone) return;
    output[message] = message_item(item_id("msg_", id, message), "completed", &text, sp);
    text.clear();
    message = kNone;
  };
  for (const auto& part : response.content) {
    switch (part.kind) {
      case Part::Kind::kText:
        if (message == kNone) {
          message = output.size();
          output.emplace_back(nullptr);
        }
        text += part.text;
        break;
      case Part::Kind::kThinking:
        flush_message();
        output.push_back(reasoning_item(item_id("rs_", id, output.size()), &part.text,
                                        part.signature, false, sp));
        break;
      case Part::Kind::kRedactedThinking:
        flush_message();
        output.push_back(
            reasoning_item(item_id("rs_", id, output.size()), nullptr, part.text, true, sp));
        break;
      case Part::Kind::kToolCall:
        flush_message();
        output.push_back(function_call_item(item_id("fc_", id, output.size()), "completed", part.id,
                                            part.name, part.arguments, sp));
        break;
      default:
        break;
    }
  }
  flush_message();
  // The last item is the one the cap or the filter cut short (responses/object: item status).
  if (incomplete && !output.empty()) {
    auto& last = output.back().as_object();
    if (last.contains("status")) last["status"] = "incomplete";
  }
  const Echo echo = echo_of(request);
  const Head head{id, response.created, model, &echo};
  out += json::serialize(response_object(head, incomplete ? "incomplete" : "completed", incomplete,
                                         std::move(output), response.usage, sp));
}

}  // namespace shepherd::translate::openai_responses
