// decode_request's messages: each role's content read into the common form.
#include <cctype>
#include <utility>

#include "translate/openai_chat/internal.hpp"

namespace shepherd::translate::openai_chat {
namespace {

// An element of a typed array (content parts, thinking blocks): its type, empty when it has none
// or is not an object.
struct Typed {
  const json::object* object;
  std::string_view type;

  // Its member `key` when it is a string.
  const json::string* string(std::string_view key) const {
    return object ? string_member(*object, key) : nullptr;
  }
};

Typed typed(const json::value& v) {
  const auto* o = v.if_object();
  return {o, o ? string_or_empty(*o, "type") : std::string_view()};
}

// Text content: a string, or an array of {"type":"text","text"} parts; `on_text` gets each.
// An assistant's content may also hold the model's own refusal: nothing to send back.
template <typename F>
base::Status read_text(const json::value* content, const std::string& path, std::string_view role,
                       F&& on_text) {
  if (!content) return base::Ok{};
  if (content->is_string()) {
    on_text(sv(content->get_string()));
    return base::Ok{};
  }
  const bool assistant = role == "assistant";
  if (!content->is_array()) {
    return bad_request(cat(path, ".content must be ",
                           assistant ? "a string, an array of text parts or null"
                                     : "a string or an array of text parts"),
                       cat(path, ".content"));
  }
  const auto& parts = content->get_array();
  for (std::size_t j = 0; j < parts.size(); ++j) {
    const auto part = typed(parts[j]);
    if (assistant && part.type == "refusal") continue;
    const auto* text = part.string("text");
    if (part.type != "text" || !text) {
      return bad_request(
          cat(path, ".content[", j, "] must be a text part {\"type\":\"text\",\"text\":\"...\"}",
              assistant ? std::string() : cat(": ", role, " messages carry text only")),
          cat(path, ".content[", j, "]"));
    }
    on_text(sv(*text));
  }
  return base::Ok{};
}

base::Status read_system(Request& r, const json::object& m, std::size_t i) {
  const auto* content = member(m, "content");
  if (!content) {
    return bad_request(cat("messages[", i, "].content is required: the system prompt's text"),
                       cat("messages[", i, "].content"));
  }
  return read_text(content, cat("messages[", i, "]"), "system", [&](std::string_view text) {
    if (text.empty()) return;
    if (!r.system.empty()) r.system += "\n\n";
    r.system += text;
  });
}

// An image_url's url: http(s), or "data:<media type>;base64,<data>".
base::Status read_image_url(std::string_view url, std::string param, std::vector<Part>& out) {
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
    if (marker == std::string_view::npos || marker == 5 || marker + kMarker.size() == url.size()) {
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

base::Status read_user_part(const json::value& v, std::size_t i, std::size_t j,
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

base::Status read_user(Request& r, const json::object& m, std::size_t i) {
  Message& msg = r.messages.emplace_back();
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

// thinking_blocks carry Anthropic's signatures; when present they are the reasoning, and
// reasoning_content (the same text, unsigned) is not read a second time.
base::Status read_assistant_thinking(const json::object& m, const std::string& path,
                                     std::vector<Part>& out) {
  if (const auto* blocks = member(m, "thinking_blocks")) {
    if (!blocks->is_array()) {
      return bad_request(cat(path, ".thinking_blocks must be an array"),
                         cat(path, ".thinking_blocks"));
    }
    const auto& list = blocks->get_array();
    for (std::size_t k = 0; k < list.size(); ++k) {
      const auto block = typed(list[k]);
      const auto* thinking = block.string("thinking");
      const auto* data = block.string("data");
      if (block.type == "thinking" && thinking) {
        out.push_back(thinking_part(sv(*thinking), string_or_empty(*block.object, "signature")));
      } else if (block.type == "redacted_thinking" && data) {
        out.push_back(redacted_part(sv(*data)));
      } else {
        return bad_request(cat(path, ".thinking_blocks[", k,
                               "] must be {\"type\":\"thinking\",\"thinking\",\"signature\"} "
                               "or {\"type\":\"redacted_thinking\",\"data\"}"),
                           cat(path, ".thinking_blocks[", k, "]"));
      }
    }
  } else if (const auto* reasoning = member(m, "reasoning_content")) {
    if (!reasoning->is_string()) {
      return bad_request(cat(path, ".reasoning_content must be a string"),
                         cat(path, ".reasoning_content"));
    }
    if (!reasoning->get_string().empty()) {
      out.push_back(thinking_part(sv(reasoning->get_string())));
    }
  }
  return base::Ok{};
}

base::Status read_assistant_text(const json::object& m, const std::string& path,
                                 std::vector<Part>& out) {
  const auto* content = member(m, "content");
  // An empty string is no text (a turn of tool calls only); an empty text part is kept.
  if (content && content->is_string() && content->get_string().empty()) return base::Ok{};
  return read_text(content, path, "assistant",
                   [&](std::string_view text) { out.push_back(text_part(text)); });
}

base::Status read_call(const json::value* fn, const std::string& param, std::string_view id,
                       std::vector<Part>& out) {
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

base::Status read_assistant_calls(const json::object& m, const std::string& path,
                                  std::vector<Part>& out) {
  if (const auto* calls = member(m, "tool_calls")) {
    if (!calls->is_array()) {
      return bad_request(cat(path, ".tool_calls must be an array"), cat(path, ".tool_calls"));
    }
    const auto& list = calls->get_array();
    for (std::size_t k = 0; k < list.size(); ++k) {
      const auto call_path = cat(path, ".tool_calls[", k, "]");
      const auto* call = list[k].if_object();
      const auto* id = call ? string_member(*call, "id") : nullptr;
      if (!id) return bad_request(cat(call_path, ".id must be a string"), cat(call_path, ".id"));
      if (const auto* type = string_member(*call, "type"); type && *type != "function") {
        return bad_request(cat(call_path, ".type must be \"function\""), cat(call_path, ".type"));
      }
      const auto* fn = member(*call, "function");
      if (auto s = read_call(fn, cat(call_path, ".function"), sv(*id), out); !s) return s;
    }
  } else if (const auto* fn = member(m, "function_call")) {
    // Deprecated function calling carries no call id; the function's name pairs the call with
    // its `function` message.
    const auto* o = fn->if_object();
    const auto name = o ? string_or_empty(*o, "name") : std::string_view();
    if (auto s = read_call(fn, cat(path, ".function_call"), name, out); !s) return s;
  }
  return base::Ok{};
}

base::Status read_assistant(Request& r, const json::object& m, std::size_t i) {
  Message& msg = r.messages.emplace_back();
  msg.role = Role::kAssistant;
  const auto path = cat("messages[", i, "]");
  if (auto s = read_assistant_thinking(m, path, msg.parts); !s) return s;
  if (auto s = read_assistant_text(m, path, msg.parts); !s) return s;
  return read_assistant_calls(m, path, msg.parts);
}

base::Status read_tool(Request& r, const json::object& m, std::size_t i, bool legacy) {
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
  const auto add = [&](std::string_view text) {
    if (!text.empty()) result.content.push_back(text_part(text));
  };
  const auto role = legacy ? std::string_view("function") : std::string_view("tool");
  if (auto s = read_text(member(m, "content"), cat("messages[", i, "]"), role, add); !s) return s;
  Message& msg = r.messages.emplace_back();
  msg.role = Role::kUser;
  msg.parts.push_back(std::move(result));
  return base::Ok{};
}

}  // namespace

base::Status read_message(Request& r, const json::value& v, std::size_t i) {
  const auto* m = v.if_object();
  const auto* role = m ? m->if_contains("role") : nullptr;
  if (!role || !role->is_string()) {
    return bad_request(cat("messages[", i, "] must be an object with a string role"),
                       m ? cat("messages[", i, "].role") : cat("messages[", i, "]"));
  }
  const auto name = sv(role->get_string());
  if (name == "user") return read_user(r, *m, i);
  if (name == "assistant") return read_assistant(r, *m, i);
  if (name == "system" || name == "developer") return read_system(r, *m, i);
  if (name == "tool") return read_tool(r, *m, i, false);
  if (name == "function") return read_tool(r, *m, i, true);
  return bad_request(
      cat("messages[", i, "].role must be system, developer, user, assistant or tool"),
      cat("messages[", i, "].role"));
}

}  // namespace shepherd::translate::openai_chat
