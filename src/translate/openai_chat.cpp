#include "translate/openai_chat.hpp"

#include <boost/json.hpp>
#include <cctype>
#include <charconv>
#include <cmath>
#include <limits>

#include "api/openai.hpp"

namespace shepherd::translate {
namespace json = boost::json;
using base::ErrorCode;

namespace {

// Provider answers nest shallowly (tool arguments travel as strings); deeper is not an answer.
constexpr std::size_t kUpstreamMaxDepth = 64;
// Small requests and stream chunks parse without touching the heap.
constexpr std::size_t kParseBuffer = 4096;

// ---------------------------------------------------------------------------------------------
// Errors

// Builds a message or JSON path from strings and integers; only error paths pay for it.
template <typename... Ts>
std::string cat(const Ts&... pieces) {
  std::string s;
  (
      [&] {
        if constexpr (std::is_integral_v<Ts>) {
          s += std::to_string(pieces);
        } else {
          s += pieces;
        }
      }(),
      ...);
  return s;
}

base::Error bad_request(std::string message, std::string param) {
  auto e = base::make_error(ErrorCode::kBadRequest, std::move(message));
  e.param = std::move(param);
  return e;
}

// The longest prefix of `text` of at most `max` bytes that does not end inside a UTF-8 sequence.
std::string_view utf8_prefix(std::string_view text, std::size_t max) {
  if (text.size() <= max) return text;
  while (max > 0 && (static_cast<unsigned char>(text[max]) & 0xC0) == 0x80) --max;
  return text.substr(0, max);
}

// A short, single-line piece of a provider's text for an error.
std::string excerpt(std::string_view text) {
  std::string s(utf8_prefix(text, 120));
  for (auto& c : s) {
    if (static_cast<unsigned char>(c) < 0x20) c = ' ';
  }
  return s;
}

base::Error unreadable(std::string_view why, std::string_view text = {}) {
  auto e = base::make_error(ErrorCode::kUpstreamUnreachable,
                            cat("the upstream answer could not be read: ", why),
                            text.empty() ? std::string() : cat("excerpt: ", excerpt(text)));
  e.retryable = true;
  return e;
}

// ---------------------------------------------------------------------------------------------
// Reading JSON

std::string_view sv(const json::string& s) { return {s.data(), s.size()}; }

// The member `key` of `o`; nullptr when absent or null (OpenAI writes null for "not set").
const json::value* member(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(json::string_view(key.data(), key.size()));
  return v && !v->is_null() ? v : nullptr;
}

const json::string* string_member(const json::object& o, std::string_view key) {
  const auto* v = member(o, key);
  return v ? v->if_string() : nullptr;
}

std::string_view string_or_empty(const json::object& o, std::string_view key) {
  const auto* s = string_member(o, key);
  return s ? sv(*s) : std::string_view();
}

std::optional<std::int64_t> integer(const json::value& v) {
  if (v.is_int64()) return v.get_int64();
  if (v.is_uint64()) {
    return static_cast<std::int64_t>(
        std::min<std::uint64_t>(v.get_uint64(), std::numeric_limits<std::int64_t>::max()));
  }
  if (v.is_double()) {
    const double d = v.get_double();
    // Some clients write 1024.0; a whole number in range means the same.
    if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9e18) {
      return static_cast<std::int64_t>(d);
    }
  }
  return std::nullopt;
}

std::optional<double> number(const json::value& v) {
  if (v.is_int64()) return static_cast<double>(v.get_int64());
  if (v.is_uint64()) return static_cast<double>(v.get_uint64());
  if (v.is_double() && std::isfinite(v.get_double())) return v.get_double();
  return std::nullopt;
}

// A token count of a provider's usage object; 0 when absent or not a count.
std::int64_t count(const json::object& o, std::string_view key) {
  const auto* v = member(o, key);
  const auto n = v ? integer(*v) : std::nullopt;
  return n && *n > 0 ? *n : 0;
}

// ---------------------------------------------------------------------------------------------
// Writing JSON (appended to the output directly: one pass, no document)

// `s` as the inside of a JSON string: quotes, backslashes and control characters escaped.
void append_escaped(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::size_t run = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out.append(s.data() + run, i - run);
    run = i + 1;
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      default:
        out += "\\u00";
        out.push_back(kHex[c >> 4]);
        out.push_back(kHex[c & 0xF]);
    }
  }
  out.append(s.data() + run, s.size() - run);
}

void append_quoted(std::string& out, std::string_view s) {
  out.push_back('"');
  append_escaped(out, s);
  out.push_back('"');
}

void append_int(std::string& out, std::int64_t v) {
  char buf[24];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, end);
}

void append_double(std::string& out, double v) {
  if (!std::isfinite(v)) {  // decoders reject these; JSON has no spelling for them
    out += "null";
    return;
  }
  char buf[32];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, end);
}

void append_value(std::string& out, const json::value& v) { out += json::serialize(v); }

// `"key":` preceded by a comma unless it opens its object or array.
class Members {
 public:
  explicit Members(std::string& out) : out_(out) {}
  std::string& key(std::string_view k) {
    next();
    append_quoted(out_, k);
    out_.push_back(':');
    return out_;
  }
  std::string& next() {
    if (!first_) out_.push_back(',');
    first_ = false;
    return out_;
  }

 private:
  std::string& out_;
  bool first_ = true;
};

// ---------------------------------------------------------------------------------------------
// Parts and deltas

Part text_part(std::string_view text) {
  Part p;
  p.text = text;
  return p;
}

Part thinking_part(std::string_view text, std::string_view signature = {}) {
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

Delta make_delta(Delta::Kind kind, std::string_view text = {}, int index = 0) {
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

// finish_reason as the chat completion object documents it. Some OpenAI-compatible servers say
// "stop" after tool calls; a turn that called tools ends in tool use whatever it says, since
// other formats' clients run tools only on that reason.
StopReason stop_reason(std::string_view r, bool called_tools) {
  if (r == "length") return StopReason::kMaxTokens;
  if (r == "tool_calls" || r == "function_call") return StopReason::kToolUse;
  if (r == "content_filter") return StopReason::kContentFilter;
  return called_tools ? StopReason::kToolUse : StopReason::kEndTurn;
}

std::string chat_id(std::string_view id) {
  constexpr std::string_view kPrefix = "chatcmpl-";
  if (id.substr(0, kPrefix.size()) == kPrefix) return std::string(id);
  return cat(kPrefix, id);
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
  out += "}}";
}

Usage read_usage(const json::object& u) {
  Usage usage;
  usage.prompt_tokens = count(u, "prompt_tokens");
  usage.completion_tokens = count(u, "completion_tokens");
  if (const auto* d = member(u, "prompt_tokens_details"); d && d->is_object()) {
    usage.cache_read_tokens = count(d->get_object(), "cached_tokens");
  }
  if (const auto* d = member(u, "completion_tokens_details"); d && d->is_object()) {
    usage.reasoning_tokens = count(d->get_object(), "reasoning_tokens");
  }
  return usage;
}

std::optional<json::value> parse(std::string_view text, std::size_t max_depth,
                                 json::storage_ptr storage, boost::system::error_code& ec) {
  json::parse_options opts;
  opts.max_depth = max_depth;
  auto v = json::parse(json::string_view(text.data(), text.size()), ec, std::move(storage), opts);
  if (ec) return std::nullopt;
  return v;
}

// ---------------------------------------------------------------------------------------------
// decode_request: a client's /v1/chat/completions body

class RequestReader {
 public:
  explicit RequestReader(Request& r) : r_(r) {}

  base::Status read(const json::object& root) {
    if (auto s = read_required(root); !s) return s;
    if (auto s = read_tools(root); !s) return s;
    if (auto s = read_sampling(root); !s) return s;
    return read_output(root);
  }

 private:
  base::Status read_required(const json::object& root) {
    const auto* model = root.if_contains("model");
    if (!model) {
      return bad_request("missing required field: model (a string naming the model)", "model");
    }
    if (!model->is_string() || model->get_string().empty()) {
      return bad_request("model must be a non-empty string", "model");
    }
    r_.model = sv(model->get_string());

    const auto* stream = root.if_contains("stream");
    if (stream && !stream->is_bool() && !stream->is_null()) {
      return bad_request("stream must be true or false", "stream");
    }
    r_.stream = stream && stream->is_bool() && stream->get_bool();
    if (const auto* options = member(root, "stream_options")) {
      if (!options->is_object()) {
        return bad_request("stream_options must be an object", "stream_options");
      }
      if (const auto* usage = member(options->get_object(), "include_usage")) {
        if (!usage->is_bool()) {
          return bad_request("stream_options.include_usage must be true or false",
                             "stream_options.include_usage");
        }
        r_.include_usage = usage->get_bool();
      }
    }

    const auto* messages = root.if_contains("messages");
    if (!messages) {
      return bad_request("missing required field: messages (an array of {role, content})",
                         "messages");
    }
    if (!messages->is_array() || messages->get_array().empty()) {
      return bad_request("messages must be a non-empty array", "messages");
    }
    const auto& list = messages->get_array();
    r_.messages.reserve(list.size());
    for (std::size_t i = 0; i < list.size(); ++i) {
      if (auto s = read_message(list[i], i); !s) return s;
    }
    return base::Ok{};
  }

  base::Status read_message(const json::value& v, std::size_t i) {
    const auto* m = v.if_object();
    const auto* role = m ? m->if_contains("role") : nullptr;
    if (!role || !role->is_string()) {
      return bad_request(cat("messages[", i, "] must be an object with a string role"),
                         m ? cat("messages[", i, "].role") : cat("messages[", i, "]"));
    }
    const auto name = sv(role->get_string());
    if (name == "user") return read_user(*m, i);
    if (name == "assistant") return read_assistant(*m, i);
    if (name == "system" || name == "developer") return read_system(*m, i);
    if (name == "tool") return read_tool(*m, i, false);
    if (name == "function") return read_tool(*m, i, true);
    return bad_request(
        cat("messages[", i, "].role must be system, developer, user, assistant or tool"),
        cat("messages[", i, "].role"));
  }

  // Text content: a string, or an array of {"type":"text","text"} parts; `on_text` gets each.
  template <typename F>
  base::Status read_text(const json::value* content, std::size_t i, std::string_view role,
                         F&& on_text) {
    if (!content) return base::Ok{};
    if (content->is_string()) {
      on_text(sv(content->get_string()));
      return base::Ok{};
    }
    if (!content->is_array()) {
      return bad_request(
          cat("messages[", i, "].content must be a string or an array of text parts"),
          cat("messages[", i, "].content"));
    }
    const auto& parts = content->get_array();
    for (std::size_t j = 0; j < parts.size(); ++j) {
      const auto* part = parts[j].if_object();
      const auto* text = part ? string_member(*part, "text") : nullptr;
      if (!part || string_or_empty(*part, "type") != "text" || !text) {
        return bad_request(
            cat("messages[", i, "].content[", j, "] must be a text part ",
                "{\"type\":\"text\",\"text\":\"...\"}: ", role, " messages carry text only"),
            cat("messages[", i, "].content[", j, "]"));
      }
      on_text(sv(*text));
    }
    return base::Ok{};
  }

  base::Status read_system(const json::object& m, std::size_t i) {
    const auto* content = member(m, "content");
    if (!content) {
      return bad_request(cat("messages[", i, "].content is required: the system prompt's text"),
                         cat("messages[", i, "].content"));
    }
    return read_text(content, i, "system", [&](std::string_view text) {
      if (text.empty()) return;
      if (!r_.system.empty()) r_.system += "\n\n";
      r_.system += text;
    });
  }

  base::Status read_user(const json::object& m, std::size_t i) {
    Message& msg = r_.messages.emplace_back();
    msg.role = Role::kUser;
    const auto* content = member(m, "content");
    if (content && content->is_string()) {
      msg.parts.push_back(text_part(sv(content->get_string())));
      return base::Ok{};
    }
    if (!content || !content->is_array()) {
      return bad_request(
          cat("messages[", i, "].content must be a string or an array of content parts"),
          cat("messages[", i, "].content"));
    }
    const auto& parts = content->get_array();
    msg.parts.reserve(parts.size());
    for (std::size_t j = 0; j < parts.size(); ++j) {
      if (auto s = read_user_part(parts[j], i, j, msg.parts); !s) return s;
    }
    return base::Ok{};
  }

  static base::Status read_user_part(const json::value& v, std::size_t i, std::size_t j,
                                     std::vector<Part>& out) {
    const auto path = [&](std::string_view rest = {}) {
      return cat("messages[", i, "].content[", j, "]", rest);
    };
    const auto* part = v.if_object();
    const auto* type = part ? string_member(*part, "type") : nullptr;
    if (!type) {
      return bad_request(path(" must be an object with a string type (\"text\" or \"image_url\")"),
                         path(".type"));
    }
    if (*type == "text") {
      const auto* text = string_member(*part, "text");
      if (!text) return bad_request(path(".text must be a string"), path(".text"));
      out.push_back(text_part(sv(*text)));
      return base::Ok{};
    }
    if (*type == "image_url") {
      const auto* image = member(*part, "image_url");
      const json::string* url = nullptr;
      if (image && image->is_object()) url = string_member(image->get_object(), "url");
      if (image && image->is_string()) url = &image->get_string();
      if (!url) {
        return bad_request(path(".image_url.url must be a string: an http(s) URL or a data URL"),
                           path(".image_url.url"));
      }
      return read_image_url(sv(*url), path(".image_url.url"), out);
    }
    return bad_request(path(cat(": parts of type \"", sv(*type),
                                "\" cannot be translated for this model; send text and "
                                "image_url parts")),
                       path(".type"));
  }

  // An image_url's url: http(s), or "data:<media type>;base64,<data>".
  static base::Status read_image_url(std::string_view url, std::string param,
                                     std::vector<Part>& out) {
    Part part;
    part.kind = Part::Kind::kImage;
    const auto starts = [&](std::string_view prefix) {
      if (url.size() < prefix.size()) return false;
      for (std::size_t k = 0; k < prefix.size(); ++k) {
        if (std::tolower(static_cast<unsigned char>(url[k])) != prefix[k]) return false;
      }
      return true;
    };
    if (starts("data:")) {
      constexpr std::string_view kMarker = ";base64,";
      const auto marker = url.find(kMarker);
      if (marker == std::string_view::npos || marker == 5 ||
          marker + kMarker.size() == url.size()) {
        return bad_request(cat(param,
                               " must be a base64 data URL (data:<media type>;base64,"
                               "<data>) or an http(s) URL"),
                           std::move(param));
      }
      part.media_type = url.substr(5, marker - 5);
      part.data = url.substr(marker + kMarker.size());
    } else if (starts("https://") || starts("http://")) {
      part.url = url;
    } else {
      return bad_request(cat(param, " must be an http(s) URL or a base64 data URL"),
                         std::move(param));
    }
    out.push_back(std::move(part));
    return base::Ok{};
  }

  base::Status read_assistant(const json::object& m, std::size_t i) {
    Message& msg = r_.messages.emplace_back();
    msg.role = Role::kAssistant;
    const auto path = [&](auto... rest) { return cat("messages[", i, "]", rest...); };

    // thinking_blocks carry Anthropic's signatures; when present they are the reasoning, and
    // reasoning_content (the same text, unsigned) is not read a second time.
    if (const auto* blocks = member(m, "thinking_blocks")) {
      if (!blocks->is_array()) {
        return bad_request(path(".thinking_blocks must be an array"), path(".thinking_blocks"));
      }
      const auto& list = blocks->get_array();
      for (std::size_t k = 0; k < list.size(); ++k) {
        const auto* b = list[k].if_object();
        const auto type = b ? string_or_empty(*b, "type") : std::string_view();
        const auto* thinking = b ? string_member(*b, "thinking") : nullptr;
        const auto* data = b ? string_member(*b, "data") : nullptr;
        if (type == "thinking" && thinking) {
          msg.parts.push_back(thinking_part(sv(*thinking), string_or_empty(*b, "signature")));
        } else if (type == "redacted_thinking" && data) {
          msg.parts.push_back(redacted_part(sv(*data)));
        } else {
          return bad_request(path(".thinking_blocks[", k,
                                  "] must be {\"type\":\"thinking\",\"thinking\",\"signature\"} "
                                  "or {\"type\":\"redacted_thinking\",\"data\"}"),
                             path(".thinking_blocks[", k, "]"));
        }
      }
    } else if (const auto* reasoning = member(m, "reasoning_content")) {
      if (!reasoning->is_string()) {
        return bad_request(path(".reasoning_content must be a string"), path(".reasoning_content"));
      }
      if (!reasoning->get_string().empty()) {
        msg.parts.push_back(thinking_part(sv(reasoning->get_string())));
      }
    }

    if (const auto* content = member(m, "content")) {
      if (content->is_string()) {
        if (!content->get_string().empty()) {
          msg.parts.push_back(text_part(sv(content->get_string())));
        }
      } else if (content->is_array()) {
        const auto& parts = content->get_array();
        for (std::size_t j = 0; j < parts.size(); ++j) {
          const auto* part = parts[j].if_object();
          const auto type = part ? string_or_empty(*part, "type") : std::string_view();
          const auto* text = part ? string_member(*part, "text") : nullptr;
          if (type == "refusal") continue;  // the model's own refusal: nothing to send back
          if (type != "text" || !text) {
            return bad_request(
                path(".content[", j, "] must be a text part {\"type\":\"text\",\"text\":\"...\"}"),
                path(".content[", j, "]"));
          }
          msg.parts.push_back(text_part(sv(*text)));
        }
      } else {
        return bad_request(path(".content must be a string, an array of text parts or null"),
                           path(".content"));
      }
    }

    if (const auto* calls = member(m, "tool_calls")) {
      if (!calls->is_array()) {
        return bad_request(path(".tool_calls must be an array"), path(".tool_calls"));
      }
      const auto& list = calls->get_array();
      for (std::size_t k = 0; k < list.size(); ++k) {
        const auto* call = list[k].if_object();
        const auto* id = call ? string_member(*call, "id") : nullptr;
        if (!id) {
          return bad_request(path(".tool_calls[", k, "].id must be a string"),
                             path(".tool_calls[", k, "].id"));
        }
        if (const auto* type = string_member(*call, "type"); type && *type != "function") {
          return bad_request(path(".tool_calls[", k, "].type must be \"function\""),
                             path(".tool_calls[", k, "].type"));
        }
        const auto* fn = member(*call, "function");
        if (auto s = read_call(fn, path(".tool_calls[", k, "].function"), sv(*id), msg.parts); !s) {
          return s;
        }
      }
    } else if (const auto* fn = member(m, "function_call")) {
      // Deprecated function calling carries no call id; the function's name pairs the call with
      // its `function` message.
      const auto* o = fn->if_object();
      const auto name = o ? string_or_empty(*o, "name") : std::string_view();
      if (auto s = read_call(fn, path(".function_call"), name, msg.parts); !s) return s;
    }
    return base::Ok{};
  }

  static base::Status read_call(const json::value* fn, const std::string& param,
                                std::string_view id, std::vector<Part>& out) {
    const auto* o = fn ? fn->if_object() : nullptr;
    const auto* name = o ? string_member(*o, "name") : nullptr;
    if (!name || name->empty()) {
      return bad_request(cat(param, " must be an object with a non-empty string name"),
                         cat(param, ".name"));
    }
    const auto* args = member(*o, "arguments");
    if (args && !args->is_string()) {
      return bad_request(cat(param, ".arguments must be a string holding a JSON object"),
                         cat(param, ".arguments"));
    }
    out.push_back(call_part(id, sv(*name), args ? sv(args->get_string()) : std::string_view()));
    return base::Ok{};
  }

  base::Status read_tool(const json::object& m, std::size_t i, bool legacy) {
    const auto key = legacy ? std::string_view("name") : std::string_view("tool_call_id");
    const auto* id = string_member(m, key);
    if (!id || id->empty()) {
      return bad_request(
          legacy ? cat("messages[", i, "].name must be a string: the function that was called")
                 : cat("messages[", i,
                       "].tool_call_id must be a string: the id of the tool call this answers"),
          cat("messages[", i, "].", key));
    }
    Part result;
    result.kind = Part::Kind::kToolResult;
    result.id = sv(*id);
    if (legacy) result.name = result.id;
    auto s = read_text(member(m, "content"), i, legacy ? "function" : "tool",
                       [&](std::string_view text) {
                         if (text.empty()) return;
                         result.content.push_back(text_part(text));
                       });
    if (!s) return s;
    Message& msg = r_.messages.emplace_back();
    msg.role = Role::kUser;
    msg.parts.push_back(std::move(result));
    return base::Ok{};
  }

  base::Status read_tools(const json::object& root) {
    if (const auto* tools = member(root, "tools")) {
      if (!tools->is_array()) return bad_request("tools must be an array", "tools");
      const auto& list = tools->get_array();
      r_.tools.reserve(list.size());
      for (std::size_t i = 0; i < list.size(); ++i) {
        const auto* tool = list[i].if_object();
        const auto* type = tool ? string_member(*tool, "type") : nullptr;
        if (!tool || (type && *type != "function")) {
          return bad_request(
              cat("tools[", i,
                  "]: only function tools ({\"type\":\"function\",\"function\":{...}}) ",
                  "can be translated for this model", type ? cat("; got \"", sv(*type), "\"") : ""),
              cat("tools[", i, "].type"));
        }
        if (auto s = read_function(member(*tool, "function"), cat("tools[", i, "].function")); !s) {
          return s;
        }
      }
    } else if (const auto* functions = member(root, "functions")) {
      // The deprecated form of tools: the function objects themselves.
      if (!functions->is_array()) return bad_request("functions must be an array", "functions");
      const auto& list = functions->get_array();
      for (std::size_t i = 0; i < list.size(); ++i) {
        if (auto s = read_function(&list[i], cat("functions[", i, "]")); !s) return s;
      }
    }

    if (const auto* choice = member(root, "tool_choice")) {
      if (auto s = read_tool_choice(*choice, "tool_choice"); !s) return s;
    } else if (const auto* fc = member(root, "function_call")) {
      if (auto s = read_tool_choice(*fc, "function_call"); !s) return s;
    }
    if (const auto* parallel = member(root, "parallel_tool_calls")) {
      if (!parallel->is_bool()) {
        return bad_request("parallel_tool_calls must be true or false", "parallel_tool_calls");
      }
      if (!parallel->get_bool()) {
        if (!r_.tool_choice) r_.tool_choice.emplace();
        r_.tool_choice->parallel_calls = false;
      }
    }
    return base::Ok{};
  }

  base::Status read_function(const json::value* fn, const std::string& param) {
    const auto* o = fn ? fn->if_object() : nullptr;
    const auto* name = o ? string_member(*o, "name") : nullptr;
    if (!name || name->empty()) {
      return bad_request(cat(param, " must be an object with a non-empty string name"),
                         cat(param, ".name"));
    }
    Tool& tool = r_.tools.emplace_back();
    tool.name = sv(*name);
    tool.description = string_or_empty(*o, "description");
    if (const auto* params = member(*o, "parameters")) {
      if (!params->is_object()) {
        return bad_request(cat(param, ".parameters must be a JSON Schema object"),
                           cat(param, ".parameters"));
      }
      tool.parameters = json::value(*params, json::storage_ptr());
    }
    return base::Ok{};
  }

  // tool_choice: "auto" | "none" | "required" | {"type":"function","function":{"name"}}; the
  // deprecated function_call takes "auto" | "none" | {"name"}.
  base::Status read_tool_choice(const json::value& v, std::string_view key) {
    ToolChoice choice;
    if (const auto* s = v.if_string()) {
      if (*s == "auto") {
        choice.mode = ToolChoice::Mode::kAuto;
      } else if (*s == "none") {
        choice.mode = ToolChoice::Mode::kNone;
      } else if (*s == "required") {
        choice.mode = ToolChoice::Mode::kRequired;
      } else {
        return bad_request(cat(key, " must be \"auto\", \"none\", \"required\" or ",
                               "{\"type\":\"function\",\"function\":{\"name\":\"...\"}}"),
                           std::string(key));
      }
    } else {
      const auto* o = v.if_object();
      const json::string* name = nullptr;
      if (o && key == "function_call") {
        name = string_member(*o, "name");
      } else if (o && string_or_empty(*o, "type") == "function") {
        const auto* fn = member(*o, "function");
        if (fn && fn->is_object()) name = string_member(fn->get_object(), "name");
      }
      if (!name || name->empty()) {
        return bad_request(cat(key, " must be \"auto\", \"none\", \"required\" or ",
                               "{\"type\":\"function\",\"function\":{\"name\":\"...\"}}"),
                           std::string(key));
      }
      choice.mode = ToolChoice::Mode::kTool;
      choice.name = sv(*name);
    }
    r_.tool_choice = std::move(choice);
    return base::Ok{};
  }

  base::Status read_sampling(const json::object& root) {
    for (const std::string_view key : {"max_tokens", "max_completion_tokens"}) {
      if (const auto* v = member(root, key)) {
        const auto n = integer(*v);
        if (!n || *n < 0) {
          return bad_request(cat(key, " must be a non-negative integer"), std::string(key));
        }
        r_.max_tokens = std::max(r_.max_tokens.value_or(0), *n);
      }
    }
    const std::pair<std::string_view, std::optional<double>*> numbers[] = {
        {"temperature", &r_.temperature},
        {"top_p", &r_.top_p},
        {"presence_penalty", &r_.presence_penalty},
        {"frequency_penalty", &r_.frequency_penalty},
    };
    for (const auto& [key, field] : numbers) {
      if (const auto* v = member(root, key)) {
        *field = number(*v);
        if (!*field) return bad_request(cat(key, " must be a number"), std::string(key));
      }
    }
    if (const auto* v = member(root, "top_k")) {
      const auto n = integer(*v);
      if (!n) return bad_request("top_k must be an integer", "top_k");
      // vLLM reads -1 (and 0) as "no top-k limit": the same as not sending one.
      if (*n > 0) r_.top_k = *n;
    }
    if (const auto* v = member(root, "seed")) {
      r_.seed = integer(*v);
      if (!r_.seed) return bad_request("seed must be an integer", "seed");
    }
    if (const auto* v = member(root, "n")) {
      const auto n = integer(*v);
      if (!n || *n < 1) return bad_request("n must be a positive integer", "n");
      if (*n > 1) {
        return bad_request("n > 1 is served only by OpenAI-compatible deployments", "n");
      }
    }
    if (const auto* v = member(root, "stop")) {
      if (const auto* s = v->if_string()) {
        r_.stop.emplace_back(sv(*s));
      } else if (const auto* list = v->if_array()) {
        for (std::size_t i = 0; i < list->size(); ++i) {
          const auto* item = (*list)[i].if_string();
          if (!item) {
            return bad_request(cat("stop[", i, "] must be a string"), cat("stop[", i, "]"));
          }
          r_.stop.emplace_back(sv(*item));
        }
      } else {
        return bad_request("stop must be a string or an array of strings", "stop");
      }
    }
    return base::Ok{};
  }

  base::Status read_output(const json::object& root) {
    if (const auto* v = member(root, "response_format")) {
      const auto* o = v->if_object();
      const auto type = o ? string_or_empty(*o, "type") : std::string_view();
      auto& format = r_.response_format;
      if (type == "text") {
        format.kind = ResponseFormat::Kind::kText;
      } else if (type == "json_object") {
        format.kind = ResponseFormat::Kind::kJsonObject;
      } else if (type == "json_schema") {
        const auto* js = member(*o, "json_schema");
        const auto* schema = js ? js->if_object() : nullptr;
        const auto* name = schema ? string_member(*schema, "name") : nullptr;
        if (!name) {
          return bad_request(
              "response_format.json_schema must be an object with a string name and a schema",
              "response_format.json_schema.name");
        }
        format.kind = ResponseFormat::Kind::kJsonSchema;
        format.name = sv(*name);
        if (const auto* s = member(*schema, "schema")) {
          if (!s->is_object()) {
            return bad_request("response_format.json_schema.schema must be a JSON Schema object",
                               "response_format.json_schema.schema");
          }
          format.schema = json::value(*s, json::storage_ptr());
        }
        if (const auto* strict = member(*schema, "strict")) {
          if (!strict->is_bool()) {
            return bad_request("response_format.json_schema.strict must be true or false",
                               "response_format.json_schema.strict");
          }
          format.strict = strict->get_bool();
        }
      } else {
        return bad_request(
            "response_format.type must be \"text\", \"json_object\" or \"json_schema\"",
            "response_format.type");
      }
    }
    if (const auto* v = member(root, "reasoning_effort")) {
      if (!v->is_string()) {
        return bad_request(
            "reasoning_effort must be a string such as \"low\", \"medium\" or "
            "\"high\"",
            "reasoning_effort");
      }
      r_.reasoning_effort = sv(v->get_string());
    }
    if (const auto* v = member(root, "user")) {
      if (!v->is_string()) return bad_request("user must be a string", "user");
      r_.user = sv(v->get_string());
    }
    return base::Ok{};
  }

  Request& r_;
};

// ---------------------------------------------------------------------------------------------
// encode_request: the body for an OpenAI-compatible provider

void append_text_content(std::string& out, const std::vector<Part>& parts) {
  std::size_t texts = 0;
  const Part* only = nullptr;
  for (const auto& p : parts) {
    if (p.kind == Part::Kind::kText) {
      ++texts;
      only = &p;
    }
  }
  if (texts <= 1) {
    append_quoted(out, only ? std::string_view(only->text) : std::string_view());
    return;
  }
  out.push_back('[');
  Members items(out);
  for (const auto& p : parts) {
    if (p.kind != Part::Kind::kText) continue;
    items.next() += "{\"type\":\"text\",\"text\":";
    append_quoted(out, p.text);
    out.push_back('}');
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
      items.next() += "{\"type\":\"text\",\"text\":";
      append_quoted(out, p.text);
      out.push_back('}');
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
  std::size_t texts = 0, calls = 0;
  const Part* only = nullptr;
  for (const auto& p : m.parts) {
    if (p.kind == Part::Kind::kText) {
      ++texts;
      only = &p;
    }
    if (p.kind == Part::Kind::kToolCall) ++calls;
  }
  if (texts == 1) {
    append_quoted(out, only->text);
  } else if (texts > 1) {
    std::string joined;
    for (const auto& p : m.parts) {
      if (p.kind == Part::Kind::kText) joined += p.text;
    }
    append_quoted(out, joined);
  } else {
    out += calls ? "null" : "\"\"";
  }
  if (calls) {
    out += ",\"tool_calls\":[";
    Members items(out);
    for (const auto& p : m.parts) {
      if (p.kind != Part::Kind::kToolCall) continue;
      items.next() += "{\"id\":";
      append_quoted(out, p.id);
      out += ",\"type\":\"function\",\"function\":{\"name\":";
      append_quoted(out, p.name);
      out += ",\"arguments\":";
      append_quoted(out, p.arguments.empty() ? std::string_view("{}") : p.arguments);
      out += "}}";
    }
    out.push_back(']');
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

// ---------------------------------------------------------------------------------------------
// Thinking and tool calls of an assistant message, read from a completion or a request.

void read_message_thinking(const json::object& message, std::vector<Part>& out) {
  if (const auto* blocks = member(message, "thinking_blocks"); blocks && blocks->is_array()) {
    for (const auto& v : blocks->get_array()) {
      const auto* b = v.if_object();
      if (!b) continue;
      const auto type = string_or_empty(*b, "type");
      if (type == "thinking") {
        out.push_back(
            thinking_part(string_or_empty(*b, "thinking"), string_or_empty(*b, "signature")));
      } else if (type == "redacted_thinking") {
        out.push_back(redacted_part(string_or_empty(*b, "data")));
      }
    }
    if (!out.empty()) return;
  }
  // DeepSeek and vLLM name it reasoning_content; OpenRouter and newer vLLM name it reasoning.
  auto text = string_or_empty(message, "reasoning_content");
  if (text.empty()) text = string_or_empty(message, "reasoning");
  if (!text.empty()) out.push_back(thinking_part(text));
}

// ---------------------------------------------------------------------------------------------
// Stream decoding

class ChatStreamDecoder final : public StreamDecoder {
 public:
  base::Status feed(std::string_view, std::string_view data, std::vector<Delta>& out) override {
    if (done_) return base::Ok{};
    const auto first = data.find_first_not_of(" \t\r\n");
    if (first == std::string_view::npos) return base::Ok{};  // an empty keep-alive event
    data.remove_prefix(first);
    if (data.substr(0, 6) == "[DONE]") {
      finish(out);
      return base::Ok{};
    }

    unsigned char buffer[kParseBuffer];
    json::monotonic_resource mr(buffer, sizeof buffer);
    boost::system::error_code ec;
    const auto root = parse(data, kUpstreamMaxDepth, &mr, ec);
    if (!root || !root->is_object()) {
      return unreadable("a stream event is not a JSON object", data);
    }
    const auto& chunk = root->get_object();

    if (auto error = stream_error(chunk, data)) {
      done_ = true;
      auto& d = out.emplace_back(make_delta(Delta::Kind::kError));
      d.error = std::move(*error);
      return base::Ok{};
    }
    if (!started_) {
      started_ = true;
      auto& start = out.emplace_back(make_delta(Delta::Kind::kStart));
      start.id = string_or_empty(chunk, "id");
      start.model = string_or_empty(chunk, "model");
      if (const auto* created = member(chunk, "created")) {
        start.created = integer(*created).value_or(0);
      }
    }
    // Every chunk may carry usage (vLLM's continuous usage stats); the last one is the total.
    if (const auto* usage = member(chunk, "usage"); usage && usage->is_object()) {
      usage_ = read_usage(usage->get_object());
    }
    const auto* choices = member(chunk, "choices");
    if (!choices) return base::Ok{};
    if (!choices->is_array()) return unreadable("a stream chunk's choices is not an array", data);
    // n is always 1 for translated requests: the first choice is the answer.
    if (choices->get_array().empty()) return base::Ok{};
    const auto* choice = choices->get_array()[0].if_object();
    if (!choice) return unreadable("a stream chunk's choice is not an object", data);
    if (const auto* delta = member(*choice, "delta"); delta && delta->is_object()) {
      if (auto s = read_delta(delta->get_object(), data, out); !s) return s;
    }
    if (const auto* reason = string_member(*choice, "finish_reason"); reason && !finished_) {
      finished_ = true;
      out.emplace_back(make_delta(Delta::Kind::kFinish)).stop_reason =
          stop_reason(sv(*reason), !call_indexes_.empty());
    }
    return base::Ok{};
  }

  // A body that ends after the finish reason but without "[DONE]" (some OpenAI-compatible
  // servers) is complete; one that ends before it was cut off and gets nothing.
  void end(std::vector<Delta>& out) override {
    if (!done_ && finished_) finish(out);
  }

 private:
  void finish(std::vector<Delta>& out) {
    done_ = true;
    if (!started_) out.push_back(make_delta(Delta::Kind::kStart));
    if (!finished_) {
      out.emplace_back(make_delta(Delta::Kind::kFinish)).stop_reason =
          stop_reason("stop", !call_indexes_.empty());
    }
    if (usage_) out.emplace_back(make_delta(Delta::Kind::kUsage)).usage = *usage_;
    out.push_back(make_delta(Delta::Kind::kDone));
  }

  // An error inside a 200 stream: OpenAI's {"error":{message,type,code}}, or vLLM's
  // {"object":"error","message","code"}.
  static std::optional<base::Error> stream_error(const json::object& chunk, std::string_view data) {
    const json::object* body = nullptr;
    std::string_view message;
    if (const auto* e = member(chunk, "error")) {
      body = e->if_object();
      message = body ? string_or_empty(*body, "message")
                     : (e->is_string() ? sv(e->get_string()) : std::string_view());
    } else if (string_or_empty(chunk, "object") == "error") {
      body = &chunk;
      message = string_or_empty(chunk, "message");
    } else {
      return std::nullopt;
    }
    int status = 500;
    if (body) {
      if (const auto* code = member(*body, "code")) {
        const auto n = integer(*code);
        if (n && *n >= 400 && *n <= 599) status = static_cast<int>(*n);
        if (const auto* s = code->if_string(); s && *s == "rate_limit_exceeded") status = 429;
      }
    }
    auto e = base::make_error(ErrorCode::kUpstreamStatus,
                              message.empty() ? std::string("the upstream reported an error")
                                              : std::string(utf8_prefix(message, 500)),
                              cat("stream error event: ", excerpt(data)));
    e.status = status;
    e.retryable = status == 429 || status >= 500;
    if (body && body != &chunk) e.upstream_body = data;
    return e;
  }

  base::Status read_delta(const json::object& delta, std::string_view data,
                          std::vector<Delta>& out) {
    auto thinking = string_or_empty(delta, "reasoning_content");
    if (thinking.empty()) thinking = string_or_empty(delta, "reasoning");
    const auto* blocks = member(delta, "thinking_blocks");
    if (blocks && blocks->is_array()) {
      for (const auto& v : blocks->get_array()) {
        const auto* b = v.if_object();
        if (!b) continue;
        const auto type = string_or_empty(*b, "type");
        if (type == "thinking") {
          // LiteLLM repeats the reasoning text in the block; it is read once.
          if (thinking.empty()) thinking = string_or_empty(*b, "thinking");
          const auto signature = string_or_empty(*b, "signature");
          if (!thinking.empty()) {
            out.push_back(make_delta(Delta::Kind::kThinking, thinking));
            thinking = {};
          }
          if (!signature.empty()) {
            out.push_back(make_delta(Delta::Kind::kSignature, signature));
          }
        } else if (type == "redacted_thinking") {
          out.push_back(make_delta(Delta::Kind::kRedactedThinking, string_or_empty(*b, "data")));
        }
      }
    }
    if (!thinking.empty()) {
      out.push_back(make_delta(Delta::Kind::kThinking, thinking));
    }
    for (const std::string_view key : {"content", "refusal"}) {
      if (const auto text = string_or_empty(delta, key); !text.empty()) {
        out.push_back(make_delta(Delta::Kind::kText, text));
      }
    }
    const auto* calls = member(delta, "tool_calls");
    if (!calls) return base::Ok{};
    if (!calls->is_array()) return unreadable("a stream chunk's tool_calls is not an array", data);
    for (const auto& v : calls->get_array()) {
      const auto* call = v.if_object();
      if (!call) return unreadable("a stream chunk's tool call is not an object", data);
      const auto* fn = member(*call, "function");
      const auto* f = fn ? fn->if_object() : nullptr;
      const auto id = string_or_empty(*call, "id");
      const auto name = f ? string_or_empty(*f, "name") : std::string_view();
      const auto index = call_index(*call, !id.empty() || !name.empty());
      if (!id.empty() || !name.empty()) {
        auto& d = out.emplace_back(make_delta(Delta::Kind::kToolCall, {}, index));
        d.id = id;
        d.name = name;
      }
      if (const auto args = f ? string_or_empty(*f, "arguments") : std::string_view();
          !args.empty()) {
        out.push_back(make_delta(Delta::Kind::kToolArguments, args, index));
      }
    }
    return base::Ok{};
  }

  // The 0-based position of a call among this answer's calls. Provider indexes are usually
  // exactly that, but are not trusted to be dense (or present): they are mapped in order of
  // first appearance, and a chunk without one continues the latest call unless it opens one.
  int call_index(const json::object& call, bool opens) {
    const auto* v = member(call, "index");
    const auto provider = v ? integer(*v) : std::nullopt;
    if (provider) {
      for (std::size_t k = 0; k < call_indexes_.size(); ++k) {
        if (call_indexes_[k] == *provider) return static_cast<int>(k);
      }
      call_indexes_.push_back(*provider);
      return static_cast<int>(call_indexes_.size() - 1);
    }
    if (opens || call_indexes_.empty()) {
      call_indexes_.push_back(std::numeric_limits<std::int64_t>::min());
    }
    return static_cast<int>(call_indexes_.size() - 1);
  }

  bool started_ = false;
  bool finished_ = false;
  bool done_ = false;
  std::optional<Usage> usage_;
  std::vector<std::int64_t> call_indexes_;
};

// ---------------------------------------------------------------------------------------------
// Stream encoding

class ChatStreamEncoder final : public StreamEncoder {
 public:
  ChatStreamEncoder(const Request& request, std::string_view model)
      : model_(model), include_usage_(request.include_usage) {}

  void encode(const Delta& d, std::string& out) override {
    if (d.kind == Delta::Kind::kStart) {
      start(d.id, d.created);
      chunk_begin() += "{\"role\":\"assistant\",\"content\":\"\"}";
      return chunk_end(out, {});
    }
    if (prefix_.empty()) start({}, 0);
    switch (d.kind) {
      case Delta::Kind::kStart:
        break;
      case Delta::Kind::kText:
      case Delta::Kind::kThinking: {
        if (d.text.empty()) return;
        auto& data = chunk_begin();
        data += d.kind == Delta::Kind::kText ? "{\"content\":" : "{\"reasoning_content\":";
        append_quoted(data, d.text);
        data.push_back('}');
        return chunk_end(out, {});
      }
      case Delta::Kind::kSignature: {
        auto& data = chunk_begin();
        data += R"({"thinking_blocks":[{"type":"thinking","thinking":"","signature":)";
        append_quoted(data, d.text);
        data += "}]}";
        return chunk_end(out, {});
      }
      case Delta::Kind::kRedactedThinking: {
        auto& data = chunk_begin();
        data += R"({"thinking_blocks":[{"type":"redacted_thinking","data":)";
        append_quoted(data, d.text);
        data += "}]}";
        return chunk_end(out, {});
      }
      case Delta::Kind::kToolCall: {
        auto& data = chunk_begin();
        data += "{\"tool_calls\":[{\"index\":";
        append_int(data, d.index);
        data += ",\"id\":";
        append_quoted(data, d.id);
        data += ",\"type\":\"function\",\"function\":{\"name\":";
        append_quoted(data, d.name);
        data += ",\"arguments\":\"\"}}]}";
        return chunk_end(out, {});
      }
      case Delta::Kind::kToolArguments: {
        auto& data = chunk_begin();
        data += "{\"tool_calls\":[{\"index\":";
        append_int(data, d.index);
        data += ",\"function\":{\"arguments\":";
        append_quoted(data, d.text);
        data += "}}]}";
        return chunk_end(out, {});
      }
      case Delta::Kind::kFinish:
        chunk_begin() += "{}";
        return chunk_end(out, finish_reason(d.stop_reason));
      case Delta::Kind::kUsage: {
        // OpenAI's include_usage: one more chunk, with no choices, after the finish reason.
        if (!include_usage_) return;
        data_ = prefix_;
        data_ += "\"choices\":[],\"usage\":";
        append_usage(data_, d.usage);
        data_.push_back('}');
        return append_sse_chunk(out, "", data_);
      }
      case Delta::Kind::kError:
        return error(d.error, out);
      case Delta::Kind::kDone:
        return append_sse_chunk(out, "", "[DONE]");
    }
  }

  void error(const base::Error& error, std::string& out) override {
    append_sse_chunk(out, "", api::error_body(error));
  }

 private:
  void start(std::string_view id, std::int64_t created) {
    prefix_ = "{\"id\":";
    append_quoted(prefix_, chat_id(id));
    prefix_ += ",\"object\":\"chat.completion.chunk\",\"created\":";
    append_int(prefix_, created);
    prefix_ += ",\"model\":";
    append_quoted(prefix_, model_);
    prefix_.push_back(',');
  }

  // The chunk up to its delta's value, in the scratch buffer; chunk_end closes and sends it.
  std::string& chunk_begin() {
    data_ = prefix_;
    data_ += "\"choices\":[{\"index\":0,\"delta\":";
    return data_;
  }

  void chunk_end(std::string& out, std::string_view reason) {
    data_ += ",\"logprobs\":null,\"finish_reason\":";
    if (reason.empty()) {
      data_ += "null";
    } else {
      append_quoted(data_, reason);
    }
    data_ += "}]}";
    append_sse_chunk(out, "", data_);
  }

  std::string model_;
  bool include_usage_;
  std::string prefix_;  // {"id":...,"object":...,"created":...,"model":...,
  std::string data_;    // the chunk being written (its buffer is reused)
};

}  // namespace

// ---------------------------------------------------------------------------------------------

base::Result<Request> OpenAiChatCodec::decode_request(std::string_view body, int max_depth) const {
  unsigned char buffer[kParseBuffer];
  json::monotonic_resource mr(buffer, sizeof buffer);
  boost::system::error_code ec;
  const auto root = parse(body, static_cast<std::size_t>(std::max(max_depth, 1)), &mr, ec);
  if (!root) {
    if (ec == json::error::too_deep) {
      return bad_request(cat("the JSON body nests deeper than ", max_depth, " levels"), "");
    }
    return bad_request(cat("the request body is not valid JSON (", ec.message(),
                           "); send a JSON object with model and messages"),
                       "");
  }
  if (!root->is_object()) return bad_request("the request body must be a JSON object", "");
  Request request;
  if (auto s = RequestReader(request).read(root->get_object()); !s) return std::move(s).error();
  return request;
}

base::Status OpenAiChatCodec::encode_request(const Request& r, std::string_view upstream_model,
                                             std::string& out) const {
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

base::Result<Response> OpenAiChatCodec::decode_response(std::string_view body) const {
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
  const auto* message = choice ? member(*choice, "message") : nullptr;
  if (!message || !message->is_object()) return unreadable("its first choice has no message", body);
  const auto& m = message->get_object();

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
      const auto* fn = call ? member(*call, "function") : nullptr;
      if (!fn || !fn->is_object()) return unreadable("a tool call has no function", body);
      add_call(fn->get_object(), string_or_empty(*call, "id"));
    }
  } else if (const auto* fn = member(m, "function_call"); fn && fn->is_object()) {
    add_call(fn->get_object(), string_or_empty(fn->get_object(), "name"));
  }
  r.stop_reason = stop_reason(string_or_empty(*choice, "finish_reason"), called);
  if (const auto* usage = member(o, "usage"); usage && usage->is_object()) {
    r.usage = read_usage(usage->get_object());
  }
  return r;
}

void OpenAiChatCodec::encode_response(const Response& r, std::string_view model,
                                      std::string& out) const {
  out += "{\"id\":";
  append_quoted(out, chat_id(r.id));
  out += ",\"object\":\"chat.completion\",\"created\":";
  append_int(out, r.created);
  out += ",\"model\":";
  append_quoted(out, model);
  out += ",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":";

  std::size_t texts = 0, thinking = 0, blocks = 0, calls = 0;
  const Part* only_text = nullptr;
  const Part* only_thinking = nullptr;
  for (const auto& p : r.content) {
    switch (p.kind) {
      case Part::Kind::kText:
        ++texts;
        only_text = &p;
        break;
      case Part::Kind::kThinking:
        ++thinking;
        ++blocks;
        only_thinking = &p;
        break;
      case Part::Kind::kRedactedThinking:
        ++blocks;
        break;
      case Part::Kind::kToolCall:
        ++calls;
        break;
      default:
        break;
    }
  }
  const auto joined = [&](Part::Kind kind, std::size_t n, const Part* only) {
    if (n == 1) return append_quoted(out, only->text);
    std::string all;
    for (const auto& p : r.content) {
      if (p.kind == kind) all += p.text;
    }
    append_quoted(out, all);
  };
  if (texts) {
    joined(Part::Kind::kText, texts, only_text);
  } else {
    out += "null";
  }
  if (thinking) {
    out += ",\"reasoning_content\":";
    joined(Part::Kind::kThinking, thinking, only_thinking);
  }
  if (blocks) {
    out += ",\"thinking_blocks\":[";
    Members items(out);
    for (const auto& p : r.content) {
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
  if (calls) {
    out += ",\"tool_calls\":[";
    Members items(out);
    for (const auto& p : r.content) {
      if (p.kind != Part::Kind::kToolCall) continue;
      items.next() += "{\"id\":";
      append_quoted(out, p.id);
      out += ",\"type\":\"function\",\"function\":{\"name\":";
      append_quoted(out, p.name);
      out += ",\"arguments\":";
      append_quoted(out, p.arguments);
      out += "}}";
    }
    out.push_back(']');
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

std::unique_ptr<StreamDecoder> OpenAiChatCodec::stream_decoder() const {
  return std::make_unique<ChatStreamDecoder>();
}

std::unique_ptr<StreamEncoder> OpenAiChatCodec::stream_encoder(const Request& request,
                                                               std::string_view model) const {
  return std::make_unique<ChatStreamEncoder>(request, model);
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
