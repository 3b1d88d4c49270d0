// Request decoding: the function tools and the choice among them, and the generation options
// (token cap, sampling, text.format, reasoning effort) of a Responses request.
#include <string>
#include <utility>

#include "translate/openai_responses/internal.hpp"

namespace shepherd::translate::openai_responses {

namespace {

base::Status decode_tool(const json::value& v, std::size_t i, Request& request) {
  const std::string path = cat("tools[", i, "]");
  const auto* t = v.if_object();
  const auto* type = t ? string_member(*t, "type") : nullptr;
  if (!type) return bad_request("tools must be objects with a string type", path + ".type");
  if (*type != "function") {
    return bad_request(cat("tools of type \"", sv(*type),
                           "\" are not supported: Shepherd serves function tools only"),
                       path + ".type");
  }
  const auto* name = string_member(*t, "name");
  if (!name || name->empty()) {
    return bad_request("function tools need a non-empty string name", path + ".name");
  }
  Tool tool;
  tool.name = sv(*name);
  if (const auto* d = member(*t, "description")) {
    if (!d->is_string()) return bad_request("description must be a string", path + ".description");
    tool.description = sv(d->get_string());
  }
  if (const auto* params = member(*t, "parameters")) {
    if (!params->is_object()) {
      return bad_request("parameters must be a JSON Schema object", path + ".parameters");
    }
    // A copy in default storage: the document's storage ends with the decode.
    tool.parameters = json::value(*params, json::storage_ptr());
  }
  request.tools.push_back(std::move(tool));
  return base::Ok{};
}

base::Status decode_tool_choice(const json::value& choice, Request& request) {
  ToolChoice c;
  if (const auto* s = choice.if_string()) {
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
  } else if (const auto* o = choice.if_object()) {
    const auto* type = string_member(*o, "type");
    if (!type || *type != "function") {
      return bad_request(cat("tool_choice of type \"", type ? sv(*type) : "",
                             "\" is not supported: Shepherd serves function tools only; "
                             "use {\"type\": \"function\", \"name\": ...}"),
                         "tool_choice.type");
    }
    const auto* name = string_member(*o, "name");
    if (!name || name->empty()) {
      return bad_request("tool_choice needs the name of the function to call", "tool_choice.name");
    }
    c.mode = ToolChoice::Mode::kTool;
    c.name = sv(*name);
  } else {
    return bad_request("tool_choice must be a string or an object", "tool_choice");
  }
  request.tool_choice = std::move(c);
  return base::Ok{};
}

base::Status decode_format(const json::object& text, Request& request) {
  const auto* f = member(text, "format");
  if (!f) return base::Ok{};
  const auto* o = f->if_object();
  const auto* type = o ? string_member(*o, "type") : nullptr;
  if (!type) {
    return bad_request("text.format must be an object with a string type", "text.format.type");
  }
  auto& rf = request.response_format;
  if (*type == "text") {
    rf.kind = ResponseFormat::Kind::kText;
  } else if (*type == "json_object") {
    rf.kind = ResponseFormat::Kind::kJsonObject;
  } else if (*type == "json_schema") {
    const auto* name = string_member(*o, "name");
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
    rf.name = sv(*name);
    rf.schema = json::value(*schema, json::storage_ptr());
    if (const auto* strict = member(*o, "strict")) {
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

}  // namespace

base::Status decode_tools(const json::object& root, Request& request) {
  if (const auto* tools = member(root, "tools")) {
    const auto* list = tools->if_array();
    if (!list) return bad_request("tools must be an array of function tools", "tools");
    request.tools.reserve(list->size());
    for (std::size_t i = 0; i < list->size(); ++i) {
      if (auto s = decode_tool((*list)[i], i, request); !s) return s;
    }
  }
  if (const auto* choice = member(root, "tool_choice")) {
    if (auto s = decode_tool_choice(*choice, request); !s) return s;
  }
  if (const auto* parallel = member(root, "parallel_tool_calls")) {
    if (!parallel->is_bool()) {
      return bad_request("parallel_tool_calls must be true or false", "parallel_tool_calls");
    }
    if (!parallel->get_bool()) {
      if (!request.tool_choice) request.tool_choice.emplace();
      request.tool_choice->parallel_calls = false;
    }
  }
  return base::Ok{};
}

base::Status decode_options(const json::object& root, Request& request) {
  if (const auto* max = member(root, "max_output_tokens")) {
    // A whole number written as a double (1024.0) is refused, as it always was here.
    const auto n = max->is_double() ? std::nullopt : detail::integer(*max);
    if (!n || *n <= 0) {
      return bad_request("max_output_tokens must be a positive integer", "max_output_tokens");
    }
    request.max_tokens = n;
  }
  if (const auto* t = member(root, "temperature")) {
    const auto n = detail::number(*t);
    if (!n || *n < 0 || *n > 2) {
      return bad_request("temperature must be a number from 0 to 2", "temperature");
    }
    request.temperature = n;
  }
  if (const auto* t = member(root, "top_p")) {
    const auto n = detail::number(*t);
    if (!n || *n < 0 || *n > 1) return bad_request("top_p must be a number from 0 to 1", "top_p");
    request.top_p = n;
  }
  if (const auto* text = member(root, "text")) {
    if (!text->is_object()) return bad_request("text must be an object", "text");
    if (auto s = decode_format(text->get_object(), request); !s) return s;
  }
  if (const auto* reasoning = member(root, "reasoning")) {
    if (!reasoning->is_object()) return bad_request("reasoning must be an object", "reasoning");
    if (const auto* effort = member(reasoning->get_object(), "effort")) {
      const auto* e = effort->if_string();
      if (!e || (*e != "minimal" && *e != "low" && *e != "medium" && *e != "high")) {
        return bad_request("reasoning.effort must be \"minimal\", \"low\", \"medium\" or \"high\"",
                           "reasoning.effort");
      }
      // The common form knows low, medium and high; minimal is the least of them.
      request.reasoning_effort = *e == "minimal" ? "low" : std::string(sv(*e));
    }
  }
  return base::Ok{};
}

}  // namespace shepherd::translate::openai_responses
