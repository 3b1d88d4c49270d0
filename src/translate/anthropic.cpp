#include "translate/anthropic.hpp"

#include <algorithm>
#include <boost/json.hpp>
#include <charconv>
#include <limits>
#include <optional>
#include <utility>

namespace shepherd::translate {
namespace json = boost::json;
using base::ErrorCode;

namespace {

// Nesting allowed in provider answers and stream events (tool inputs are the only deep part).
constexpr std::size_t kUpstreamMaxDepth = 64;
constexpr std::size_t kMaxMessageBytes = 500;

// ---------------------------------------------------------------------------------------------
// Small helpers.

json::string_view js(std::string_view s) { return {s.data(), s.size()}; }
std::string_view sv(const json::string& s) { return {s.data(), s.size()}; }
std::string str(const json::string& s) { return {s.data(), s.size()}; }

const json::string* string_field(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(js(key));
  return v ? v->if_string() : nullptr;
}

const json::object* object_field(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(js(key));
  return v ? v->if_object() : nullptr;
}

// Whether `key` is absent or null: optional request fields may be sent as null.
bool absent(const json::value* v) { return v == nullptr || v->is_null(); }

std::optional<std::int64_t> as_int(const json::value& v) {
  if (v.is_int64()) return v.get_int64();
  if (v.is_uint64()) {
    return static_cast<std::int64_t>(
        std::min<std::uint64_t>(v.get_uint64(), std::numeric_limits<std::int64_t>::max()));
  }
  return std::nullopt;
}

std::optional<double> as_number(const json::value& v) {
  if (v.is_double()) return v.get_double();
  if (v.is_int64()) return static_cast<double>(v.get_int64());
  if (v.is_uint64()) return static_cast<double>(v.get_uint64());
  return std::nullopt;
}

// A count from a usage object: absent, null or ill-typed counts as 0.
std::int64_t count_field(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(js(key));
  const auto n = v ? as_int(*v) : std::nullopt;
  return n && *n > 0 ? *n : 0;
}

// The longest prefix of `s` of at most `max` bytes that does not end inside a UTF-8 sequence.
std::string_view utf8_prefix(std::string_view s, std::size_t max) {
  if (s.size() <= max) return s;
  std::size_t cut = max;
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;
  return s.substr(0, cut);
}

// Appends `s` as a JSON string literal. Bytes from 0x80 up pass as they are (UTF-8 text).
void append_quoted(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.push_back('"');
  std::size_t run = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out.append(s.data() + run, i - run);
    run = i + 1;
    switch (c) {
      case '"':
        out.append("\\\"");
        break;
      case '\\':
        out.append("\\\\");
        break;
      case '\n':
        out.append("\\n");
        break;
      case '\r':
        out.append("\\r");
        break;
      case '\t':
        out.append("\\t");
        break;
      default:
        out.append("\\u00");
        out.push_back(kHex[c >> 4]);
        out.push_back(kHex[c & 0xF]);
    }
  }
  out.append(s.data() + run, s.size() - run);
  out.push_back('"');
}

void append_int(std::string& out, std::int64_t n) {
  char buf[24];
  auto [p, ec] = std::to_chars(buf, buf + sizeof buf, n);
  out.append(buf, p);
}

base::Error bad_request(std::string message, std::string param) {
  auto e = base::make_error(ErrorCode::kBadRequest, std::move(message));
  e.param = std::move(param);
  return e;
}

// "<path> <what>", with `path` as the param.
base::Error field_error(std::string path, std::string_view what) {
  std::string message = path;
  message.append(" ").append(what);
  return bad_request(std::move(message), std::move(path));
}

base::Error unreadable(std::string why) {
  auto e = base::make_error(ErrorCode::kUpstreamUnreachable,
                            "the upstream answer could not be read: " + why, why);
  e.retryable = true;
  return e;
}

std::string with_prefix(std::string_view id, std::string_view prefix) {
  if (id.substr(0, prefix.size()) == prefix) return std::string(id);
  std::string s(prefix);
  s.append(id);
  return s;
}

std::string_view stop_reason_name(StopReason r) {
  switch (r) {
    case StopReason::kEndTurn:
      return "end_turn";
    case StopReason::kMaxTokens:
      return "max_tokens";
    case StopReason::kStopSequence:
      return "stop_sequence";
    case StopReason::kToolUse:
      return "tool_use";
    case StopReason::kContentFilter:
      return "refusal";
    case StopReason::kPauseTurn:
      return "pause_turn";
  }
  return "end_turn";
}

StopReason stop_reason_of(std::string_view s) {
  if (s == "max_tokens") return StopReason::kMaxTokens;
  if (s == "stop_sequence") return StopReason::kStopSequence;
  if (s == "tool_use") return StopReason::kToolUse;
  if (s == "refusal") return StopReason::kContentFilter;
  if (s == "pause_turn") return StopReason::kPauseTurn;
  // The answer stopped because the context window filled: for the client, output was cut short.
  if (s == "model_context_window_exceeded") return StopReason::kMaxTokens;
  return StopReason::kEndTurn;  // "end_turn" and reasons added after this was written
}

// The status Anthropic answers with for an error `type` (docs: API errors, "HTTP errors").
int status_of_error_type(std::string_view type) {
  if (type == "invalid_request_error") return 400;
  if (type == "authentication_error") return 401;
  if (type == "billing_error") return 402;
  if (type == "permission_error") return 403;
  if (type == "not_found_error") return 404;
  if (type == "request_too_large") return 413;
  if (type == "rate_limit_error") return 429;
  if (type == "timeout_error") return 504;
  if (type == "overloaded_error") return 529;
  return 500;  // api_error and unknown types
}

// ---------------------------------------------------------------------------------------------
// decode_request: a client's body in the common form.

struct BlockPath {
  static constexpr std::size_t kTop = std::size_t(-1);
  std::size_t message = 0;
  std::size_t block = 0;
  std::size_t inner = kTop;  // index inside a tool_result's content
  std::string str() const {
    std::string s =
        "messages[" + std::to_string(message) + "].content[" + std::to_string(block) + "]";
    if (inner != kTop) s += ".content[" + std::to_string(inner) + "]";
    return s;
  }
  std::string field(std::string_view name) const { return str().append(".").append(name); }
};

base::Error untranslatable_block(const BlockPath& at, std::string_view type) {
  std::string message = at.str() + " is a \"" + std::string(type) +
                        "\" block, which cannot be translated for this model's provider; send " +
                        (at.inner == BlockPath::kTop ? "text, image, tool_use, tool_result, "
                                                       "thinking or redacted_thinking blocks"
                                                     : "text or image blocks");
  return bad_request(std::move(message), at.field("type"));
}

base::Status read_image(const json::object& o, const BlockPath& at, Part& part) {
  const auto* source = object_field(o, "source");
  if (!source) {
    return field_error(at.field("source"),
                       "must be an object: {\"type\":\"base64\",\"media_type\",\"data\"} or "
                       "{\"type\":\"url\",\"url\"}");
  }
  const auto* type = string_field(*source, "type");
  part.kind = Part::Kind::kImage;
  if (type && *type == "base64") {
    const auto* media_type = string_field(*source, "media_type");
    if (!media_type) {
      return field_error(at.field("source.media_type"), "must be a string such as \"image/png\"");
    }
    const auto* data = string_field(*source, "data");
    if (!data) return field_error(at.field("source.data"), "must be a base64 string");
    part.media_type = str(*media_type);
    part.data = str(*data);
    return base::Ok{};
  }
  if (type && *type == "url") {
    const auto* url = string_field(*source, "url");
    if (!url) return field_error(at.field("source.url"), "must be a string");
    part.url = str(*url);
    return base::Ok{};
  }
  if (type) {
    return field_error(at.field("source.type"),
                       "\"" + str(*type) +
                           "\" cannot be translated for this model's provider; send the image as "
                           "\"base64\" or \"url\"");
  }
  return field_error(at.field("source.type"), "must be \"base64\" or \"url\"");
}

base::Result<Part> read_block(const json::value& v, const BlockPath& at) {
  const auto* o = v.if_object();
  if (!o) return field_error(at.str(), "must be a content block object with a type");
  const auto* type = string_field(*o, "type");
  if (!type) return field_error(at.field("type"), "must be a string naming the block type");
  const bool nested = at.inner != BlockPath::kTop;
  Part part;
  if (*type == "text") {
    const auto* text = string_field(*o, "text");
    if (!text) return field_error(at.field("text"), "must be a string");
    part.text = str(*text);
    return part;
  }
  if (*type == "image") {
    if (auto s = read_image(*o, at, part); !s) return std::move(s).error();
    return part;
  }
  if (nested) return untranslatable_block(at, sv(*type));
  if (*type == "tool_use") {
    const auto* id = string_field(*o, "id");
    if (!id || id->empty()) return field_error(at.field("id"), "must be a non-empty string");
    const auto* name = string_field(*o, "name");
    if (!name || name->empty()) return field_error(at.field("name"), "must be a non-empty string");
    part.kind = Part::Kind::kToolCall;
    part.id = str(*id);
    part.name = str(*name);
    const auto* input = o->if_contains("input");
    if (absent(input)) {
      part.arguments = "{}";
    } else if (!input->is_object()) {
      return field_error(at.field("input"), "must be an object (the tool's arguments)");
    } else {
      part.arguments = json::serialize(*input);
    }
    return part;
  }
  if (*type == "tool_result") {
    const auto* id = string_field(*o, "tool_use_id");
    if (!id || id->empty()) {
      return field_error(at.field("tool_use_id"), "must be the id of a tool_use block");
    }
    part.kind = Part::Kind::kToolResult;
    part.id = str(*id);
    if (const auto* is_error = o->if_contains("is_error"); !absent(is_error)) {
      if (!is_error->is_bool()) return field_error(at.field("is_error"), "must be true or false");
      part.is_error = is_error->get_bool();
    }
    const auto* content = o->if_contains("content");
    if (absent(content)) return part;
    if (const auto* s = content->if_string()) {
      Part text;
      text.text = str(*s);
      part.content.push_back(std::move(text));
      return part;
    }
    const auto* blocks = content->if_array();
    if (!blocks) {
      return field_error(at.field("content"),
                         "must be a string or an array of text and image "
                         "blocks");
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
  if (*type == "thinking") {
    const auto* thinking = string_field(*o, "thinking");
    if (!thinking) return field_error(at.field("thinking"), "must be a string");
    part.kind = Part::Kind::kThinking;
    part.text = str(*thinking);
    if (const auto* signature = o->if_contains("signature"); !absent(signature)) {
      if (!signature->is_string()) return field_error(at.field("signature"), "must be a string");
      part.signature = str(signature->get_string());
    }
    return part;
  }
  if (*type == "redacted_thinking") {
    const auto* data = string_field(*o, "data");
    if (!data) return field_error(at.field("data"), "must be a string");
    part.kind = Part::Kind::kRedactedThinking;
    part.text = str(*data);
    return part;
  }
  // document, search_result, server_tool_use, web_search_tool_result, container_upload, ...:
  // nothing in the common form carries them to another provider.
  return untranslatable_block(at, sv(*type));
}

base::Status read_messages(const json::array& messages, Request& r) {
  r.messages.reserve(messages.size());
  for (std::size_t i = 0; i < messages.size(); ++i) {
    const auto path = [i] { return "messages[" + std::to_string(i) + "]"; };
    const auto* m = messages[i].if_object();
    if (!m) return field_error(path(), "must be an object with role and content");
    Message message;
    const auto* role = string_field(*m, "role");
    if (role && *role == "user") {
      message.role = Role::kUser;
    } else if (role && *role == "assistant") {
      message.role = Role::kAssistant;
    } else {
      return field_error(path() + ".role",
                         "must be \"user\" or \"assistant\" (system instructions go in the "
                         "top-level system field)");
    }
    const auto* content = m->if_contains("content");
    if (content && content->is_string()) {
      Part text;
      text.text = str(content->get_string());
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
      return field_error(path() + ".content", "must be a string or an array of content blocks");
    }
    r.messages.push_back(std::move(message));
  }
  return base::Ok{};
}

base::Status read_system(const json::value& system, Request& r) {
  if (const auto* s = system.if_string()) {
    r.system = str(*s);
    return base::Ok{};
  }
  const auto* blocks = system.if_array();
  if (!blocks) return field_error("system", "must be a string or an array of text blocks");
  for (std::size_t i = 0; i < blocks->size(); ++i) {
    const auto path = [i] { return "system[" + std::to_string(i) + "]"; };
    const auto* block = (*blocks)[i].if_object();
    const auto* type = block ? string_field(*block, "type") : nullptr;
    if (!type || *type != "text") {
      return field_error(path() + ".type", "must be \"text\" (system takes text blocks only)");
    }
    const auto* text = string_field(*block, "text");
    if (!text) return field_error(path() + ".text", "must be a string");
    // cache_control is Anthropic's own: another provider caches (or not) on its own terms.
    if (!r.system.empty()) r.system.append("\n\n");
    r.system.append(text->data(), text->size());
  }
  return base::Ok{};
}

base::Status read_tools(const json::value& tools, Request& r) {
  const auto* list = tools.if_array();
  if (!list) return field_error("tools", "must be an array of tools");
  r.tools.reserve(list->size());
  for (std::size_t i = 0; i < list->size(); ++i) {
    const auto path = [i] { return "tools[" + std::to_string(i) + "]"; };
    const auto* t = (*list)[i].if_object();
    if (!t) return field_error(path(), "must be an object with name and input_schema");
    if (const auto* type = t->if_contains("type"); !absent(type)) {
      const auto* s = type->if_string();
      if (!s) return field_error(path() + ".type", "must be a string");
      if (*s != "custom") {
        return field_error(path() + ".type",
                           "is \"" + str(*s) +
                               "\", a server tool, which cannot be translated for this model's "
                               "provider; only custom tools (name, description, input_schema) can");
      }
    }
    const auto* name = string_field(*t, "name");
    if (!name || name->empty()) return field_error(path() + ".name", "must be a non-empty string");
    Tool tool;
    tool.name = str(*name);
    if (const auto* d = t->if_contains("description"); !absent(d)) {
      if (!d->is_string()) return field_error(path() + ".description", "must be a string");
      tool.description = str(d->get_string());
    }
    if (const auto* schema = t->if_contains("input_schema"); !absent(schema)) {
      if (!schema->is_object()) {
        return field_error(path() + ".input_schema", "must be a JSON Schema object");
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
  const auto* type = string_field(*o, "type");
  ToolChoice choice;
  if (type && *type == "auto") {
    choice.mode = ToolChoice::Mode::kAuto;
  } else if (type && *type == "any") {
    choice.mode = ToolChoice::Mode::kRequired;
  } else if (type && *type == "none") {
    choice.mode = ToolChoice::Mode::kNone;
  } else if (type && *type == "tool") {
    choice.mode = ToolChoice::Mode::kTool;
    const auto* name = string_field(*o, "name");
    if (!name || name->empty()) {
      return field_error("tool_choice.name", "must name the tool to use when type is \"tool\"");
    }
    choice.name = str(*name);
  } else {
    return field_error("tool_choice.type", "must be \"auto\", \"any\", \"tool\" or \"none\"");
  }
  if (const auto* d = o->if_contains("disable_parallel_tool_use"); !absent(d)) {
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
  const auto* config = object_field(body, "output_config");
  const auto* effort = config ? string_field(*config, "effort") : nullptr;
  if (effort && (*effort == "low" || *effort == "medium")) return sv(*effort);
  return "high";
}

base::Status read_thinking(const json::value& v, const json::object& body, Request& r) {
  const auto* o = v.if_object();
  const auto* type = o ? string_field(*o, "type") : nullptr;
  if (!type) return field_error("thinking.type", "must be \"enabled\" or \"disabled\"");
  if (*type == "disabled") return base::Ok{};
  if (*type == "adaptive") {
    r.reasoning_effort = std::string(effort_of(body));
    return base::Ok{};
  }
  if (*type != "enabled")
    return field_error("thinking.type", "must be \"enabled\" or \"disabled\"");
  const auto* budget = o->if_contains("budget_tokens");
  const auto n = budget ? as_int(*budget) : std::nullopt;
  if (!n || *n <= 0) {
    return field_error("thinking.budget_tokens",
                       "must be a positive integer (at least 1024) when thinking is enabled");
  }
  r.thinking_budget = *n;
  return base::Ok{};
}

base::Status read_number(const json::object& body, std::string_view key,
                         std::optional<double>& out) {
  const auto* v = body.if_contains(js(key));
  if (absent(v)) return base::Ok{};
  out = as_number(*v);
  if (!out) return field_error(std::string(key), "must be a number");
  return base::Ok{};
}

base::Result<Request> read_request(const json::object& body) {
  Request r;
  const auto* model = string_field(body, "model");
  if (!model || model->empty()) {
    return field_error("model", "must be a non-empty string naming the model");
  }
  r.model = str(*model);
  const auto* messages = body.if_contains("messages");
  const auto* list = messages ? messages->if_array() : nullptr;
  if (!list || list->empty()) {
    return field_error("messages", "must be a non-empty array of {role, content} messages");
  }
  if (auto s = read_messages(*list, r); !s) return std::move(s).error();

  // Absent max_tokens is accepted: count_tokens bodies have none, and encoders send a default.
  if (const auto* v = body.if_contains("max_tokens"); !absent(v)) {
    const auto n = as_int(*v);
    if (!n || *n < 1) return field_error("max_tokens", "must be a positive integer");
    r.max_tokens = *n;
  }
  if (const auto* v = body.if_contains("system"); !absent(v)) {
    if (auto s = read_system(*v, r); !s) return std::move(s).error();
  }
  if (const auto* v = body.if_contains("tools"); !absent(v)) {
    if (auto s = read_tools(*v, r); !s) return std::move(s).error();
  }
  if (const auto* v = body.if_contains("tool_choice"); !absent(v)) {
    if (auto s = read_tool_choice(*v, r); !s) return std::move(s).error();
  }
  if (const auto* v = body.if_contains("stop_sequences"); !absent(v)) {
    const auto* stops = v->if_array();
    if (!stops) return field_error("stop_sequences", "must be an array of strings");
    r.stop.reserve(stops->size());
    for (std::size_t i = 0; i < stops->size(); ++i) {
      const auto* s = (*stops)[i].if_string();
      if (!s) return field_error("stop_sequences[" + std::to_string(i) + "]", "must be a string");
      r.stop.push_back(str(*s));
    }
  }
  if (auto s = read_number(body, "temperature", r.temperature); !s) return std::move(s).error();
  if (auto s = read_number(body, "top_p", r.top_p); !s) return std::move(s).error();
  if (const auto* v = body.if_contains("top_k"); !absent(v)) {
    r.top_k = as_int(*v);
    if (!r.top_k) return field_error("top_k", "must be an integer");
  }
  if (const auto* v = body.if_contains("stream"); !absent(v)) {
    if (!v->is_bool()) return field_error("stream", "must be true or false");
    r.stream = v->get_bool();
  }
  if (const auto* v = body.if_contains("thinking"); !absent(v)) {
    if (auto s = read_thinking(*v, body, r); !s) return std::move(s).error();
  }
  if (const auto* v = body.if_contains("metadata"); !absent(v)) {
    const auto* metadata = v->if_object();
    if (!metadata) return field_error("metadata", "must be an object");
    if (const auto* user = metadata->if_contains("user_id"); !absent(user)) {
      if (!user->is_string()) return field_error("metadata.user_id", "must be a string");
      r.user = str(user->get_string());
    }
  }
  return r;
}

// ---------------------------------------------------------------------------------------------
// encode_request: the common form as Anthropic's body.

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
  if (p.data.empty() && url.substr(0, kData.size()) == kData) {
    // A data URL that was not split by the client's decoder: Anthropic takes base64 only as
    // media_type + data.
    if (const auto at = url.find(kBase64); at != std::string_view::npos) {
      source.emplace("type", "base64");
      source.emplace("media_type", js(url.substr(kData.size(), at - kData.size())));
      source.emplace("data", js(url.substr(at + kBase64.size())));
    }
  }
  if (source.empty()) {
    if (!p.data.empty()) {
      source.emplace("type", "base64");
      source.emplace("media_type", js(p.media_type));
      source.emplace("data", js(p.data));
    } else {
      source.emplace("type", "url");
      source.emplace("url", js(url));
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
  block.emplace("text", js(text));
  return block;
}

// The arguments of a tool call as the object Anthropic's `input` takes; nullopt when they are
// not a JSON object. Empty arguments (some providers send "" for a call without any) are {}.
std::optional<json::value> tool_input(std::string_view arguments, json::storage_ptr sp) {
  if (arguments.find_first_not_of(" \t\r\n") == std::string_view::npos) {
    return json::value(json::object(sp));
  }
  json::parse_options opts;
  opts.max_depth = kUpstreamMaxDepth;
  boost::system::error_code ec;
  auto v = json::parse(js(arguments), ec, sp, opts);
  if (ec || !v.is_object()) return std::nullopt;
  return v;
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
        return bad_request("the arguments of tool call " + p.id +
                               " are not a JSON object; Anthropic takes a tool call's input as "
                               "an object",
                           "");
      }
      json::object block(sp);
      block.emplace("type", "tool_use");
      block.emplace("id", js(p.id));
      block.emplace("name", js(p.name));
      block.emplace("input", std::move(*input));
      content.emplace_back(std::move(block));
      break;
    }
    case Part::Kind::kToolResult: {
      json::object block(sp);
      block.emplace("type", "tool_result");
      block.emplace("tool_use_id", js(p.id));
      if (p.content.size() == 1 && p.content[0].kind == Part::Kind::kText) {
        block.emplace("content", js(p.content[0].text));
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
      content.emplace_back(std::move(block));
      break;
    }
    case Part::Kind::kThinking: {
      // Anthropic verifies the signature of every thinking block sent back; reasoning from
      // another provider has none and would be refused, so it is dropped.
      if (p.signature.empty()) break;
      json::object block(sp);
      block.emplace("type", "thinking");
      block.emplace("thinking", js(p.text));
      block.emplace("signature", js(p.signature));
      content.emplace_back(std::move(block));
      break;
    }
    case Part::Kind::kRedactedThinking: {
      json::object block(sp);
      block.emplace("type", "redacted_thinking");
      block.emplace("data", js(p.text));
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

}  // namespace

base::Result<Request> AnthropicCodec::decode_request(std::string_view body, int max_depth) const {
  unsigned char buffer[4096];
  json::monotonic_resource mr(buffer);
  json::parse_options opts;
  opts.max_depth = static_cast<std::size_t>(std::max(max_depth, 1));
  boost::system::error_code ec;
  const auto root = json::parse(js(body), ec, &mr, opts);
  if (ec == json::error::too_deep) {
    return bad_request("the JSON body nests deeper than " + std::to_string(max_depth) + " levels",
                       "");
  }
  if (ec) {
    return bad_request("the request body is not valid JSON (" + ec.message() +
                           "); send a JSON object with model, max_tokens and messages",
                       "");
  }
  const auto* o = root.if_object();
  if (!o) return bad_request("the request body must be a JSON object", "");
  return read_request(*o);
}

base::Status AnthropicCodec::encode_request(const Request& r, std::string_view upstream_model,
                                            std::string& out) const {
  unsigned char buffer[4096];
  json::monotonic_resource mr(buffer);
  json::storage_ptr sp(&mr);
  json::object body(sp);
  body.reserve(16);
  body.emplace("model", js(upstream_model));

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

  // Anthropic has no JSON mode (response_format): the closest it honours is an instruction in
  // the system prompt, with the schema when there is one (docs: "Increase output consistency").
  std::string system_with_format;
  std::string_view system = r.system;
  if (r.response_format.kind != ResponseFormat::Kind::kText) {
    system_with_format = r.system;
    if (!system_with_format.empty()) system_with_format.append("\n\n");
    system_with_format.append("Respond only with a JSON object");
    if (r.response_format.kind == ResponseFormat::Kind::kJsonSchema &&
        !r.response_format.schema.is_null()) {
      system_with_format.append(" that conforms to this JSON Schema:\n");
      system_with_format.append(json::serialize(r.response_format.schema));
    } else {
      system_with_format.append(".");
    }
    system = system_with_format;
  }
  if (!system.empty()) body.emplace("system", js(system));

  json::array messages(sp);
  if (auto s = append_messages(r.messages, messages, sp); !s) return s;
  if (messages.empty()) {
    return bad_request(
        "the request has no message with content; Anthropic needs at least one message",
        "messages");
  }
  body.emplace("messages", std::move(messages));

  if (!r.tools.empty()) {
    json::array tools(sp);
    tools.reserve(r.tools.size());
    for (const auto& t : r.tools) {
      json::object tool(sp);
      tool.emplace("name", js(t.name));
      if (!t.description.empty()) tool.emplace("description", js(t.description));
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
    // tool_choice without tools is refused by Anthropic; without tools there is nothing to
    // choose from, so it is sent only with them.
    if (r.tool_choice) {
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
          choice.emplace("name", js(r.tool_choice->name));
          break;
      }
      if (!r.tool_choice->parallel_calls && r.tool_choice->mode != ToolChoice::Mode::kNone) {
        choice.emplace("disable_parallel_tool_use", true);
      }
      body.emplace("tool_choice", std::move(choice));
    }
  }

  if (!r.stop.empty()) {
    json::array stop(sp);
    stop.reserve(r.stop.size());
    for (const auto& s : r.stop) stop.emplace_back(js(s));
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
    metadata.emplace("user_id", js(r.user));
    body.emplace("metadata", std::move(metadata));
  }
  if (r.stream) body.emplace("stream", true);
  out.append(json::serialize(body));
  return base::Ok{};
}

// ---------------------------------------------------------------------------------------------
// Answers.

namespace {

Usage usage_of(const json::object& u) {
  Usage usage;
  usage.cache_read_tokens = count_field(u, "cache_read_input_tokens");
  usage.cache_creation_tokens = count_field(u, "cache_creation_input_tokens");
  usage.prompt_tokens =
      count_field(u, "input_tokens") + usage.cache_read_tokens + usage.cache_creation_tokens;
  usage.completion_tokens = count_field(u, "output_tokens");
  return usage;
}

// An answer's content block; nullopt for blocks with no counterpart (server tool blocks, which
// requests encoded here never ask for).
base::Result<std::optional<Part>> answer_block(const json::value& v, std::size_t i) {
  const auto* o = v.if_object();
  const auto* type = o ? string_field(*o, "type") : nullptr;
  if (!type) return unreadable("content[" + std::to_string(i) + "] is not a typed block");
  Part part;
  if (*type == "text") {
    const auto* text = string_field(*o, "text");
    if (!text) return unreadable("content[" + std::to_string(i) + "].text is not a string");
    part.text = str(*text);
  } else if (*type == "thinking") {
    const auto* thinking = string_field(*o, "thinking");
    if (!thinking) {
      return unreadable("content[" + std::to_string(i) + "].thinking is not a string");
    }
    part.kind = Part::Kind::kThinking;
    part.text = str(*thinking);
    if (const auto* s = string_field(*o, "signature")) part.signature = str(*s);
  } else if (*type == "redacted_thinking") {
    const auto* data = string_field(*o, "data");
    if (!data) return unreadable("content[" + std::to_string(i) + "].data is not a string");
    part.kind = Part::Kind::kRedactedThinking;
    part.text = str(*data);
  } else if (*type == "tool_use") {
    const auto* id = string_field(*o, "id");
    const auto* name = string_field(*o, "name");
    if (!id || !name) {
      return unreadable("content[" + std::to_string(i) + "] is a tool_use without id or name");
    }
    part.kind = Part::Kind::kToolCall;
    part.id = str(*id);
    part.name = str(*name);
    const auto* input = o->if_contains("input");
    part.arguments = input && input->is_object() ? json::serialize(*input) : "{}";
  } else {
    return std::optional<Part>{};
  }
  return std::optional<Part>(std::move(part));
}

}  // namespace

base::Result<Response> AnthropicCodec::decode_response(std::string_view body) const {
  unsigned char buffer[4096];
  json::monotonic_resource mr(buffer);
  json::parse_options opts;
  opts.max_depth = kUpstreamMaxDepth;
  boost::system::error_code ec;
  const auto root = json::parse(js(body), ec, &mr, opts);
  if (ec) return unreadable("the body is not JSON (" + ec.message() + ")");
  const auto* o = root.if_object();
  if (!o) return unreadable("the body is not a JSON object");
  const auto* type = string_field(*o, "type");
  if (type && *type == "error") {
    const auto* error = object_field(*o, "error");
    const auto* message = error ? string_field(*error, "message") : nullptr;
    return unreadable(
        "it is an error object" +
        (message ? " (" + std::string(utf8_prefix(sv(*message), 200)) + ")" : std::string()));
  }
  const auto* content = o->if_contains("content");
  const auto* blocks = content ? content->if_array() : nullptr;
  if (!blocks) return unreadable("it has no content array");
  Response response;
  if (const auto* id = string_field(*o, "id")) response.id = str(*id);
  if (const auto* model = string_field(*o, "model")) response.model = str(*model);
  response.content.reserve(blocks->size());
  for (std::size_t i = 0; i < blocks->size(); ++i) {
    auto part = answer_block((*blocks)[i], i);
    if (!part) return std::move(part).error();
    if (*part) response.content.push_back(std::move(**part));
  }
  if (const auto* reason = string_field(*o, "stop_reason")) {
    response.stop_reason = stop_reason_of(sv(*reason));
  }
  if (const auto* seq = string_field(*o, "stop_sequence")) response.stop_sequence = str(*seq);
  if (const auto* usage = object_field(*o, "usage")) response.usage = usage_of(*usage);
  return response;
}

namespace {

json::object usage_object(const Usage& u, json::storage_ptr sp) {
  json::object usage(sp);
  usage.emplace("input_tokens", std::max<std::int64_t>(0, u.prompt_tokens - u.cache_read_tokens -
                                                              u.cache_creation_tokens));
  usage.emplace("output_tokens", u.completion_tokens);
  usage.emplace("cache_creation_input_tokens", u.cache_creation_tokens);
  usage.emplace("cache_read_input_tokens", u.cache_read_tokens);
  return usage;
}

}  // namespace

void AnthropicCodec::encode_response(const Response& response, std::string_view model,
                                     std::string& out) const {
  unsigned char buffer[4096];
  json::monotonic_resource mr(buffer);
  json::storage_ptr sp(&mr);
  json::object body(sp);
  body.reserve(8);
  body.emplace("id", js(with_prefix(response.id, "msg_")));
  body.emplace("type", "message");
  body.emplace("role", "assistant");
  body.emplace("model", js(model));
  json::array content(sp);
  content.reserve(response.content.size());
  for (const auto& p : response.content) {
    json::object block(sp);
    switch (p.kind) {
      case Part::Kind::kText:
        block.emplace("type", "text");
        block.emplace("text", js(p.text));
        break;
      case Part::Kind::kThinking:
        block.emplace("type", "thinking");
        block.emplace("thinking", js(p.text));
        block.emplace("signature", js(p.signature));
        break;
      case Part::Kind::kRedactedThinking:
        block.emplace("type", "redacted_thinking");
        block.emplace("data", js(p.text));
        break;
      case Part::Kind::kToolCall: {
        block.emplace("type", "tool_use");
        block.emplace("id", js(p.id));
        block.emplace("name", js(p.name));
        // A provider's arguments that are not a JSON object cannot be an Anthropic input; the
        // call is kept with an empty one rather than failing an answer already paid for.
        auto input = tool_input(p.arguments, sp);
        block.emplace("input", input ? std::move(*input) : json::value(json::object(sp)));
        break;
      }
      case Part::Kind::kImage:
      case Part::Kind::kToolResult:
        continue;  // not part of an assistant answer
    }
    content.emplace_back(std::move(block));
  }
  body.emplace("content", std::move(content));
  body.emplace("stop_reason", js(stop_reason_name(response.stop_reason)));
  if (response.stop_reason == StopReason::kStopSequence && !response.stop_sequence.empty()) {
    body.emplace("stop_sequence", js(response.stop_sequence));
  } else {
    body.emplace("stop_sequence", nullptr);
  }
  body.emplace("usage", usage_object(response.usage.value_or(Usage{}), sp));
  out.append(json::serialize(body));
}

// ---------------------------------------------------------------------------------------------
// Streams (docs: messages-streaming, "Event types").

namespace {

class AnthropicStreamDecoder final : public StreamDecoder {
 public:
  base::Status feed(std::string_view event, std::string_view data,
                    std::vector<Delta>& out) override {
    if (done_) return base::Ok{};
    unsigned char buffer[2048];
    json::monotonic_resource mr(buffer);
    json::parse_options opts;
    opts.max_depth = kUpstreamMaxDepth;
    boost::system::error_code ec;
    const auto root = json::parse(js(data), ec, &mr, opts);
    if (ec) return unreadable("a stream event is not JSON (" + ec.message() + ")");
    const auto* o = root.if_object();
    if (!o) return unreadable("a stream event is not a JSON object");
    const auto* type_field = string_field(*o, "type");
    const std::string_view type = type_field ? sv(*type_field) : event;
    if (type == "message_start") return message_start(*o, out);
    if (type == "content_block_start") return block_start(*o, out);
    if (type == "content_block_delta") return block_delta(*o, out);
    if (type == "message_delta") return message_delta(*o, out);
    if (type == "message_stop") {
      if (usage_seen_) {
        Delta d;
        d.kind = Delta::Kind::kUsage;
        d.usage.cache_read_tokens = cache_read_;
        d.usage.cache_creation_tokens = cache_creation_;
        d.usage.prompt_tokens = input_ + cache_read_ + cache_creation_;
        d.usage.completion_tokens = output_;
        out.push_back(std::move(d));
      }
      Delta done;
      done.kind = Delta::Kind::kDone;
      out.push_back(std::move(done));
      done_ = true;
      return base::Ok{};
    }
    if (type == "error") return error_event(*o, out);
    if (type.empty()) return unreadable("a stream event has no type");
    // content_block_stop and ping carry nothing; event types added later are to be ignored
    // (docs: messages-streaming, "Other events").
    return base::Ok{};
  }

  void end(std::vector<Delta>&) override {}

 private:
  void read_usage(const json::object& u) {
    const auto set = [&u](std::string_view key, std::int64_t& field) {
      const auto* v = u.if_contains(js(key));
      const auto n = v ? as_int(*v) : std::nullopt;
      if (n) field = std::max<std::int64_t>(*n, 0);
      return n.has_value();
    };
    bool any = set("input_tokens", input_);
    any |= set("cache_creation_input_tokens", cache_creation_);
    any |= set("cache_read_input_tokens", cache_read_);
    any |= set("output_tokens", output_);  // cumulative: the last count is the total
    usage_seen_ |= any;
  }

  base::Status message_start(const json::object& o, std::vector<Delta>& out) {
    const auto* message = object_field(o, "message");
    if (!message) return unreadable("message_start has no message");
    Delta d;
    d.kind = Delta::Kind::kStart;
    if (const auto* id = string_field(*message, "id")) d.id = str(*id);
    if (const auto* model = string_field(*message, "model")) d.model = str(*model);
    out.push_back(std::move(d));
    if (const auto* usage = object_field(*message, "usage")) read_usage(*usage);
    return base::Ok{};
  }

  base::Status block_start(const json::object& o, std::vector<Delta>& out) {
    const auto* index = o.if_contains("index");
    const auto block_index = index ? as_int(*index) : std::nullopt;
    const auto* block = object_field(o, "content_block");
    const auto* type = block ? string_field(*block, "type") : nullptr;
    if (!block_index || !type) {
      return unreadable("content_block_start without an index or a typed block");
    }
    Delta d;
    if (*type == "text") {
      const auto* text = string_field(*block, "text");
      if (!text || text->empty()) return base::Ok{};
      d.kind = Delta::Kind::kText;
      d.text = str(*text);
    } else if (*type == "thinking") {
      const auto* thinking = string_field(*block, "thinking");
      if (!thinking || thinking->empty()) return base::Ok{};
      d.kind = Delta::Kind::kThinking;
      d.text = str(*thinking);
    } else if (*type == "redacted_thinking") {
      const auto* data = string_field(*block, "data");
      if (!data) return unreadable("a redacted_thinking block has no data");
      d.kind = Delta::Kind::kRedactedThinking;
      d.text = str(*data);
    } else if (*type == "tool_use") {
      const auto* id = string_field(*block, "id");
      const auto* name = string_field(*block, "name");
      if (!id || !name) return unreadable("a tool_use block has no id or name");
      const int call = tool_calls_++;
      tool_blocks_.emplace_back(*block_index, call);
      d.kind = Delta::Kind::kToolCall;
      d.index = call;
      d.id = str(*id);
      d.name = str(*name);
      const auto* input = block->if_contains("input");
      const auto* initial = input ? input->if_object() : nullptr;
      out.push_back(std::move(d));
      // The input arrives as input_json_delta pieces; a start that already holds some passes
      // it on as the first piece.
      if (initial && !initial->empty()) {
        Delta args;
        args.kind = Delta::Kind::kToolArguments;
        args.index = call;
        args.text = json::serialize(*initial);
        out.push_back(std::move(args));
      }
      return base::Ok{};
    } else {
      return base::Ok{};  // server tool blocks: never asked for by requests encoded here
    }
    out.push_back(std::move(d));
    return base::Ok{};
  }

  base::Status block_delta(const json::object& o, std::vector<Delta>& out) {
    const auto* delta = object_field(o, "delta");
    const auto* type = delta ? string_field(*delta, "type") : nullptr;
    if (!type) return unreadable("content_block_delta without a typed delta");
    const auto piece = [&](std::string_view key, Delta::Kind kind) -> base::Status {
      const auto* s = string_field(*delta, key);
      if (!s) return unreadable("a " + str(*type) + " has no " + std::string(key));
      if (s->empty()) return base::Ok{};
      Delta d;
      d.kind = kind;
      d.text = str(*s);
      out.push_back(std::move(d));
      return base::Ok{};
    };
    if (*type == "text_delta") return piece("text", Delta::Kind::kText);
    if (*type == "thinking_delta") return piece("thinking", Delta::Kind::kThinking);
    if (*type == "signature_delta") return piece("signature", Delta::Kind::kSignature);
    if (*type == "input_json_delta") {
      const auto* index = o.if_contains("index");
      const auto block_index = index ? as_int(*index) : std::nullopt;
      if (!block_index) return unreadable("input_json_delta without an index");
      const auto it = std::find_if(tool_blocks_.rbegin(), tool_blocks_.rend(),
                                   [&](const auto& b) { return b.first == *block_index; });
      if (it == tool_blocks_.rend()) return base::Ok{};  // a server tool's input
      const std::size_t before = out.size();
      if (auto s = piece("partial_json", Delta::Kind::kToolArguments); !s) return s;
      if (out.size() > before) out.back().index = it->second;
      return base::Ok{};
    }
    return base::Ok{};  // citations_delta and delta types added later
  }

  base::Status message_delta(const json::object& o, std::vector<Delta>& out) {
    if (const auto* delta = object_field(o, "delta")) {
      if (const auto* reason = string_field(*delta, "stop_reason")) {
        Delta d;
        d.kind = Delta::Kind::kFinish;
        d.stop_reason = stop_reason_of(sv(*reason));
        if (const auto* seq = string_field(*delta, "stop_sequence")) d.text = str(*seq);
        out.push_back(std::move(d));
      }
    }
    if (const auto* usage = object_field(o, "usage")) read_usage(*usage);
    return base::Ok{};
  }

  base::Status error_event(const json::object& o, std::vector<Delta>& out) {
    const auto* error = object_field(o, "error");
    const auto* type = error ? string_field(*error, "type") : nullptr;
    const auto* message = error ? string_field(*error, "message") : nullptr;
    const std::string_view type_name = type ? sv(*type) : "api_error";
    Delta d;
    d.kind = Delta::Kind::kError;
    d.error.code = ErrorCode::kUpstreamStatus;
    d.error.status = status_of_error_type(type_name);
    d.error.retryable = d.error.status == 429 || d.error.status >= 500;
    d.error.message = message && !message->empty()
                          ? std::string(utf8_prefix(sv(*message), kMaxMessageBytes))
                          : "the upstream reported an error (" + std::string(type_name) + ")";
    d.error.detail = "stream error event of type " + std::string(type_name);
    out.push_back(std::move(d));
    done_ = true;
    return base::Ok{};
  }

  // The block index of every tool_use block and the tool call it is.
  std::vector<std::pair<std::int64_t, int>> tool_blocks_;
  int tool_calls_ = 0;
  std::int64_t input_ = 0, cache_creation_ = 0, cache_read_ = 0, output_ = 0;
  bool usage_seen_ = false;
  bool done_ = false;
};

class AnthropicStreamEncoder final : public StreamEncoder {
 public:
  explicit AnthropicStreamEncoder(std::string_view model) : model_(model) {}

  void encode(const Delta& d, std::string& out) override {
    if (ended_) return;
    if (d.kind == Delta::Kind::kError) return error(d.error, out);
    if (d.kind != Delta::Kind::kStart && !started_) start({}, out);
    switch (d.kind) {
      case Delta::Kind::kStart:
        if (!started_) start(d.id, out);
        break;
      case Delta::Kind::kText:
        if (d.text.empty()) break;
        if (open_ != Block::kText) open(Block::kText, d, out);
        delta("text_delta", "text", d.text, block_, out);
        break;
      case Delta::Kind::kThinking:
        if (d.text.empty()) break;
        if (open_ != Block::kThinking) open(Block::kThinking, d, out);
        delta("thinking_delta", "thinking", d.text, block_, out);
        break;
      case Delta::Kind::kSignature:
        if (d.text.empty()) break;
        if (open_ != Block::kThinking) open(Block::kThinking, d, out);
        delta("signature_delta", "signature", d.text, block_, out);
        break;
      case Delta::Kind::kRedactedThinking:
        open(Block::kRedactedThinking, d, out);
        break;
      case Delta::Kind::kToolCall:
        open(Block::kToolUse, d, out);
        break;
      case Delta::Kind::kToolArguments: {
        if (d.text.empty()) break;
        if (open_ == Block::kToolUse && open_call_ == d.index) {
          delta("input_json_delta", "partial_json", d.text, block_, out);
          break;
        }
        // Pieces of a call whose block was already closed (providers that interleave parallel
        // calls) go to that block: each event names its block index, and clients accumulate
        // by index.
        const auto it = std::find_if(call_blocks_.begin(), call_blocks_.end(),
                                     [&](const auto& b) { return b.first == d.index; });
        if (it != call_blocks_.end()) {
          delta("input_json_delta", "partial_json", d.text, it->second, out);
        }
        break;
      }
      case Delta::Kind::kFinish:
        stop_reason_ = d.stop_reason;
        stop_sequence_ = d.text;
        if (usage_) finish(out);
        break;
      case Delta::Kind::kUsage:
        usage_ = d.usage;
        if (stop_reason_) finish(out);
        break;
      case Delta::Kind::kDone:
        finish(out);
        append_sse_chunk(out, "message_stop", R"({"type":"message_stop"})");
        ended_ = true;
        break;
      case Delta::Kind::kError:
        break;  // handled above
    }
  }

  void error(const base::Error& e, std::string& out) override {
    if (ended_) return;
    buf_.assign(R"({"type":"error","error":{"type":)");
    append_quoted(buf_, anthropic_error_type(e));
    buf_.append(R"(,"message":)");
    append_quoted(buf_, e.message);
    buf_.append("}}");
    append_sse_chunk(out, "error", buf_);
    ended_ = true;
  }

 private:
  enum class Block { kNone, kText, kThinking, kToolUse, kRedactedThinking };

  void start(std::string_view id, std::string& out) {
    started_ = true;
    buf_.assign(R"({"type":"message_start","message":{"id":)");
    append_quoted(buf_, with_prefix(id, "msg_"));
    buf_.append(R"(,"type":"message","role":"assistant","model":)");
    append_quoted(buf_, model_);
    buf_.append(R"(,"content":[],"stop_reason":null,"stop_sequence":null,)"
                R"("usage":{"input_tokens":0,"output_tokens":0}}})");
    append_sse_chunk(out, "message_start", buf_);
    append_sse_chunk(out, "ping", R"({"type":"ping"})");
  }

  void close(std::string& out) {
    if (open_ == Block::kNone) return;
    buf_.assign(R"({"type":"content_block_stop","index":)");
    append_int(buf_, block_);
    buf_.push_back('}');
    append_sse_chunk(out, "content_block_stop", buf_);
    open_ = Block::kNone;
  }

  void open(Block kind, const Delta& d, std::string& out) {
    close(out);
    block_ = next_block_++;
    open_ = kind;
    buf_.assign(R"({"type":"content_block_start","index":)");
    append_int(buf_, block_);
    buf_.append(R"(,"content_block":)");
    switch (kind) {
      case Block::kText:
        buf_.append(R"({"type":"text","text":""})");
        break;
      case Block::kThinking:
        buf_.append(R"({"type":"thinking","thinking":"","signature":""})");
        break;
      case Block::kRedactedThinking:
        buf_.append(R"({"type":"redacted_thinking","data":)");
        append_quoted(buf_, d.text);
        buf_.push_back('}');
        break;
      case Block::kToolUse:
        open_call_ = d.index;
        call_blocks_.emplace_back(d.index, block_);
        buf_.append(R"({"type":"tool_use","id":)");
        append_quoted(buf_, d.id);
        buf_.append(R"(,"name":)");
        append_quoted(buf_, d.name);
        buf_.append(R"(,"input":{}})");
        break;
      case Block::kNone:
        break;
    }
    buf_.push_back('}');
    append_sse_chunk(out, "content_block_start", buf_);
  }

  void delta(std::string_view type, std::string_view field, std::string_view text, int block,
             std::string& out) {
    buf_.assign(R"({"type":"content_block_delta","index":)");
    append_int(buf_, block);
    buf_.append(R"(,"delta":{"type":")").append(type).append(R"(",")").append(field).append("\":");
    append_quoted(buf_, text);
    buf_.append("}}");
    append_sse_chunk(out, "content_block_delta", buf_);
  }

  // The end of the answer: the open block's stop, then message_delta with the stop reason and
  // the usage (docs: messages-streaming, "Event flow").
  void finish(std::string& out) {
    if (finished_) return;
    finished_ = true;
    close(out);
    const Usage u = usage_.value_or(Usage{});
    const StopReason reason = stop_reason_.value_or(StopReason::kEndTurn);
    buf_.assign(R"({"type":"message_delta","delta":{"stop_reason":")");
    buf_.append(stop_reason_name(reason)).append(R"(","stop_sequence":)");
    if (reason == StopReason::kStopSequence && !stop_sequence_.empty()) {
      append_quoted(buf_, stop_sequence_);
    } else {
      buf_.append("null");
    }
    buf_.append(R"(},"usage":{"output_tokens":)");
    append_int(buf_, u.completion_tokens);
    buf_.append(R"(,"input_tokens":)");
    append_int(buf_, std::max<std::int64_t>(
                         0, u.prompt_tokens - u.cache_read_tokens - u.cache_creation_tokens));
    buf_.append(R"(,"cache_creation_input_tokens":)");
    append_int(buf_, u.cache_creation_tokens);
    buf_.append(R"(,"cache_read_input_tokens":)");
    append_int(buf_, u.cache_read_tokens);
    buf_.append("}}");
    append_sse_chunk(out, "message_delta", buf_);
  }

  std::string model_;
  std::string buf_;  // the data of the event being written, reused
  bool started_ = false, finished_ = false, ended_ = false;
  Block open_ = Block::kNone;
  int block_ = 0;  // the index of the open block
  int next_block_ = 0;
  int open_call_ = -1;                            // the tool call of the open tool_use block
  std::vector<std::pair<int, int>> call_blocks_;  // tool call index → its block index
  std::optional<StopReason> stop_reason_;
  std::string stop_sequence_;
  std::optional<Usage> usage_;
};

}  // namespace

std::unique_ptr<StreamDecoder> AnthropicCodec::stream_decoder() const {
  return std::make_unique<AnthropicStreamDecoder>();
}

std::unique_ptr<StreamEncoder> AnthropicCodec::stream_encoder(const Request&,
                                                              std::string_view model) const {
  return std::make_unique<AnthropicStreamEncoder>(model);
}

// ---------------------------------------------------------------------------------------------
// Errors (docs: errors, "HTTP errors" and "Error shapes").

std::string_view anthropic_error_type(const base::Error& e) {
  switch (e.code) {
    case ErrorCode::kBadRequest:
    case ErrorCode::kMethodNotAllowed:
    case ErrorCode::kConflict:
    // Anthropic uses invalid_request_error "for other 4XX status codes not listed".
    case ErrorCode::kRequestTimeout:
    case ErrorCode::kHeadersTooLarge:
      return "invalid_request_error";
    case ErrorCode::kUnauthorized:
      return "authentication_error";
    case ErrorCode::kForbidden:
      return "permission_error";
    case ErrorCode::kNotFound:
    case ErrorCode::kModelNotFound:
      return "not_found_error";
    case ErrorCode::kPayloadTooLarge:
      return "request_too_large";
    case ErrorCode::kRateLimited:
      return "rate_limit_error";
    case ErrorCode::kUnavailable:
      return "overloaded_error";
    case ErrorCode::kUpstreamStatus:
      switch (e.status) {
        case 401:
          return "authentication_error";
        case 403:
          return "permission_error";
        case 404:
          return "not_found_error";
        case 413:
          return "request_too_large";
        case 429:
          return "rate_limit_error";
        case 529:
          return "overloaded_error";
        default:
          return e.status >= 400 && e.status < 500 ? "invalid_request_error" : "api_error";
      }
    case ErrorCode::kUpstreamUnreachable:
    case ErrorCode::kUpstreamTimeout:
    case ErrorCode::kInternal:
      return "api_error";
  }
  return "api_error";
}

std::string AnthropicCodec::error_body(const base::Error& error) const {
  std::string out = R"({"type":"error","error":{"type":)";
  append_quoted(out, anthropic_error_type(error));
  out.append(R"(,"message":)");
  append_quoted(out, error.message);
  out.append("}}");
  return out;
}

std::string AnthropicCodec::error_message(std::string_view body) const {
  unsigned char buffer[1024];
  json::monotonic_resource mr(buffer);
  json::parse_options opts;
  opts.max_depth = kUpstreamMaxDepth;
  boost::system::error_code ec;
  const auto root = json::parse(js(body), ec, &mr, opts);
  if (!ec) {
    const auto* o = root.if_object();
    const auto* error = o ? object_field(*o, "error") : nullptr;
    const auto* message = error ? string_field(*error, "message") : nullptr;
    if (message) return std::string(utf8_prefix(sv(*message), kMaxMessageBytes));
  }
  // Not Anthropic's error shape (a proxy's HTML page, plain text): a cleaned excerpt.
  std::string s;
  for (const char c : utf8_prefix(body, kMaxMessageBytes)) {
    s.push_back(static_cast<unsigned char>(c) < 0x20 ? ' ' : c);
  }
  const auto first = s.find_first_not_of(' ');
  if (first == std::string::npos) return {};
  s.erase(0, first);
  s.erase(s.find_last_not_of(' ') + 1);
  return s;
}

const Codec& anthropic_codec() {
  static const AnthropicCodec codec;
  return codec;
}

}  // namespace shepherd::translate
