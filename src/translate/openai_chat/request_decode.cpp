// decode_request: a client's /v1/chat/completions body. The messages are read in
// request_messages.cpp; the rest of the body here.
#include <algorithm>
#include <utility>

#include "translate/openai_chat.hpp"
#include "translate/openai_chat/internal.hpp"

namespace shepherd::translate {

namespace openai_chat {
namespace {

base::Status read_required(Request& r, const json::object& root) {
  const auto* model = root.if_contains("model");
  if (!model) {
    return bad_request("missing required field: model (a string naming the model)", "model");
  }
  if (!model->is_string() || model->get_string().empty()) {
    return bad_request("model must be a non-empty string", "model");
  }
  r.model = sv(model->get_string());

  const auto* stream = root.if_contains("stream");
  if (stream && !stream->is_bool() && !stream->is_null()) {
    return bad_request("stream must be true or false", "stream");
  }
  r.stream = stream && stream->is_bool() && stream->get_bool();
  if (const auto* options = member(root, "stream_options")) {
    if (!options->is_object()) {
      return bad_request("stream_options must be an object", "stream_options");
    }
    if (const auto* usage = member(options->get_object(), "include_usage")) {
      if (!usage->is_bool()) {
        return bad_request("stream_options.include_usage must be true or false",
                           "stream_options.include_usage");
      }
      r.include_usage = usage->get_bool();
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
  r.messages.reserve(list.size());
  for (std::size_t i = 0; i < list.size(); ++i) {
    if (auto s = read_message(r, list[i], i); !s) return s;
  }
  return base::Ok{};
}

base::Status read_function(Request& r, const json::value* fn, const std::string& param) {
  const auto* o = fn ? fn->if_object() : nullptr;
  const auto* name = o ? string_member(*o, "name") : nullptr;
  if (!name || name->empty()) {
    return bad_request(cat(param, " must be an object with a non-empty string name"),
                       cat(param, ".name"));
  }
  Tool& tool = r.tools.emplace_back();
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
base::Status read_tool_choice(Request& r, const json::value& v, std::string_view key) {
  const auto invalid = [&] {
    return bad_request(cat(key, " must be \"auto\", \"none\", \"required\" or ",
                           "{\"type\":\"function\",\"function\":{\"name\":\"...\"}}"),
                       std::string(key));
  };
  ToolChoice choice;
  if (const auto* s = v.if_string()) {
    if (*s == "auto") {
      choice.mode = ToolChoice::Mode::kAuto;
    } else if (*s == "none") {
      choice.mode = ToolChoice::Mode::kNone;
    } else if (*s == "required") {
      choice.mode = ToolChoice::Mode::kRequired;
    } else {
      return invalid();
    }
  } else {
    const auto* o = v.if_object();
    const json::string* name = nullptr;
    if (o && key == "function_call") {
      name = string_member(*o, "name");
    } else if (o && string_or_empty(*o, "type") == "function") {
      if (const auto* fn = object_member(*o, "function")) name = string_member(*fn, "name");
    }
    if (!name || name->empty()) return invalid();
    choice.mode = ToolChoice::Mode::kTool;
    choice.name = sv(*name);
  }
  r.tool_choice = std::move(choice);
  return base::Ok{};
}

base::Status read_tools(Request& r, const json::object& root) {
  if (const auto* tools = member(root, "tools")) {
    if (!tools->is_array()) return bad_request("tools must be an array", "tools");
    const auto& list = tools->get_array();
    r.tools.reserve(list.size());
    for (std::size_t i = 0; i < list.size(); ++i) {
      const auto* tool = list[i].if_object();
      const auto* type = tool ? string_member(*tool, "type") : nullptr;
      if (!tool || (type && *type != "function")) {
        return bad_request(
            cat("tools[", i, "]: only function tools ({\"type\":\"function\",\"function\":{...}}) ",
                "can be translated for this model", type ? cat("; got \"", sv(*type), "\"") : ""),
            cat("tools[", i, "].type"));
      }
      if (auto s = read_function(r, member(*tool, "function"), cat("tools[", i, "].function"));
          !s) {
        return s;
      }
    }
  } else if (const auto* functions = member(root, "functions")) {
    // The deprecated form of tools: the function objects themselves.
    if (!functions->is_array()) return bad_request("functions must be an array", "functions");
    const auto& list = functions->get_array();
    for (std::size_t i = 0; i < list.size(); ++i) {
      if (auto s = read_function(r, &list[i], cat("functions[", i, "]")); !s) return s;
    }
  }

  if (const auto* choice = member(root, "tool_choice")) {
    if (auto s = read_tool_choice(r, *choice, "tool_choice"); !s) return s;
  } else if (const auto* fc = member(root, "function_call")) {
    if (auto s = read_tool_choice(r, *fc, "function_call"); !s) return s;
  }
  if (const auto* parallel = member(root, "parallel_tool_calls")) {
    if (!parallel->is_bool()) {
      return bad_request("parallel_tool_calls must be true or false", "parallel_tool_calls");
    }
    if (!parallel->get_bool()) {
      if (!r.tool_choice) r.tool_choice.emplace();
      r.tool_choice->parallel_calls = false;
    }
  }
  return base::Ok{};
}

base::Status read_sampling(Request& r, const json::object& root) {
  for (const std::string_view key : {"max_tokens", "max_completion_tokens"}) {
    if (const auto* v = member(root, key)) {
      const auto n = integer(*v);
      if (!n || *n < 0) {
        return bad_request(cat(key, " must be a non-negative integer"), std::string(key));
      }
      r.max_tokens = std::max(r.max_tokens.value_or(0), *n);
    }
  }
  const std::pair<std::string_view, std::optional<double>*> numbers[] = {
      {"temperature", &r.temperature},
      {"top_p", &r.top_p},
      {"presence_penalty", &r.presence_penalty},
      {"frequency_penalty", &r.frequency_penalty},
      {"repetition_penalty", &r.repetition_penalty},
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
    if (*n > 0) r.top_k = *n;
  }
  if (const auto* v = member(root, "seed")) {
    r.seed = integer(*v);
    if (!r.seed) return bad_request("seed must be an integer", "seed");
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
      r.stop.emplace_back(sv(*s));
    } else if (const auto* list = v->if_array()) {
      for (std::size_t i = 0; i < list->size(); ++i) {
        const auto* item = (*list)[i].if_string();
        if (!item) {
          return bad_request(cat("stop[", i, "] must be a string"), cat("stop[", i, "]"));
        }
        r.stop.emplace_back(sv(*item));
      }
    } else {
      return bad_request("stop must be a string or an array of strings", "stop");
    }
  }
  return base::Ok{};
}

base::Status read_json_schema(ResponseFormat& format, const json::object* js) {
  const auto* name = js ? string_member(*js, "name") : nullptr;
  if (!name) {
    return bad_request(
        "response_format.json_schema must be an object with a string name and a schema",
        "response_format.json_schema.name");
  }
  format.kind = ResponseFormat::Kind::kJsonSchema;
  format.name = sv(*name);
  if (const auto* s = member(*js, "schema")) {
    if (!s->is_object()) {
      return bad_request("response_format.json_schema.schema must be a JSON Schema object",
                         "response_format.json_schema.schema");
    }
    format.schema = json::value(*s, json::storage_ptr());
  }
  if (const auto* strict = member(*js, "strict")) {
    if (!strict->is_bool()) {
      return bad_request("response_format.json_schema.strict must be true or false",
                         "response_format.json_schema.strict");
    }
    format.strict = strict->get_bool();
  }
  return base::Ok{};
}

base::Status read_output(Request& r, const json::object& root) {
  if (const auto* v = member(root, "response_format")) {
    const auto* o = v->if_object();
    const auto type = o ? string_or_empty(*o, "type") : std::string_view();
    if (type == "text") {
      r.response_format.kind = ResponseFormat::Kind::kText;
    } else if (type == "json_object") {
      r.response_format.kind = ResponseFormat::Kind::kJsonObject;
    } else if (type == "json_schema") {
      if (auto s = read_json_schema(r.response_format, object_member(*o, "json_schema")); !s) {
        return s;
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
    r.reasoning_effort = sv(v->get_string());
  }
  if (const auto* v = member(root, "user")) {
    if (!v->is_string()) return bad_request("user must be a string", "user");
    r.user = sv(v->get_string());
  }
  return base::Ok{};
}

}  // namespace
}  // namespace openai_chat

base::Result<Request> OpenAiChatCodec::decode_request(std::string_view body, int max_depth) const {
  using namespace openai_chat;
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
  const auto& o = root->get_object();
  Request request;
  for (const auto read : {read_required, read_tools, read_sampling, read_output}) {
    if (auto s = read(request, o); !s) return std::move(s).error();
  }
  return request;
}

}  // namespace shepherd::translate
