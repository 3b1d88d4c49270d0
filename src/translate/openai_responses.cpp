#include "translate/openai_responses.hpp"

#include <boost/json.hpp>
#include <limits>
#include <optional>
#include <string>
#include <utility>

#include "api/openai.hpp"

namespace shepherd::translate {
namespace json = boost::json;
using base::ErrorCode;

namespace {

// ---------------------------------------------------------------------------------------------
// Request decoding (https://platform.openai.com/docs/api-reference/responses/create)

constexpr std::string_view kStateless =
    "Shepherd is stateless and stores no responses or items (as with store: false), so send the "
    "whole conversation as input items instead";

// The opaque `encrypted_content` of a reasoning item Shepherd writes for an Anthropic
// redacted_thinking block, so the block goes back upstream as it came when the client returns
// the item on its next turn. Clients treat encrypted_content as opaque (responses/object).
constexpr std::string_view kRedactedPrefix = "shepherd.redacted_thinking:";

base::Error bad_request(std::string message, std::string param) {
  auto e = base::make_error(ErrorCode::kBadRequest, std::move(message));
  e.param = std::move(param);
  return e;
}

std::string item_path(std::size_t i, std::string_view rest = {}) {
  std::string p = "input[" + std::to_string(i) + "]";
  p.append(rest);
  return p;
}

std::string part_path(std::size_t i, std::string_view field, std::size_t j,
                      std::string_view rest = {}) {
  std::string p = item_path(i, ".");
  p.append(field).append("[").append(std::to_string(j)).append("]").append(rest);
  return p;
}

std::string_view view(const json::string& s) { return {s.data(), s.size()}; }

// The string at `key`, or nullptr when the key is absent or holds another kind.
const json::string* string_at(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  return v ? v->if_string() : nullptr;
}

// Whether `key` holds something other than null.
bool present(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  return v && !v->is_null();
}

std::optional<double> number(const json::value& v) {
  if (v.is_double()) return v.get_double();
  if (v.is_int64()) return static_cast<double>(v.get_int64());
  if (v.is_uint64()) return static_cast<double>(v.get_uint64());
  return std::nullopt;
}

void join(std::string& to, std::string_view piece) {
  if (piece.empty()) return;
  if (!to.empty()) to.append("\n\n");
  to.append(piece);
}

// input_image: an http(s) URL or a base64 data URL (responses/create, input_image.image_url).
base::Status decode_image(const json::object& part, std::size_t i, std::string_view field,
                          std::size_t j, std::vector<Part>& out) {
  const auto* url = string_at(part, "image_url");
  if (!url) {
    if (present(part, "file_id")) {
      return bad_request(
          "images given by file_id need OpenAI's file storage, which Shepherd does not have: "
          "send image_url (an http(s) URL or a base64 data URL) instead",
          part_path(i, field, j, ".file_id"));
    }
    return bad_request("an input_image needs image_url (an http(s) URL or a base64 data URL)",
                       part_path(i, field, j, ".image_url"));
  }
  const std::string_view u = view(*url);
  Part p;
  p.kind = Part::Kind::kImage;
  if (u.starts_with("https://") || u.starts_with("http://")) {
    p.url = u;
  } else if (u.starts_with("data:")) {
    const auto comma = u.find(',');
    const auto meta = u.substr(5, comma == std::string_view::npos ? 0 : comma - 5);
    if (comma == std::string_view::npos || !meta.ends_with(";base64") || meta.size() == 7) {
      return bad_request(
          "image_url data URLs must read data:<media type>;base64,<data> (e.g. "
          "data:image/png;base64,iVBOR...)",
          part_path(i, field, j, ".image_url"));
    }
    p.media_type = meta.substr(0, meta.size() - 7);
    p.data = u.substr(comma + 1);
  } else {
    return bad_request("image_url must be an http(s) URL or a base64 data URL",
                       part_path(i, field, j, ".image_url"));
  }
  out.push_back(std::move(p));
  return base::Ok{};
}

// One content part of a message or of a function_call_output's `output` array.
base::Status decode_part(const json::value& v, std::size_t i, std::string_view field, std::size_t j,
                         bool images, std::vector<Part>& out) {
  const auto* part = v.if_object();
  const auto* type = part ? string_at(*part, "type") : nullptr;
  if (!type) {
    return bad_request("content parts must be objects with a string type",
                       part_path(i, field, j, ".type"));
  }
  const std::string_view t = view(*type);
  if (t == "input_text" || t == "output_text" || t == "refusal") {
    const auto* text = string_at(*part, t == "refusal" ? "refusal" : "text");
    if (!text) {
      return bad_request(std::string("a ") + std::string(t) + " part needs a string " +
                             (t == "refusal" ? "refusal" : "text"),
                         part_path(i, field, j, t == "refusal" ? ".refusal" : ".text"));
    }
    Part p;
    p.text = view(*text);
    out.push_back(std::move(p));
    return base::Ok{};
  }
  if (t == "input_image") {
    if (!images) {
      return bad_request("images can only be sent in user messages and function_call_output",
                         part_path(i, field, j, ".type"));
    }
    return decode_image(*part, i, field, j, out);
  }
  if (t == "input_file" || t == "input_audio") {
    return bad_request(std::string(t) +
                           " parts are not supported through Shepherd: send text (input_text) "
                           "or images (input_image)",
                       part_path(i, field, j, ".type"));
  }
  return bad_request("unknown content part type \"" + std::string(t) +
                         "\": use input_text, output_text or input_image",
                     part_path(i, field, j, ".type"));
}

class RequestDecoder {
 public:
  base::Result<Request> decode(const json::object& root) {
    if (auto s = top_level(root); !s) return std::move(s).error();
    if (auto s = input(root); !s) return std::move(s).error();
    if (auto s = tools(root); !s) return std::move(s).error();
    if (auto s = options(root); !s) return std::move(s).error();
    if (const auto* instructions = root.if_contains("instructions");
        instructions && !instructions->is_null()) {
      if (!instructions->is_string()) {
        return bad_request("instructions must be a string", "instructions");
      }
      // Instructions come before the system and developer messages of `input`.
      std::string system(view(instructions->get_string()));
      join(system, request_.system);
      request_.system = std::move(system);
    }
    return std::move(request_);
  }

 private:
  base::Status top_level(const json::object& root) {
    const auto* model = string_at(root, "model");
    if (!model || model->empty()) return bad_request("model must be a non-empty string", "model");
    request_.model = view(*model);
    for (std::string_view key : {"previous_response_id", "conversation"}) {
      if (present(root, key)) {
        return bad_request(std::string(key) + " is not supported: " + std::string(kStateless),
                           std::string(key));
      }
    }
    if (const auto* prompt = root.if_contains("prompt"); prompt && !prompt->is_null()) {
      return bad_request("stored prompts are not supported: " + std::string(kStateless), "prompt");
    }
    if (const auto* bg = root.if_contains("background"); bg && bg->is_bool() && bg->get_bool()) {
      return bad_request("background responses are not supported: " + std::string(kStateless),
                         "background");
    }
    if (const auto* stream = root.if_contains("stream"); stream && !stream->is_null()) {
      if (!stream->is_bool()) return bad_request("stream must be true or false", "stream");
      request_.stream = stream->get_bool();
    }
    if (const auto* user = root.if_contains("user"); user && !user->is_null()) {
      if (!user->is_string()) return bad_request("user must be a string", "user");
      request_.user = view(user->get_string());
    }
    return base::Ok{};
  }

  base::Status input(const json::object& root) {
    const auto* input = root.if_contains("input");
    if (!input || input->is_null()) {
      return bad_request("input is required: a string or an array of input items", "input");
    }
    if (const auto* s = input->if_string()) {
      if (s->empty()) return bad_request("input must not be empty", "input");
      Part p;
      p.text = view(*s);
      request_.messages.push_back({Role::kUser, {}});
      request_.messages.back().parts.push_back(std::move(p));
      return base::Ok{};
    }
    const auto* items = input->if_array();
    if (!items) return bad_request("input must be a string or an array of input items", "input");
    for (std::size_t i = 0; i < items->size(); ++i) {
      if (auto s = item((*items)[i], i); !s) return s;
    }
    if (request_.messages.empty()) {
      return bad_request("input must hold at least one user, assistant or tool item", "input");
    }
    return base::Ok{};
  }

  base::Status item(const json::value& v, std::size_t i) {
    const auto* o = v.if_object();
    if (!o) return bad_request("input items must be objects", item_path(i));
    const auto* type_value = o->if_contains("type");
    std::string_view type = "message";
    if (type_value && !type_value->is_null()) {
      if (!type_value->is_string()) {
        return bad_request("type must be a string", item_path(i, ".type"));
      }
      type = view(type_value->get_string());
    } else if (!o->contains("role")) {
      return bad_request("input items need a type, or a role for messages", item_path(i, ".type"));
    }
    if (type == "message") return message(*o, i);
    if (type == "function_call") return function_call(*o, i);
    if (type == "function_call_output") return function_call_output(*o, i);
    if (type == "reasoning") return reasoning(*o, i);
    if (type == "item_reference") {
      return bad_request("item_reference is not supported: " + std::string(kStateless),
                         item_path(i, ".type"));
    }
    return bad_request("input items of type \"" + std::string(type) +
                           "\" are not supported: Shepherd is stateless and serves function tools "
                           "only, so send messages, function_call, function_call_output and "
                           "reasoning items",
                       item_path(i, ".type"));
  }

  // The assistant message that the assistant-side items (reasoning, assistant messages,
  // function calls) of one turn go to: the Responses API gives each its own item, the common
  // form holds the turn as one message.
  Message& assistant() {
    if (request_.messages.empty() || request_.messages.back().role != Role::kAssistant) {
      request_.messages.push_back({Role::kAssistant, {}});
    }
    return request_.messages.back();
  }

  base::Status message(const json::object& o, std::size_t i) {
    const auto* role = string_at(o, "role");
    if (!role) {
      return bad_request("messages need a role: user, assistant, system or developer",
                         item_path(i, ".role"));
    }
    const std::string_view r = view(*role);
    const bool system = r == "system" || r == "developer";
    if (!system && r != "user" && r != "assistant") {
      return bad_request("role must be user, assistant, system or developer",
                         item_path(i, ".role"));
    }
    const auto* content = o.if_contains("content");
    std::vector<Part> parts;
    if (content && content->is_string()) {
      Part p;
      p.text = view(content->get_string());
      parts.push_back(std::move(p));
    } else if (content && content->is_array()) {
      const auto& list = content->get_array();
      parts.reserve(list.size());
      for (std::size_t j = 0; j < list.size(); ++j) {
        if (auto s = decode_part(list[j], i, "content", j, r == "user", parts); !s) return s;
      }
    } else {
      return bad_request("content must be a string or an array of content parts",
                         item_path(i, ".content"));
    }
    if (system) {
      for (const auto& p : parts) join(request_.system, p.text);
      return base::Ok{};
    }
    if (r == "user") {
      request_.messages.push_back({Role::kUser, std::move(parts)});
      return base::Ok{};
    }
    auto& m = assistant();
    for (auto& p : parts) m.parts.push_back(std::move(p));
    return base::Ok{};
  }

  base::Status function_call(const json::object& o, std::size_t i) {
    const auto* call_id = string_at(o, "call_id");
    const auto* name = string_at(o, "name");
    const auto* arguments = string_at(o, "arguments");
    if (!call_id || call_id->empty()) {
      return bad_request("function_call items need a non-empty string call_id",
                         item_path(i, ".call_id"));
    }
    if (!name || name->empty()) {
      return bad_request("function_call items need a non-empty string name", item_path(i, ".name"));
    }
    if (!arguments) {
      return bad_request("function_call items need arguments (a JSON object's text)",
                         item_path(i, ".arguments"));
    }
    Part p;
    p.kind = Part::Kind::kToolCall;
    p.id = view(*call_id);
    p.name = view(*name);
    p.arguments = view(*arguments);
    assistant().parts.push_back(std::move(p));
    return base::Ok{};
  }

  base::Status function_call_output(const json::object& o, std::size_t i) {
    const auto* call_id = string_at(o, "call_id");
    if (!call_id || call_id->empty()) {
      return bad_request("function_call_output items need a non-empty string call_id",
                         item_path(i, ".call_id"));
    }
    Part result;
    result.kind = Part::Kind::kToolResult;
    result.id = view(*call_id);
    const auto* output = o.if_contains("output");
    if (output && output->is_string()) {
      Part text;
      text.text = view(output->get_string());
      result.content.push_back(std::move(text));
    } else if (output && output->is_array()) {
      const auto& list = output->get_array();
      for (std::size_t j = 0; j < list.size(); ++j) {
        if (auto s = decode_part(list[j], i, "output", j, true, result.content); !s) return s;
      }
    } else {
      return bad_request("output must be a string or an array of input_text / input_image parts",
                         item_path(i, ".output"));
    }
    // The outputs of one turn's calls travel together, as tool results of one user message.
    // (user message items hold no tool results, so a user message ending with one is such).
    auto& messages = request_.messages;
    if (messages.empty() || messages.back().role != Role::kUser || messages.back().parts.empty() ||
        messages.back().parts.back().kind != Part::Kind::kToolResult) {
      messages.push_back({Role::kUser, {}});
    }
    messages.back().parts.push_back(std::move(result));
    return base::Ok{};
  }

  base::Status reasoning(const json::object& o, std::size_t i) {
    Part p;
    p.kind = Part::Kind::kThinking;
    if (const auto* summary = o.if_contains("summary"); summary && !summary->is_null()) {
      const auto* list = summary->if_array();
      if (!list) {
        return bad_request("summary must be an array of summary_text parts",
                           item_path(i, ".summary"));
      }
      for (std::size_t j = 0; j < list->size(); ++j) {
        const auto* s = (*list)[j].if_object();
        const auto* text = s ? string_at(*s, "text") : nullptr;
        if (!text) {
          return bad_request("summary parts must be objects with a string text",
                             part_path(i, "summary", j, ".text"));
        }
        join(p.text, view(*text));
      }
    }
    if (const auto* enc = o.if_contains("encrypted_content"); enc && !enc->is_null()) {
      if (!enc->is_string()) {
        return bad_request("encrypted_content must be a string",
                           item_path(i, ".encrypted_content"));
      }
      const std::string_view e = view(enc->get_string());
      if (e.starts_with(kRedactedPrefix) && p.text.empty()) {
        p.kind = Part::Kind::kRedactedThinking;
        p.text = e.substr(kRedactedPrefix.size());
      } else {
        p.signature = e;
      }
    }
    // A reasoning item with neither summary nor encrypted content carries nothing a provider
    // could take back.
    if (p.text.empty() && p.signature.empty()) return base::Ok{};
    assistant().parts.push_back(std::move(p));
    return base::Ok{};
  }

  base::Status tools(const json::object& root) {
    if (const auto* tools = root.if_contains("tools"); tools && !tools->is_null()) {
      const auto* list = tools->if_array();
      if (!list) return bad_request("tools must be an array of function tools", "tools");
      request_.tools.reserve(list->size());
      for (std::size_t i = 0; i < list->size(); ++i) {
        const std::string path = "tools[" + std::to_string(i) + "]";
        const auto* t = (*list)[i].if_object();
        const auto* type = t ? string_at(*t, "type") : nullptr;
        if (!type) return bad_request("tools must be objects with a string type", path + ".type");
        if (*type != "function") {
          return bad_request("tools of type \"" + std::string(view(*type)) +
                                 "\" are not supported: Shepherd serves function tools only",
                             path + ".type");
        }
        const auto* name = string_at(*t, "name");
        if (!name || name->empty()) {
          return bad_request("function tools need a non-empty string name", path + ".name");
        }
        Tool tool;
        tool.name = view(*name);
        if (const auto* d = t->if_contains("description"); d && !d->is_null()) {
          if (!d->is_string()) {
            return bad_request("description must be a string", path + ".description");
          }
          tool.description = view(d->get_string());
        }
        if (const auto* params = t->if_contains("parameters"); params && !params->is_null()) {
          if (!params->is_object()) {
            return bad_request("parameters must be a JSON Schema object", path + ".parameters");
          }
          // A copy in default storage: the document's storage ends with the decode.
          tool.parameters = json::value(*params, json::storage_ptr());
        }
        request_.tools.push_back(std::move(tool));
      }
    }
    if (const auto* choice = root.if_contains("tool_choice"); choice && !choice->is_null()) {
      ToolChoice c;
      if (const auto* s = choice->if_string()) {
        if (*s == "auto") {
          c.mode = ToolChoice::Mode::kAuto;
        } else if (*s == "none") {
          c.mode = ToolChoice::Mode::kNone;
        } else if (*s == "required") {
          c.mode = ToolChoice::Mode::kRequired;
        } else {
          return bad_request(
              "tool_choice must be \"auto\", \"none\", \"required\" or {\"type\": \"function\", "
              "\"name\": ...}",
              "tool_choice");
        }
      } else if (const auto* o = choice->if_object()) {
        const auto* type = string_at(*o, "type");
        if (!type || *type != "function") {
          return bad_request("tool_choice of type \"" + std::string(type ? view(*type) : "") +
                                 "\" is not supported: Shepherd serves function tools only; "
                                 "use {\"type\": \"function\", \"name\": ...}",
                             "tool_choice.type");
        }
        const auto* name = string_at(*o, "name");
        if (!name || name->empty()) {
          return bad_request("tool_choice needs the name of the function to call",
                             "tool_choice.name");
        }
        c.mode = ToolChoice::Mode::kTool;
        c.name = view(*name);
      } else {
        return bad_request("tool_choice must be a string or an object", "tool_choice");
      }
      request_.tool_choice = std::move(c);
    }
    if (const auto* parallel = root.if_contains("parallel_tool_calls");
        parallel && !parallel->is_null()) {
      if (!parallel->is_bool()) {
        return bad_request("parallel_tool_calls must be true or false", "parallel_tool_calls");
      }
      if (!parallel->get_bool()) {
        if (!request_.tool_choice) request_.tool_choice.emplace();
        request_.tool_choice->parallel_calls = false;
      }
    }
    return base::Ok{};
  }

  base::Status options(const json::object& root) {
    if (const auto* max = root.if_contains("max_output_tokens"); max && !max->is_null()) {
      std::optional<std::int64_t> n;
      if (max->is_int64() && max->get_int64() > 0) n = max->get_int64();
      if (max->is_uint64()) n = std::numeric_limits<std::int64_t>::max();
      if (!n) {
        return bad_request("max_output_tokens must be a positive integer", "max_output_tokens");
      }
      request_.max_tokens = n;
    }
    if (const auto* t = root.if_contains("temperature"); t && !t->is_null()) {
      const auto n = number(*t);
      if (!n || *n < 0 || *n > 2) {
        return bad_request("temperature must be a number from 0 to 2", "temperature");
      }
      request_.temperature = n;
    }
    if (const auto* t = root.if_contains("top_p"); t && !t->is_null()) {
      const auto n = number(*t);
      if (!n || *n < 0 || *n > 1) return bad_request("top_p must be a number from 0 to 1", "top_p");
      request_.top_p = n;
    }
    if (const auto* text = root.if_contains("text"); text && !text->is_null()) {
      if (!text->is_object()) return bad_request("text must be an object", "text");
      if (auto s = format(text->get_object()); !s) return s;
    }
    if (const auto* reasoning = root.if_contains("reasoning"); reasoning && !reasoning->is_null()) {
      if (!reasoning->is_object()) return bad_request("reasoning must be an object", "reasoning");
      if (const auto* effort = reasoning->get_object().if_contains("effort");
          effort && !effort->is_null()) {
        const auto* e = effort->if_string();
        if (!e || (*e != "minimal" && *e != "low" && *e != "medium" && *e != "high")) {
          return bad_request(
              "reasoning.effort must be \"minimal\", \"low\", \"medium\" or \"high\"",
              "reasoning.effort");
        }
        // The common form knows low, medium and high; minimal is the least of them.
        request_.reasoning_effort = *e == "minimal" ? "low" : std::string(view(*e));
      }
    }
    return base::Ok{};
  }

  base::Status format(const json::object& text) {
    const auto* f = text.if_contains("format");
    if (!f || f->is_null()) return base::Ok{};
    const auto* o = f->if_object();
    const auto* type = o ? string_at(*o, "type") : nullptr;
    if (!type) {
      return bad_request("text.format must be an object with a string type", "text.format.type");
    }
    auto& rf = request_.response_format;
    if (*type == "text") {
      rf.kind = ResponseFormat::Kind::kText;
    } else if (*type == "json_object") {
      rf.kind = ResponseFormat::Kind::kJsonObject;
    } else if (*type == "json_schema") {
      const auto* name = string_at(*o, "name");
      if (!name || name->empty()) {
        return bad_request("text.format of type json_schema needs a non-empty string name",
                           "text.format.name");
      }
      const auto* schema = o->if_contains("schema");
      if (!schema || !schema->is_object()) {
        return bad_request("text.format of type json_schema needs a JSON Schema object schema",
                           "text.format.schema");
      }
      rf.kind = ResponseFormat::Kind::kJsonSchema;
      rf.name = view(*name);
      rf.schema = json::value(*schema, json::storage_ptr());
      if (const auto* strict = o->if_contains("strict"); strict && !strict->is_null()) {
        if (!strict->is_bool()) {
          return bad_request("text.format.strict must be true or false", "text.format.strict");
        }
        rf.strict = strict->get_bool();
      }
    } else {
      return bad_request("text.format.type must be text, json_object or json_schema",
                         "text.format.type");
    }
    return base::Ok{};
  }

  Request request_;
};

// ---------------------------------------------------------------------------------------------
// Answers (https://platform.openai.com/docs/api-reference/responses/object)

std::string response_id(std::string_view id) {
  if (id.starts_with("resp_")) return std::string(id);
  std::string r = "resp_";
  r.append(id);
  return r;
}

// Item ids derive from the response id, so a stream and its final response agree: "msg_<id>_1"
// for output index 1 of response "resp_<id>".
std::string item_id(std::string_view prefix, std::string_view response, std::size_t index) {
  if (response.starts_with("resp_")) response.remove_prefix(5);
  std::string id(prefix);
  id.append(response).append("_").append(std::to_string(index));
  return id;
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

// A message item; `text` null for the empty item of response.output_item.added.
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

// A reasoning item; an empty summary for the item of response.output_item.added and for
// redacted thinking, whose data travels in encrypted_content.
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
      std::string e(kRedactedPrefix);
      e.append(encrypted);
      item["encrypted_content"] = e;
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

json::value usage_object(const std::optional<Usage>& usage, const json::storage_ptr& sp) {
  if (!usage) return json::value(nullptr, sp);
  json::object u(sp);
  u["input_tokens"] = usage->prompt_tokens;
  u["input_tokens_details"] = json::object({{"cached_tokens", usage->cache_read_tokens}}, sp);
  u["output_tokens"] = usage->completion_tokens;
  u["output_tokens_details"] = json::object({{"reasoning_tokens", usage->reasoning_tokens}}, sp);
  u["total_tokens"] = usage->total();
  return u;
}

// The request settings a response object repeats; defaults when the request is not known.
struct Echo {
  std::optional<double> temperature;
  std::optional<double> top_p;
  std::optional<std::int64_t> max_output_tokens;
  bool parallel_tool_calls = true;
  std::optional<ToolChoice> tool_choice;
  std::string reasoning_effort;
  const ResponseFormat* format = nullptr;
};

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

json::object format_object(const ResponseFormat* f, const json::storage_ptr& sp) {
  json::object o(sp);
  if (!f || f->kind == ResponseFormat::Kind::kText) {
    o["type"] = "text";
  } else if (f->kind == ResponseFormat::Kind::kJsonObject) {
    o["type"] = "json_object";
  } else {
    o["type"] = "json_schema";
    o["name"] = f->name;
    o["schema"] = json::value(f->schema, sp);
    o["strict"] = f->strict;
  }
  return o;
}

struct Head {
  std::string_view id;  // already "resp_"-prefixed
  std::int64_t created = 0;
  std::string_view model;
  const Echo* echo = nullptr;
};

// The response object with every field the API reference lists as always present.
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
  r["instructions"] = nullptr;
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
  r["tools"] = json::array(sp);
  r["top_p"] = optional_number(echo.top_p);
  r["truncation"] = "disabled";
  r["usage"] = usage_object(usage, sp);
  r["user"] = nullptr;
  r["metadata"] = json::object(sp);
  return r;
}

// ---------------------------------------------------------------------------------------------
// Streams (https://platform.openai.com/docs/api-reference/responses-streaming)

// Appends `s` as a JSON string (quoted and escaped), without building a value.
void append_string(std::string& out, std::string_view s) {
  json::serializer sr;
  sr.reset(json::string_view(s.data(), s.size()));
  char buf[512];
  while (!sr.done()) {
    const auto piece = sr.read(buf);
    out.append(piece.data(), piece.size());
  }
}

class ResponsesStreamEncoder final : public StreamEncoder {
 public:
  ResponsesStreamEncoder(const Request& request, std::string_view model)
      : model_(model), format_(request.response_format) {
    echo_.temperature = request.temperature;
    echo_.top_p = request.top_p;
    echo_.max_output_tokens = request.max_tokens;
    echo_.tool_choice = request.tool_choice;
    echo_.parallel_tool_calls = !request.tool_choice || request.tool_choice->parallel_calls;
    echo_.reasoning_effort = request.reasoning_effort;
    echo_.format = &format_;
  }

  void encode(const Delta& delta, std::string& out) override {
    if (ended_) return;
    if (delta.kind != Delta::Kind::kStart && delta.kind != Delta::Kind::kError && !started_) {
      start({}, 0, out);
    }
    switch (delta.kind) {
      case Delta::Kind::kStart:
        if (!started_) start(delta.id, delta.created, out);
        break;
      case Delta::Kind::kText:
        text(delta.text, out);
        break;
      case Delta::Kind::kThinking:
        thinking(delta.text, out);
        break;
      case Delta::Kind::kSignature:
        if (open_ && items_.back().kind == Item::kReasoning) items_.back().extra += delta.text;
        break;
      case Delta::Kind::kRedactedThinking:
        redacted(delta.text, out);
        break;
      case Delta::Kind::kToolCall:
        tool_call(delta, out);
        break;
      case Delta::Kind::kToolArguments:
        tool_arguments(delta, out);
        break;
      case Delta::Kind::kFinish:
        stop_reason_ = delta.stop_reason;
        close(out);
        break;
      case Delta::Kind::kUsage:
        usage_ = delta.usage;
        break;
      case Delta::Kind::kError:
        error(delta.error, out);
        break;
      case Delta::Kind::kDone:
        done(out);
        break;
    }
  }

  void error(const base::Error& error, std::string& out) override {
    if (ended_) return;
    ended_ = true;
    // The code and param of OpenAI's error shape, from the one function that maps them.
    std::string code;
    boost::system::error_code ec;
    const auto body = json::parse(api::error_body(error), ec);
    if (!ec && body.is_object()) {
      if (const auto* e = body.get_object().if_contains("error"); e && e->is_object()) {
        if (const auto* c = string_at(e->get_object(), "code")) code = view(*c);
      }
    }
    std::string data = R"({"type":"error","sequence_number":)";
    data.append(std::to_string(sequence_++)).append(R"(,"code":)");
    append_string(data, code);
    data.append(R"(,"message":)");
    append_string(data, error.message);
    data.append(R"(,"param":)");
    if (error.param.empty()) {
      data.append("null");
    } else {
      append_string(data, error.param);
    }
    data.append("}");
    append_sse_chunk(out, "error", data);
  }

 private:
  struct Item {
    enum Kind { kMessage, kReasoning, kFunctionCall };
    Kind kind = kMessage;
    std::string id;
    std::string text;   // message text, reasoning summary, or call arguments
    std::string extra;  // reasoning: encrypted_content; function call: the call id
    std::string name;   // function call
    int call_index = 0;
    bool redacted = false;
  };

  void start(std::string_view id, std::int64_t created, std::string& out) {
    started_ = true;
    id_ = response_id(id);
    created_ = created;
    response_event("response.created", "in_progress", nullptr, out);
    response_event("response.in_progress", "in_progress", nullptr, out);
  }

  // An event whose data is {type, sequence_number, ...fields}, built by `fill`.
  template <typename Fill>
  void event(std::string_view type, std::string& out, Fill&& fill) {
    unsigned char buffer[2048];
    json::monotonic_resource mr(buffer);
    json::storage_ptr sp(&mr);
    json::object data(sp);
    data["type"] = type;
    data["sequence_number"] = sequence_++;
    fill(data, sp);
    append_sse_chunk(out, type, json::serialize(data));
  }

  void response_event(std::string_view type, std::string_view status, const char* incomplete,
                      std::string& out) {
    event(type, out, [&](json::object& data, const json::storage_ptr& sp) {
      json::array output(sp);
      if (status != "in_progress") {
        output.reserve(items_.size());
        for (std::size_t i = 0; i < items_.size(); ++i) output.push_back(item_object(i, sp));
      }
      const Head head{id_, created_, model_, &echo_};
      data["response"] = response_object(head, status, incomplete, std::move(output),
                                         status == "in_progress" ? std::nullopt : usage_, sp);
    });
  }

  std::string_view final_status(std::size_t index) const {
    return index + 1 == items_.size() && incomplete_reason(stop_reason_) ? "incomplete"
                                                                         : "completed";
  }

  json::object item_object(std::size_t index, const json::storage_ptr& sp) const {
    const Item& item = items_[index];
    switch (item.kind) {
      case Item::kMessage:
        return message_item(item.id, final_status(index), &item.text, sp);
      case Item::kReasoning:
        return reasoning_item(item.id, item.redacted ? nullptr : &item.text, item.extra,
                              item.redacted, sp);
      case Item::kFunctionCall:
        return function_call_item(item.id, final_status(index), item.extra, item.name, item.text,
                                  sp);
    }
    return json::object(sp);
  }

  Item& open(Item::Kind kind, std::string_view prefix) {
    items_.emplace_back();
    Item& item = items_.back();
    item.kind = kind;
    item.id = item_id(prefix, id_, items_.size() - 1);
    open_ = true;
    return item;
  }

  // The head of a delta event: {"type":..,"sequence_number":..,"item_id":..,"output_index":..
  std::string delta_head(std::string_view type) {
    std::string data = R"({"type":")";
    data.append(type).append(R"(","sequence_number":)").append(std::to_string(sequence_++));
    data.append(R"(,"item_id":)");
    append_string(data, items_.back().id);
    data.append(R"(,"output_index":)").append(std::to_string(items_.size() - 1));
    return data;
  }

  void text(const std::string& text, std::string& out) {
    if (text.empty()) return;
    if (!open_ || items_.back().kind != Item::kMessage) {
      close(out);
      open(Item::kMessage, "msg_");
      const std::size_t index = items_.size() - 1;
      event("response.output_item.added", out, [&](json::object& d, const json::storage_ptr& sp) {
        d["output_index"] = index;
        d["item"] = message_item(items_.back().id, "in_progress", nullptr, sp);
      });
      event("response.content_part.added", out, [&](json::object& d, const json::storage_ptr& sp) {
        d["item_id"] = items_.back().id;
        d["output_index"] = index;
        d["content_index"] = 0;
        d["part"] = output_text("", sp);
      });
    }
    items_.back().text += text;
    std::string data = delta_head("response.output_text.delta");
    data.append(R"(,"content_index":0,"delta":)");
    append_string(data, text);
    data.append(R"(,"logprobs":[]})");
    append_sse_chunk(out, "response.output_text.delta", data);
  }

  void thinking(const std::string& text, std::string& out) {
    if (text.empty()) return;
    // A signature ends a thinking block: thinking after it is a block (an item) of its own.
    if (!open_ || items_.back().kind != Item::kReasoning || !items_.back().extra.empty()) {
      close(out);
      open(Item::kReasoning, "rs_");
      const std::size_t index = items_.size() - 1;
      event("response.output_item.added", out, [&](json::object& d, const json::storage_ptr& sp) {
        d["output_index"] = index;
        d["item"] = reasoning_item(items_.back().id, nullptr, {}, false, sp);
      });
      event("response.reasoning_summary_part.added", out,
            [&](json::object& d, const json::storage_ptr& sp) {
              d["item_id"] = items_.back().id;
              d["output_index"] = index;
              d["summary_index"] = 0;
              d["part"] = summary_text("", sp);
            });
    }
    items_.back().text += text;
    std::string data = delta_head("response.reasoning_summary_text.delta");
    data.append(R"(,"summary_index":0,"delta":)");
    append_string(data, text);
    data.append("}");
    append_sse_chunk(out, "response.reasoning_summary_text.delta", data);
  }

  void redacted(const std::string& data, std::string& out) {
    close(out);
    Item& item = open(Item::kReasoning, "rs_");
    item.redacted = true;
    item.extra = data;
    const std::size_t index = items_.size() - 1;
    event("response.output_item.added", out, [&](json::object& d, const json::storage_ptr& sp) {
      d["output_index"] = index;
      d["item"] = reasoning_item(items_.back().id, nullptr, {}, false, sp);
    });
    close(out);
  }

  void tool_call(const Delta& delta, std::string& out) {
    close(out);
    Item& item = open(Item::kFunctionCall, "fc_");
    item.extra = delta.id;
    item.name = delta.name;
    item.call_index = delta.index;
    const std::size_t index = items_.size() - 1;
    event("response.output_item.added", out, [&](json::object& d, const json::storage_ptr& sp) {
      d["output_index"] = index;
      d["item"] = function_call_item(item.id, "in_progress", item.extra, item.name, "", sp);
    });
  }

  void tool_arguments(const Delta& delta, std::string& out) {
    // Arguments follow their call before any other block begins (canonical.hpp): a piece for a
    // call that is no longer open has no event to go in.
    if (!open_ || items_.back().kind != Item::kFunctionCall ||
        items_.back().call_index != delta.index || delta.text.empty()) {
      return;
    }
    items_.back().text += delta.text;
    std::string data = delta_head("response.function_call_arguments.delta");
    data.append(R"(,"delta":)");
    append_string(data, delta.text);
    data.append("}");
    append_sse_chunk(out, "response.function_call_arguments.delta", data);
  }

  // Ends the open item with the events that repeat its whole content.
  void close(std::string& out) {
    if (!open_) return;
    open_ = false;
    const std::size_t index = items_.size() - 1;
    const Item& item = items_.back();
    auto common = [&](json::object& d) {
      d["item_id"] = item.id;
      d["output_index"] = index;
    };
    switch (item.kind) {
      case Item::kMessage:
        event("response.output_text.done", out, [&](json::object& d, const json::storage_ptr& sp) {
          common(d);
          d["content_index"] = 0;
          d["text"] = item.text;
          d["logprobs"] = json::array(sp);
        });
        event("response.content_part.done", out, [&](json::object& d, const json::storage_ptr& sp) {
          common(d);
          d["content_index"] = 0;
          d["part"] = output_text(item.text, sp);
        });
        break;
      case Item::kReasoning:
        if (item.redacted) break;
        event("response.reasoning_summary_text.done", out,
              [&](json::object& d, const json::storage_ptr&) {
                common(d);
                d["summary_index"] = 0;
                d["text"] = item.text;
              });
        event("response.reasoning_summary_part.done", out,
              [&](json::object& d, const json::storage_ptr& sp) {
                common(d);
                d["summary_index"] = 0;
                d["part"] = summary_text(item.text, sp);
              });
        break;
      case Item::kFunctionCall:
        event("response.function_call_arguments.done", out,
              [&](json::object& d, const json::storage_ptr&) {
                common(d);
                d["arguments"] = item.text;
              });
        break;
    }
    event("response.output_item.done", out, [&](json::object& d, const json::storage_ptr& sp) {
      d["output_index"] = index;
      d["item"] = item_object(index, sp);
    });
  }

  void done(std::string& out) {
    close(out);
    ended_ = true;
    const char* incomplete = incomplete_reason(stop_reason_);
    response_event(incomplete ? "response.incomplete" : "response.completed",
                   incomplete ? "incomplete" : "completed", incomplete, out);
  }

  std::string model_;
  ResponseFormat format_;
  Echo echo_;
  std::string id_;
  std::int64_t created_ = 0;
  std::int64_t sequence_ = 0;
  std::vector<Item> items_;
  bool open_ = false;  // items_.back() is still receiving deltas
  bool started_ = false;
  bool ended_ = false;
  StopReason stop_reason_ = StopReason::kEndTurn;
  std::optional<Usage> usage_;
};

}  // namespace

base::Result<Request> OpenAiResponsesCodec::decode_request(std::string_view body,
                                                           int max_depth) const {
  unsigned char buffer[4096];
  json::monotonic_resource mr(buffer);
  json::parse_options opts;
  opts.max_depth = static_cast<std::size_t>(max_depth > 0 ? max_depth : 1);
  boost::system::error_code ec;
  const json::value root =
      json::parse(json::string_view(body.data(), body.size()), ec, json::storage_ptr(&mr), opts);
  if (ec == json::error::too_deep) {
    return bad_request(
        "the request body nests deeper than " + std::to_string(max_depth) + " levels", "");
  }
  if (ec) return bad_request("the request body is not valid JSON: " + ec.message(), "");
  if (!root.is_object()) return bad_request("the request body must be a JSON object", "");
  return RequestDecoder().decode(root.get_object());
}

void OpenAiResponsesCodec::encode_response(const Response& response, std::string_view model,
                                           std::string& out) const {
  unsigned char buffer[4096];
  json::monotonic_resource mr(buffer);
  json::storage_ptr sp(&mr);
  const std::string id = response_id(response.id);
  const char* incomplete = incomplete_reason(response.stop_reason);

  json::array output(sp);
  output.reserve(response.content.size());
  std::string text;
  std::optional<std::size_t> message;  // the output index of the message item being filled
  auto flush_message = [&] {
    if (!message) return;
    output[*message] = message_item(item_id("msg_", id, *message), "completed", &text, sp);
    text.clear();
    message.reset();
  };
  for (const auto& part : response.content) {
    switch (part.kind) {
      case Part::Kind::kText:
        if (!message) {
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
  const Head head{id, response.created, model, nullptr};
  out += json::serialize(response_object(head, incomplete ? "incomplete" : "completed", incomplete,
                                         std::move(output), response.usage, sp));
}

std::unique_ptr<StreamEncoder> OpenAiResponsesCodec::stream_encoder(const Request& request,
                                                                    std::string_view model) const {
  return std::make_unique<ResponsesStreamEncoder>(request, model);
}

std::string OpenAiResponsesCodec::error_body(const base::Error& error) const {
  return api::error_body(error);
}

const Codec& openai_responses_codec() {
  static const OpenAiResponsesCodec codec;
  return codec;
}

}  // namespace shepherd::translate
