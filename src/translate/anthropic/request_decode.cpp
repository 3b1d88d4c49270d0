// decode_request: a client's body in the common form.
#include "translate/anthropic/internal.hpp"

namespace shepherd::translate {

namespace detail::anthropic {
namespace {

struct BlockPath {
  static constexpr std::size_t kTop = std::size_t(-1);
  std::size_t message = 0;
  std::size_t block = 0;
  std::size_t inner = kTop;  // index inside a tool_result's content
  std::string str() const {
    std::string s = cat("messages[", message, "].content[", block, "]");
    if (inner != kTop) s += cat(".content[", inner, "]");
    return s;
  }
  std::string field(std::string_view name) const { return cat(str(), ".", name); }
};

base::Error untranslatable_block(const BlockPath& at, std::string_view type) {
  std::string message = cat(at.str(), " is a \"", type,
                            "\" block, which cannot be translated for this model's provider; send ",
                            at.inner == BlockPath::kTop ? "text, image, tool_use, tool_result, "
                                                          "thinking or redacted_thinking blocks"
                                                        : "text or image blocks");
  return bad_request(std::move(message), at.field("type"));
}

base::Status read_image(const json::object& o, const BlockPath& at, Part& part) {
  const auto* source = object_member(o, "source");
  if (!source) {
    return field_error(at.field("source"),
                       "must be an object: {\"type\":\"base64\",\"media_type\",\"data\"} or "
                       "{\"type\":\"url\",\"url\"}");
  }
  const auto* type = string_member(*source, "type");
  part.kind = Part::Kind::kImage;
  if (type && *type == "base64") {
    const auto* media_type = string_member(*source, "media_type");
    if (!media_type) {
      return field_error(at.field("source.media_type"), "must be a string such as \"image/png\"");
    }
    const auto* data = string_member(*source, "data");
    if (!data) return field_error(at.field("source.data"), "must be a base64 string");
    part.media_type = sv(*media_type);
    part.data = sv(*data);
    return base::Ok{};
  }
  if (type && *type == "url") {
    const auto* url = string_member(*source, "url");
    if (!url) return field_error(at.field("source.url"), "must be a string");
    part.url = sv(*url);
    return base::Ok{};
  }
  if (type) {
    return field_error(at.field("source.type"),
                       cat("\"", sv(*type),
                           "\" cannot be translated for this model's provider; send the image as "
                           "\"base64\" or \"url\""));
  }
  return field_error(at.field("source.type"), "must be \"base64\" or \"url\"");
}

base::Result<Part> read_block(const json::value& v, const BlockPath& at);

base::Result<Part> read_tool_result(const json::object& o, const BlockPath& at) {
  Part part;
  const auto* id = string_member(o, "tool_use_id");
  if (!id || id->empty()) {
    return field_error(at.field("tool_use_id"), "must be the id of a tool_use block");
  }
  part.kind = Part::Kind::kToolResult;
  part.id = sv(*id);
  if (const auto* is_error = member(o, "is_error")) {
    if (!is_error->is_bool()) return field_error(at.field("is_error"), "must be true or false");
    part.is_error = is_error->get_bool();
  }
  const auto* content = member(o, "content");
  if (!content) return part;
  if (const auto* s = content->if_string()) {
    Part text;
    text.text = sv(*s);
    part.content.push_back(std::move(text));
    return part;
  }
  const auto* blocks = content->if_array();
  if (!blocks) {
    return field_error(at.field("content"),
                       "must be a string or an array of text and image blocks");
  }
  part.content.reserve(blocks->size());
  BlockPath inner = at;
  for (inner.inner = 0; inner.inner < blocks->size(); ++inner.inner) {
    auto p = read_block((*blocks)[inner.inner], inner);
    if (!p) return std::move(p).error();
    part.content.push_back(std::move(*p));
  }
  return part;
}

base::Result<Part> read_block(const json::value& v, const BlockPath& at) {
  const auto* o = v.if_object();
  if (!o) return field_error(at.str(), "must be a content block object with a type");
  const auto* type = string_member(*o, "type");
  if (!type) return field_error(at.field("type"), "must be a string naming the block type");
  const bool nested = at.inner != BlockPath::kTop;
  Part part;
  if (*type == "text") {
    const auto* text = string_member(*o, "text");
    if (!text) return field_error(at.field("text"), "must be a string");
    part.text = sv(*text);
    return part;
  }
  if (*type == "image") {
    if (auto s = read_image(*o, at, part); !s) return std::move(s).error();
    return part;
  }
  if (nested) return untranslatable_block(at, sv(*type));
  if (*type == "tool_use") {
    const auto* id = string_member(*o, "id");
    if (!id || id->empty()) return field_error(at.field("id"), "must be a non-empty string");
    const auto* name = string_member(*o, "name");
    if (!name || name->empty()) return field_error(at.field("name"), "must be a non-empty string");
    part.kind = Part::Kind::kToolCall;
    part.id = sv(*id);
    part.name = sv(*name);
    const auto* input = member(*o, "input");
    if (!input) {
      part.arguments = "{}";
    } else if (!input->is_object()) {
      return field_error(at.field("input"), "must be an object (the tool's arguments)");
    } else {
      part.arguments = json::serialize(*input);
    }
    return part;
  }
  if (*type == "tool_result") return read_tool_result(*o, at);
  if (*type == "thinking") {
    const auto* thinking = string_member(*o, "thinking");
    if (!thinking) return field_error(at.field("thinking"), "must be a string");
    part.kind = Part::Kind::kThinking;
    part.text = sv(*thinking);
    if (const auto* signature = member(*o, "signature")) {
      if (!signature->is_string()) return field_error(at.field("signature"), "must be a string");
      part.signature = sv(signature->get_string());
    }
    return part;
  }
  if (*type == "redacted_thinking") {
    const auto* data = string_member(*o, "data");
    if (!data) return field_error(at.field("data"), "must be a string");
    part.kind = Part::Kind::kRedactedThinking;
    part.text = sv(*data);
    return part;
  }
  // document, search_result, server_tool_use, web_search_tool_result, container_upload, ...:
  // nothing in the common form carries them to another provider.
  return untranslatable_block(at, sv(*type));
}

base::Status read_messages(const json::array& messages, Request& r) {
  r.messages.reserve(messages.size());
  for (std::size_t i = 0; i < messages.size(); ++i) {
    const auto path = [i](std::string_view field) { return cat("messages[", i, "]", field); };
    const auto* m = messages[i].if_object();
    if (!m) return field_error(path(""), "must be an object with role and content");
    Message message;
    const auto* role = string_member(*m, "role");
    if (role && *role == "user") {
      message.role = Role::kUser;
    } else if (role && *role == "assistant") {
      message.role = Role::kAssistant;
    } else {
      return field_error(path(".role"),
                         "must be \"user\" or \"assistant\" (system instructions go in the "
                         "top-level system field)");
    }
    const auto* content = member(*m, "content");
    if (content && content->is_string()) {
      Part text;
      text.text = sv(content->get_string());
      message.parts.push_back(std::move(text));
    } else if (const auto* blocks = content ? content->if_array() : nullptr) {
      message.parts.reserve(blocks->size());
      BlockPath at;
      at.message = i;
      for (at.block = 0; at.block < blocks->size(); ++at.block) {
        auto part = read_block((*blocks)[at.block], at);
        if (!part) return std::move(part).error();
        message.parts.push_back(std::move(*part));
      }
    } else {
      return field_error(path(".content"), "must be a string or an array of content blocks");
    }
    r.messages.push_back(std::move(message));
  }
  return base::Ok{};
}

base::Status read_system(const json::value& system, Request& r) {
  if (const auto* s = system.if_string()) {
    r.system = sv(*s);
    return base::Ok{};
  }
  const auto* blocks = system.if_array();
  if (!blocks) return field_error("system", "must be a string or an array of text blocks");
  for (std::size_t i = 0; i < blocks->size(); ++i) {
    const auto* block = (*blocks)[i].if_object();
    const auto* type = block ? string_member(*block, "type") : nullptr;
    if (!type || *type != "text") {
      return field_error(cat("system[", i, "].type"),
                         "must be \"text\" (system takes text blocks only)");
    }
    const auto* text = string_member(*block, "text");
    if (!text) return field_error(cat("system[", i, "].text"), "must be a string");
    // cache_control is Anthropic's own: another provider caches (or not) on its own terms.
    if (!r.system.empty()) r.system.append("\n\n");
    r.system.append(sv(*text));
  }
  return base::Ok{};
}

base::Status read_tools(const json::value& tools, Request& r) {
  const auto* list = tools.if_array();
  if (!list) return field_error("tools", "must be an array of tools");
  r.tools.reserve(list->size());
  for (std::size_t i = 0; i < list->size(); ++i) {
    const auto path = [i](std::string_view field) { return cat("tools[", i, "]", field); };
    const auto* t = (*list)[i].if_object();
    if (!t) return field_error(path(""), "must be an object with name and input_schema");
    if (const auto* type = member(*t, "type")) {
      const auto* s = type->if_string();
      if (!s) return field_error(path(".type"), "must be a string");
      if (*s != "custom") {
        return field_error(
            path(".type"),
            cat("is \"", sv(*s),
                "\", a server tool, which cannot be translated for this model's "
                "provider; only custom tools (name, description, input_schema) can"));
      }
    }
    const auto* name = string_member(*t, "name");
    if (!name || name->empty()) return field_error(path(".name"), "must be a non-empty string");
    Tool tool;
    tool.name = sv(*name);
    if (const auto* d = member(*t, "description")) {
      if (!d->is_string()) return field_error(path(".description"), "must be a string");
      tool.description = sv(d->get_string());
    }
    if (const auto* schema = member(*t, "input_schema")) {
      if (!schema->is_object()) {
        return field_error(path(".input_schema"), "must be a JSON Schema object");
      }
      tool.parameters = json::value(*schema, json::storage_ptr());  // out of the parse buffer
    }
    r.tools.push_back(std::move(tool));
  }
  return base::Ok{};
}

base::Status read_tool_choice(const json::value& v, Request& r) {
  const auto* o = v.if_object();
  if (!o) return field_error("tool_choice", "must be an object with a type");
  const auto* type = string_member(*o, "type");
  ToolChoice choice;
  if (type && *type == "auto") {
    choice.mode = ToolChoice::Mode::kAuto;
  } else if (type && *type == "any") {
    choice.mode = ToolChoice::Mode::kRequired;
  } else if (type && *type == "none") {
    choice.mode = ToolChoice::Mode::kNone;
  } else if (type && *type == "tool") {
    choice.mode = ToolChoice::Mode::kTool;
    const auto* name = string_member(*o, "name");
    if (!name || name->empty()) {
      return field_error("tool_choice.name", "must name the tool to use when type is \"tool\"");
    }
    choice.name = sv(*name);
  } else {
    return field_error("tool_choice.type", "must be \"auto\", \"any\", \"tool\" or \"none\"");
  }
  if (const auto* d = member(*o, "disable_parallel_tool_use")) {
    if (!d->is_bool()) {
      return field_error("tool_choice.disable_parallel_tool_use", "must be true or false");
    }
    choice.parallel_calls = !d->get_bool();
  }
  r.tool_choice = std::move(choice);
  return base::Ok{};
}

std::string_view effort_of(const json::object& body) {
  // Adaptive thinking takes its depth from output_config.effort ("high" when absent).
  const auto* config = object_member(body, "output_config");
  const auto* effort = config ? string_member(*config, "effort") : nullptr;
  if (effort && (*effort == "low" || *effort == "medium")) return sv(*effort);
  return "high";
}

base::Status read_thinking(const json::value& v, const json::object& body, Request& r) {
  const auto* o = v.if_object();
  const auto* type = o ? string_member(*o, "type") : nullptr;
  if (!type) return field_error("thinking.type", "must be \"enabled\" or \"disabled\"");
  if (*type == "disabled") return base::Ok{};
  if (*type == "adaptive") {
    r.reasoning_effort = effort_of(body);
    return base::Ok{};
  }
  if (*type != "enabled") {
    return field_error("thinking.type", "must be \"enabled\" or \"disabled\"");
  }
  const auto* budget = member(*o, "budget_tokens");
  const auto n = budget ? integer(*budget) : std::nullopt;
  if (!n || *n <= 0) {
    return field_error("thinking.budget_tokens",
                       "must be a positive integer (at least 1024) when thinking is enabled");
  }
  r.thinking_budget = *n;
  return base::Ok{};
}

base::Status read_number(const json::object& body, std::string_view key,
                         std::optional<double>& out) {
  const auto* v = member(body, key);
  if (!v) return base::Ok{};
  out = number(*v);
  if (!out) return field_error(std::string(key), "must be a number");
  return base::Ok{};
}

// The optional members after messages, in the order Anthropic documents them.
base::Status read_options(const json::object& body, Request& r) {
  // Absent max_tokens is accepted: count_tokens bodies have none, and encoders send a default.
  if (const auto* v = member(body, "max_tokens")) {
    const auto n = integer(*v);
    if (!n || *n < 1) return field_error("max_tokens", "must be a positive integer");
    r.max_tokens = *n;
  }
  if (const auto* v = member(body, "system")) {
    if (auto s = read_system(*v, r); !s) return s;
  }
  if (const auto* v = member(body, "tools")) {
    if (auto s = read_tools(*v, r); !s) return s;
  }
  if (const auto* v = member(body, "tool_choice")) {
    if (auto s = read_tool_choice(*v, r); !s) return s;
  }
  if (const auto* v = member(body, "stop_sequences")) {
    const auto* stops = v->if_array();
    if (!stops) return field_error("stop_sequences", "must be an array of strings");
    r.stop.reserve(stops->size());
    for (std::size_t i = 0; i < stops->size(); ++i) {
      const auto* s = (*stops)[i].if_string();
      if (!s) return field_error(cat("stop_sequences[", i, "]"), "must be a string");
      r.stop.emplace_back(sv(*s));
    }
  }
  if (auto s = read_number(body, "temperature", r.temperature); !s) return s;
  if (auto s = read_number(body, "top_p", r.top_p); !s) return s;
  if (const auto* v = member(body, "top_k")) {
    r.top_k = integer(*v);
    if (!r.top_k) return field_error("top_k", "must be an integer");
  }
  if (const auto* v = member(body, "stream")) {
    if (!v->is_bool()) return field_error("stream", "must be true or false");
    r.stream = v->get_bool();
  }
  if (const auto* v = member(body, "thinking")) {
    if (auto s = read_thinking(*v, body, r); !s) return s;
  }
  if (const auto* v = member(body, "metadata")) {
    const auto* metadata = v->if_object();
    if (!metadata) return field_error("metadata", "must be an object");
    if (const auto* user = member(*metadata, "user_id")) {
      if (!user->is_string()) return field_error("metadata.user_id", "must be a string");
      r.user = sv(user->get_string());
    }
  }
  return base::Ok{};
}

base::Result<Request> read_request(const json::object& body) {
  Request r;
  const auto* model = string_member(body, "model");
  if (!model || model->empty()) {
    return field_error("model", "must be a non-empty string naming the model");
  }
  r.model = sv(*model);
  const auto* list = array_member(body, "messages");
  if (!list || list->empty()) {
    return field_error("messages", "must be a non-empty array of {role, content} messages");
  }
  if (auto s = read_messages(*list, r); !s) return std::move(s).error();
  if (auto s = read_options(body, r); !s) return std::move(s).error();
  return r;
}

}  // namespace

base::Result<Request> decode_request(std::string_view body, int max_depth) {
  Scratch<4096> scratch;
  boost::system::error_code ec;
  const auto root =
      parse_json(body, static_cast<std::size_t>(std::max(max_depth, 1)), scratch.storage(), ec);
  if (ec == boost::json::error::too_deep) {
    return bad_request(cat("the JSON body nests deeper than ", max_depth, " levels"), "");
  }
  if (ec) {
    return bad_request(cat("the request body is not valid JSON (", ec.message(),
                           "); send a JSON object with model, max_tokens and messages"),
                       "");
  }
  const auto* o = root.if_object();
  if (!o) return bad_request("the request body must be a JSON object", "");
  return read_request(*o);
}

}  // namespace detail::anthropic
}  // namespace shepherd::translate
