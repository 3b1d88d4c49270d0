// Request decoding: the top-level fields and the `input` items (messages, function calls and
// their outputs, reasoning) of a Responses request.
#include <string>
#include <utility>
#include <vector>

#include "translate/openai_responses/internal.hpp"

namespace shepherd::translate::openai_responses {

namespace {

constexpr std::string_view kStateless =
    "Shepherd is stateless and stores no responses or items (as with store: false), so send the "
    "whole conversation as input items instead";

std::string item_path(std::size_t i, std::string_view rest = {}) {
  return cat("input[", i, "]", rest);
}

std::string part_path(std::size_t i, std::string_view field, std::size_t j,
                      std::string_view rest = {}) {
  return cat("input[", i, "].", field, "[", j, "]", rest);
}

void join(std::string& to, std::string_view piece) {
  if (piece.empty()) return;
  if (!to.empty()) to.append("\n\n");
  to.append(piece);
}

// input_image: an http(s) URL or a base64 data URL (responses/create, input_image.image_url).
base::Status decode_image(const json::object& part, std::size_t i, std::string_view field,
                          std::size_t j, std::vector<Part>& out) {
  const auto* url = string_member(part, "image_url");
  if (!url) {
    if (member(part, "file_id")) {
      return bad_request(
          "images given by file_id need OpenAI's file storage, which Shepherd does not have: "
          "send image_url (an http(s) URL or a base64 data URL) instead",
          part_path(i, field, j, ".file_id"));
    }
    return bad_request("an input_image needs image_url (an http(s) URL or a base64 data URL)",
                       part_path(i, field, j, ".image_url"));
  }
  const std::string_view u = sv(*url);
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
  const auto* type = part ? string_member(*part, "type") : nullptr;
  if (!type) {
    return bad_request("content parts must be objects with a string type",
                       part_path(i, field, j, ".type"));
  }
  const std::string_view t = sv(*type);
  if (t == "input_text" || t == "output_text" || t == "refusal") {
    const std::string_view key = t == "refusal" ? "refusal" : "text";
    const auto* text = string_member(*part, key);
    if (!text) {
      return bad_request(cat("a ", t, " part needs a string ", key),
                         part_path(i, field, j, cat(".", key)));
    }
    Part p;
    p.text = sv(*text);
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
    return bad_request(cat(t,
                           " parts are not supported through Shepherd: send text (input_text) "
                           "or images (input_image)"),
                       part_path(i, field, j, ".type"));
  }
  return bad_request(
      cat("unknown content part type \"", t, "\": use input_text, output_text or input_image"),
      part_path(i, field, j, ".type"));
}

class RequestDecoder {
 public:
  base::Result<Request> decode(const json::object& root) {
    if (auto s = top_level(root); !s) return std::move(s).error();
    if (auto s = input(root); !s) return std::move(s).error();
    if (auto s = decode_tools(root, request_); !s) return std::move(s).error();
    if (auto s = decode_options(root, request_); !s) return std::move(s).error();
    if (const auto* instructions = member(root, "instructions")) {
      if (!instructions->is_string()) {
        return bad_request("instructions must be a string", "instructions");
      }
      // Instructions come before the system and developer messages of `input`.
      std::string system(sv(instructions->get_string()));
      join(system, request_.system);
      request_.system = std::move(system);
    }
    return std::move(request_);
  }

 private:
  base::Status top_level(const json::object& root) {
    const auto* model = string_member(root, "model");
    if (!model || model->empty()) return bad_request("model must be a non-empty string", "model");
    request_.model = sv(*model);
    for (std::string_view key : {"previous_response_id", "conversation"}) {
      if (member(root, key)) {
        return bad_request(cat(key, " is not supported: ", kStateless), std::string(key));
      }
    }
    if (member(root, "prompt")) {
      return bad_request(cat("stored prompts are not supported: ", kStateless), "prompt");
    }
    if (const auto* bg = root.if_contains("background"); bg && bg->is_bool() && bg->get_bool()) {
      return bad_request(cat("background responses are not supported: ", kStateless), "background");
    }
    if (const auto* stream = member(root, "stream")) {
      if (!stream->is_bool()) return bad_request("stream must be true or false", "stream");
      request_.stream = stream->get_bool();
    }
    if (const auto* user = member(root, "user")) {
      if (!user->is_string()) return bad_request("user must be a string", "user");
      request_.user = sv(user->get_string());
    }
    return base::Ok{};
  }

  base::Status input(const json::object& root) {
    const auto* input = member(root, "input");
    if (!input) {
      return bad_request("input is required: a string or an array of input items", "input");
    }
    if (const auto* s = input->if_string()) {
      if (s->empty()) return bad_request("input must not be empty", "input");
      Part p;
      p.text = sv(*s);
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
    std::string_view type = "message";
    if (const auto* type_value = member(*o, "type")) {
      if (!type_value->is_string()) {
        return bad_request("type must be a string", item_path(i, ".type"));
      }
      type = sv(type_value->get_string());
    } else if (!o->contains("role")) {
      return bad_request("input items need a type, or a role for messages", item_path(i, ".type"));
    }
    if (type == "message") return message(*o, i);
    if (type == "function_call") return function_call(*o, i);
    if (type == "function_call_output") return function_call_output(*o, i);
    if (type == "reasoning") return reasoning(*o, i);
    if (type == "item_reference") {
      return bad_request(cat("item_reference is not supported: ", kStateless),
                         item_path(i, ".type"));
    }
    return bad_request(cat("input items of type \"", type,
                           "\" are not supported: Shepherd is stateless and serves function tools "
                           "only, so send messages, function_call, function_call_output and "
                           "reasoning items"),
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
    const auto* role = string_member(o, "role");
    if (!role) {
      return bad_request("messages need a role: user, assistant, system or developer",
                         item_path(i, ".role"));
    }
    const std::string_view r = sv(*role);
    const bool system = r == "system" || r == "developer";
    if (!system && r != "user" && r != "assistant") {
      return bad_request("role must be user, assistant, system or developer",
                         item_path(i, ".role"));
    }
    const auto* content = o.if_contains("content");
    std::vector<Part> parts;
    if (content && content->is_string()) {
      Part p;
      p.text = sv(content->get_string());
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
    const auto* call_id = string_member(o, "call_id");
    const auto* name = string_member(o, "name");
    const auto* arguments = string_member(o, "arguments");
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
    p.id = sv(*call_id);
    p.name = sv(*name);
    p.arguments = sv(*arguments);
    assistant().parts.push_back(std::move(p));
    return base::Ok{};
  }

  base::Status function_call_output(const json::object& o, std::size_t i) {
    const auto* call_id = string_member(o, "call_id");
    if (!call_id || call_id->empty()) {
      return bad_request("function_call_output items need a non-empty string call_id",
                         item_path(i, ".call_id"));
    }
    Part result;
    result.kind = Part::Kind::kToolResult;
    result.id = sv(*call_id);
    const auto* output = o.if_contains("output");
    if (output && output->is_string()) {
      Part text;
      text.text = sv(output->get_string());
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
    if (const auto* summary = member(o, "summary")) {
      const auto* list = summary->if_array();
      if (!list) {
        return bad_request("summary must be an array of summary_text parts",
                           item_path(i, ".summary"));
      }
      for (std::size_t j = 0; j < list->size(); ++j) {
        const auto* s = (*list)[j].if_object();
        const auto* text = s ? string_member(*s, "text") : nullptr;
        if (!text) {
          return bad_request("summary parts must be objects with a string text",
                             part_path(i, "summary", j, ".text"));
        }
        join(p.text, sv(*text));
      }
    }
    if (const auto* enc = member(o, "encrypted_content")) {
      if (!enc->is_string()) {
        return bad_request("encrypted_content must be a string",
                           item_path(i, ".encrypted_content"));
      }
      const std::string_view e = sv(enc->get_string());
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

  Request request_;
};

}  // namespace

base::Result<Request> decode(const json::object& root) { return RequestDecoder().decode(root); }

}  // namespace shepherd::translate::openai_responses
