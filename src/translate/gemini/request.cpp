// Writing a generateContent request body (https://ai.google.dev/api/generate-content#request-body)
// from the common form; the model goes in the URL.
#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

#include "translate/gemini.hpp"
#include "translate/gemini/internal.hpp"

namespace shepherd::translate {
namespace detail::gemini {
namespace {

std::string part_param(std::size_t message, std::size_t part) {
  return cat("messages[", message, "].content[", part, "]");
}

// A JSON object parsed from `text`, in `sp`; null when `text` is not one.
json::value parse_object_in(std::string_view text, const json::storage_ptr& sp) {
  json::value storage(sp);
  std::string why;
  if (!parse_object(text, kMaxDepth, storage, why)) return json::value(sp);
  return storage;
}

// An image part as inlineData (https://ai.google.dev/api/caching#Blob). The Gemini API reads
// only inline bytes or files it stores; Shepherd never fetches URLs for a client.
base::Status add_image(const Part& image, std::string param, json::array& parts) {
  std::string_view mime = image.media_type;
  std::string_view data = image.data;
  if (data.empty() && image.url.starts_with("data:")) {
    // data:<media type>;base64,<data> (RFC 2397)
    const std::string_view url = image.url;
    const std::size_t comma = url.find(',');
    const std::string_view meta = url.substr(5, comma == std::string_view::npos ? 0 : comma - 5);
    constexpr std::string_view kBase64 = ";base64";
    if (comma == std::string_view::npos || !meta.ends_with(kBase64)) {
      return bad_request("the image data URL must be base64: data:<media type>;base64,<data>",
                         std::move(param));
    }
    mime = meta.substr(0, meta.size() - kBase64.size());
    data = url.substr(comma + 1);
  }
  if (data.empty()) {
    if (!image.url.empty()) {
      return bad_request(
          "the Gemini API takes images as inline base64 data; send the image as a data URL",
          std::move(param));
    }
    return bad_request("the image has no data; send it as base64 data", std::move(param));
  }
  if (mime.empty()) {
    return bad_request("the image has no media type; send it as data:image/<type>;base64,<data>",
                       std::move(param));
  }
  json::object& blob =
      parts.emplace_back(json::object_kind).as_object()["inlineData"].emplace_object();
  blob["mimeType"] = mime;
  blob["data"] = data;
  return base::Ok{};
}

struct Call {
  std::string_view id;
  std::string_view name;
};

// A functionCall part for the tool call `part` (messages[m].content[p]).
base::Status add_call(const Part& part, std::size_t m, std::size_t p, json::array& to) {
  const json::storage_ptr& sp = to.storage();
  json::value args =
      part.arguments.empty() ? json::value(json::object(sp)) : parse_object_in(part.arguments, sp);
  if (!args.is_object()) {
    return bad_request("the tool call's arguments must be a JSON object",
                       cat(part_param(m, p), ".arguments"));
  }
  const CallId id = split_call_id(part.id);
  json::object& out = to.emplace_back(json::object_kind).as_object();
  json::object& call = out["functionCall"].emplace_object();
  if (!id.base.empty() && !generated_id(id.base)) call["id"] = id.base;
  call["name"] = std::string_view(part.name);
  call["args"] = std::move(args);
  if (id.signature) out["thoughtSignature"] = std::string_view(*id.signature);
  return base::Ok{};
}

// A functionResponse part for the tool result `part` (messages[m].content[p]), answering a call
// of `calls`, then the images it holds.
base::Status add_result(const Part& part, std::size_t m, std::size_t p,
                        const std::vector<Call>& calls, json::array& to) {
  // Gemini names the function a response answers; the common form names the call by id.
  std::string_view name;
  for (auto it = calls.rbegin(); it != calls.rend(); ++it) {
    if (it->id == part.id) {
      name = it->name;
      break;
    }
  }
  if (name.empty()) {
    return bad_request(cat("this tool result answers call id \"", excerpt(part.id, kMaxMessage),
                           "\", but no earlier assistant message made a call with that id; the "
                           "Gemini API needs the called function's name, so send the assistant "
                           "turn with the call before its result"),
                       part_param(m, p));
  }
  std::string text = part.text;
  for (const Part& c : part.content) {
    if (c.kind != Part::Kind::kText) continue;
    if (!text.empty()) text.push_back('\n');
    text += c.text;
  }
  // FunctionResponse.response is an object: "output"/"result" for the result, "error" for a
  // failure (https://ai.google.dev/api/caching#FunctionResponse).
  json::value parsed = parse_object_in(text, to.storage());
  json::object& response =
      to.emplace_back(json::object_kind).as_object()["functionResponse"].emplace_object();
  const CallId id = split_call_id(part.id);
  if (!generated_id(id.base)) response["id"] = id.base;
  response["name"] = name;
  if (part.is_error) {
    json::object& r = response["response"].emplace_object();
    if (parsed.is_object()) {
      r["error"] = std::move(parsed);
    } else {
      r["error"] = std::string_view(text);
    }
  } else if (parsed.is_object()) {
    response["response"] = std::move(parsed);
  } else {
    response["response"].emplace_object()["result"] = std::string_view(text);
  }
  // Images a tool returned follow its response as parts of the same turn.
  for (std::size_t c = 0; c < part.content.size(); ++c) {
    if (part.content[c].kind != Part::Kind::kImage) continue;
    auto s = add_image(part.content[c], cat(part_param(m, p), ".content[", c, "]"), to);
    if (!s) return s;
  }
  return base::Ok{};
}

// `contents`: user and model turns, consecutive messages of one role merged, since Gemini
// expects turns to alternate.
base::Status encode_contents(const std::vector<Message>& messages, json::array& contents) {
  std::vector<Call> calls;  // every call of earlier assistant messages, in order
  json::array* parts = nullptr;
  Role role = Role::kUser;
  // The parts array of the current turn, opened for `r` when the last turn had another role.
  const auto turn = [&](Role r) -> json::array& {
    if (!parts || r != role) {
      json::object& content = contents.emplace_back(json::object_kind).as_object();
      content["role"] = r == Role::kUser ? "user" : "model";
      parts = &content["parts"].emplace_array();
      role = r;
    }
    return *parts;
  };

  for (std::size_t m = 0; m < messages.size(); ++m) {
    const Message& message = messages[m];
    for (std::size_t p = 0; p < message.parts.size(); ++p) {
      const Part& part = message.parts[p];
      base::Status s = base::Ok{};
      switch (part.kind) {
        case Part::Kind::kText:
          if (!part.text.empty()) {
            turn(message.role).emplace_back(json::object_kind).as_object()["text"] =
                std::string_view(part.text);
          }
          break;
        case Part::Kind::kImage:
          s = add_image(part, part_param(m, p), turn(message.role));
          break;
        case Part::Kind::kToolCall:
          s = add_call(part, m, p, turn(message.role));
          if (s && message.role == Role::kAssistant) calls.push_back({part.id, part.name});
          break;
        case Part::Kind::kToolResult:
          s = add_result(part, m, p, calls, turn(message.role));
          break;
        case Part::Kind::kThinking:
        case Part::Kind::kRedactedThinking:
          // Gemini takes back thought signatures (carried in call ids), never thought text.
          break;
      }
      if (!s) return s;
    }
  }
  if (contents.empty()) {
    return bad_request("the request has no message content to send", "messages");
  }
  return base::Ok{};
}

std::optional<std::int64_t> effort_budget(std::string_view effort) {
  // Budgets in the ranges the thinking guide gives for light, moderate and deep reasoning
  // (https://ai.google.dev/gemini-api/docs/thinking#set-budget).
  if (effort == "low") return 1024;
  if (effort == "medium") return 8192;
  if (effort == "high") return 24576;
  return std::nullopt;
}

void encode_generation_config(const Request& request, json::object& config) {
  if (request.max_tokens) config["maxOutputTokens"] = *request.max_tokens;
  if (request.temperature) config["temperature"] = *request.temperature;
  if (request.top_p) config["topP"] = *request.top_p;
  if (request.top_k) config["topK"] = *request.top_k;
  if (!request.stop.empty()) {
    json::array& stops = config["stopSequences"].emplace_array();
    for (const auto& s : request.stop) stops.emplace_back(std::string_view(s));
  }
  if (request.presence_penalty) config["presencePenalty"] = *request.presence_penalty;
  if (request.frequency_penalty) config["frequencyPenalty"] = *request.frequency_penalty;
  if (request.seed) config["seed"] = *request.seed;
  const ResponseFormat& format = request.response_format;
  if (format.kind != ResponseFormat::Kind::kText) config["responseMimeType"] = "application/json";
  // responseJsonSchema takes JSON Schema as clients write it; responseSchema would need the
  // OpenAPI subset (https://ai.google.dev/api/generate-content#GenerationConfig).
  if (format.kind == ResponseFormat::Kind::kJsonSchema && format.schema.is_object()) {
    config["responseJsonSchema"] = format.schema;
  }
  std::optional<std::int64_t> budget = request.thinking_budget;
  if (!budget) budget = effort_budget(request.reasoning_effort);
  if (budget) {
    json::object& thinking = config["thinkingConfig"].emplace_object();
    thinking["thinkingBudget"] = *budget;
    thinking["includeThoughts"] = true;
  }
}

// https://ai.google.dev/api/caching#FunctionCallingConfig: kTool also names the function.
std::string_view calling_mode(ToolChoice::Mode mode) {
  switch (mode) {
    case ToolChoice::Mode::kAuto:
      return "AUTO";
    case ToolChoice::Mode::kNone:
      return "NONE";
    case ToolChoice::Mode::kRequired:
    case ToolChoice::Mode::kTool:
      break;
  }
  return "ANY";
}

void encode_tools(const Request& request, json::object& body) {
  if (request.tools.empty()) return;
  json::array& declarations = body["tools"]
                                  .emplace_array()
                                  .emplace_back(json::object_kind)
                                  .as_object()["functionDeclarations"]
                                  .emplace_array();
  for (const Tool& tool : request.tools) {
    json::object& d = declarations.emplace_back(json::object_kind).as_object();
    d["name"] = std::string_view(tool.name);
    if (!tool.description.empty()) d["description"] = std::string_view(tool.description);
    // parametersJsonSchema takes JSON Schema as is, where `parameters` takes the OpenAPI subset
    // (https://ai.google.dev/api/caching#FunctionDeclaration).
    if (tool.parameters.is_object()) d["parametersJsonSchema"] = tool.parameters;
  }
  if (!request.tool_choice) return;
  // https://ai.google.dev/api/caching#FunctionCallingConfig; Gemini has no switch for
  // parallel calls, so parallel_calls = false is not expressed.
  json::object& calling =
      body["toolConfig"].emplace_object()["functionCallingConfig"].emplace_object();
  calling["mode"] = calling_mode(request.tool_choice->mode);
  if (request.tool_choice->mode == ToolChoice::Mode::kTool) {
    calling["allowedFunctionNames"].emplace_array().emplace_back(
        std::string_view(request.tool_choice->name));
  }
}

}  // namespace
}  // namespace detail::gemini

using namespace detail;
using namespace detail::gemini;

base::Status GeminiCodec::encode_request(const Request& request, std::string_view,
                                         std::string& out) const {
  unsigned char arena[kArena];
  json::monotonic_resource resource(arena, sizeof arena);
  json::value root(json::object_kind, &resource);
  json::object& body = root.get_object();

  if (auto s = encode_contents(request.messages, body["contents"].emplace_array()); !s) return s;
  if (!request.system.empty()) {
    body["systemInstruction"]
        .emplace_object()["parts"]
        .emplace_array()
        .emplace_back(json::object_kind)
        .as_object()["text"] = std::string_view(request.system);
  }
  encode_tools(request, body);
  json::object config(&resource);
  encode_generation_config(request, config);
  if (!config.empty()) body["generationConfig"] = std::move(config);

  append_value(out, root);
  return base::Ok{};
}

}  // namespace shepherd::translate
