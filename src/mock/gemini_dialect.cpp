// The Gemini dialect; see gemini_dialect.hpp. The wire format follows the Gemini API reference
// (https://ai.google.dev/api/generate-content, .../api/embeddings, .../api/tokens,
// .../api/models). Request fields are read in their JSON (camelCase) and proto (snake_case)
// spellings, as the API accepts both.
#include "mock/gemini_dialect.hpp"

#include <boost/json/value.hpp>
#include <utility>

#include "mock/common.hpp"
#include "mock/embedding.hpp"
#include "mock/text.hpp"

namespace shepherd::mock::detail {
namespace {

namespace json = boost::json;

// The signature the mock puts on a function call made while thinking: base64 of
// "mock-signature".
constexpr std::string_view kThoughtSignature = "bW9jay1zaWduYXR1cmU=";

// A member in its camelCase or its snake_case spelling.
const json::value* field(const json::object* obj, std::string_view camel, std::string_view snake) {
  const json::value* v = member(obj, camel);
  return v != nullptr ? v : member(obj, snake);
}

const json::object* object_field(const json::object* obj, std::string_view camel,
                                 std::string_view snake) {
  const json::value* v = field(obj, camel, snake);
  return v == nullptr ? nullptr : v->if_object();
}

// Whether `query` (the target after '?') has alt=sse.
bool wants_sse(std::string_view query) {
  while (!query.empty()) {
    const auto amp = query.find('&');
    if (query.substr(0, amp) == "alt=sse") return true;
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
  }
  return false;
}

Endpoint match(std::string_view path, std::string_view query, bool /*marked*/) {
  constexpr std::string_view kBeta = "/v1beta/models";
  std::string_view rest;
  if (path == kBeta) return {Operation::kModelList};
  if (path.starts_with(kBeta) && path[kBeta.size()] == '/') {
    rest = path.substr(kBeta.size() + 1);
  } else if (path.starts_with("/v1/models/") && path.find(':') != std::string_view::npos) {
    // Gemini's v1 shares this prefix with OpenAI's model routes: claim only its methods below.
    rest = path.substr(std::string_view("/v1/models/").size());
  } else {
    return {};
  }
  const auto colon = rest.rfind(':');
  if (colon == std::string_view::npos) return {Operation::kModel, rest};
  Endpoint e{
      .op = Operation::kChat, .model = rest.substr(0, colon), .method = rest.substr(colon + 1)};
  if (e.method == "generateContent") return e;
  if (e.method == "streamGenerateContent") {
    e.stream = true;
    if (wants_sse(query)) return e;
    // Without alt=sse the API streams a JSON array, which the mock does not speak.
    return {.op = Operation::kReject,
            .status = 400,
            .message = "the mock streams streamGenerateContent only with alt=sse"};
  }
  if (e.method == "countTokens") {
    e.op = Operation::kCountTokens;
    return e;
  }
  if (e.method == "embedContent" || e.method == "batchEmbedContents") {
    e.op = Operation::kEmbed;
    return e;
  }
  if (!path.starts_with(kBeta)) return {};
  return {.op = Operation::kReject, .status = 404, .message = "Method not found."};
}

std::int64_t count_part_words(const json::value& content) {
  const json::array* parts = array_member(&content, "parts");
  return parts == nullptr ? 0 : count_text_words(*parts);
}

// contents and systemInstruction of a GenerateContentRequest.
base::Status read_prompt(const json::object& obj, ChatRequest& chat) {
  const json::value* contents = obj.if_contains("contents");
  const json::array* list = contents == nullptr ? nullptr : contents->if_array();
  if (list == nullptr || list->empty()) {
    return bad_request("* GenerateContentRequest.contents: contents is not specified");
  }
  for (const json::value& content : *list) {
    if (!content.is_object()) {
      return bad_request("Invalid value at 'contents': each content must be an object");
    }
    chat.prompt_tokens += count_part_words(content);
  }
  if (const json::value* system = field(&obj, "systemInstruction", "system_instruction")) {
    chat.prompt_tokens += count_part_words(*system);
  }
  return base::Ok{};
}

// The function to call: the first of allowedFunctionNames, else the first declared; none when
// the function calling mode is NONE or nothing is declared.
std::string_view chosen_function(const json::object& obj) {
  const json::object* config = object_field(object_field(&obj, "toolConfig", "tool_config"),
                                            "functionCallingConfig", "function_calling_config");
  if (const json::value* mode = field(config, "mode", "mode"); mode && mode->is_string()) {
    if (mode->get_string() == "NONE") return {};
  }
  const json::value* allowed = field(config, "allowedFunctionNames", "allowed_function_names");
  if (allowed != nullptr && allowed->is_array() && !allowed->get_array().empty() &&
      allowed->get_array().front().is_string()) {
    return allowed->get_array().front().get_string();
  }
  const json::array* tools = array_member(&obj, "tools");
  if (tools == nullptr) return {};
  for (const json::value& tool : *tools) {
    const json::value* declarations =
        field(tool.if_object(), "functionDeclarations", "function_declarations");
    if (declarations == nullptr || !declarations->is_array()) continue;
    for (const json::value& declaration : declarations->get_array()) {
      const json::value* name = field(declaration.if_object(), "name", "name");
      if (name != nullptr && name->is_string()) return name->get_string();
    }
  }
  return {};
}

base::Result<ChatRequest> interpret(const json::value& body, const Endpoint& endpoint) {
  const json::object* obj = body.if_object();
  if (obj == nullptr) return bad_request("Invalid JSON payload received: expected an object.");
  ChatRequest chat;
  chat.model = endpoint.model;
  chat.stream = endpoint.stream;
  if (auto s = read_prompt(*obj, chat); !s) return std::move(s).error();

  const json::object* config = object_field(obj, "generationConfig", "generation_config");
  if (const json::value* max = field(config, "maxOutputTokens", "max_output_tokens")) {
    if (max->is_int64() && max->get_int64() >= 0) {
      chat.max_tokens = max->get_int64();
    } else if (!max->is_null()) {
      return bad_request(
          "Invalid value at 'generation_config.max_output_tokens': expected a non-negative "
          "integer");
    }
  }
  const json::value* include = field(object_field(config, "thinkingConfig", "thinking_config"),
                                     "includeThoughts", "include_thoughts");
  chat.thinking = include != nullptr && include->is_bool() && include->get_bool();

  // A function call answers a user turn; a turn carrying a functionResponse gets text.
  const json::object& last = obj->at("contents").get_array().back().get_object();
  if (const json::value* role = last.if_contains("role");
      role && role->is_string() && role->get_string() != "user") {
    return chat;
  }
  std::string_view text;
  if (const json::array* parts = array_member(&last, "parts")) {
    for (const json::value& part : *parts) {
      if (field(part.if_object(), "functionResponse", "function_response") != nullptr) return chat;
      if (const json::string* t = string_member(&part, "text")) text = *t;
    }
  }
  offer_tool_call(chat, chosen_function(*obj), text);
  return chat;
}

// The embedding of a Content: its parts' texts, concatenated.
void append_content_embedding(std::string& out, const json::value* content) {
  TextHash hash;
  if (const json::array* parts = array_member(content, "parts")) {
    for (const json::value& part : *parts) {
      if (const json::string* text = string_member(&part, "text")) hash.add(*text);
    }
  }
  out.append("{\"values\":");
  append_embedding_array(out, hash.value);
  out.push_back('}');
}

base::Status append_answer_now(std::string& out, const json::value& body,
                               const Endpoint& endpoint) {
  const json::object* obj = body.if_object();
  if (obj == nullptr) return bad_request("Invalid JSON payload received: expected an object.");
  if (endpoint.op == Operation::kCountTokens) {
    // Either contents, or a whole generateContentRequest.
    const json::object* request =
        object_field(obj, "generateContentRequest", "generate_content_request");
    ChatRequest chat;
    if (auto s = read_prompt(request != nullptr ? *request : *obj, chat); !s) return s;
    out.append("{\"totalTokens\":");
    append_int(out, chat.prompt_tokens);
    out.push_back('}');
    return base::Ok{};
  }
  if (endpoint.method == "embedContent") {
    const json::value* content = obj->if_contains("content");
    if (content == nullptr || !content->is_object()) {
      return bad_request("* EmbedContentRequest.content: content is not specified");
    }
    out.append("{\"embedding\":");
    append_content_embedding(out, content);
    out.push_back('}');
    return base::Ok{};
  }
  const json::value* requests = obj->if_contains("requests");
  if (requests == nullptr || !requests->is_array() || requests->get_array().empty()) {
    return bad_request("* BatchEmbedContentsRequest.requests: requests is not specified");
  }
  out.append("{\"embeddings\":[");
  bool first = true;
  for (const json::value& request : requests->get_array()) {
    const json::value* content = member(&request, "content");
    if (content == nullptr || !content->is_object()) {
      return bad_request(
          "* BatchEmbedContentsRequest.requests[].content: content is not specified");
    }
    if (!first) out.push_back(',');
    first = false;
    append_content_embedding(out, content);
  }
  out.append("]}");
  return base::Ok{};
}

// https://ai.google.dev/gemini-api/docs/troubleshooting#error-codes
std::string_view status_name(int status) {
  switch (status) {
    case 400:
      return "INVALID_ARGUMENT";
    case 401:
      return "UNAUTHENTICATED";
    case 403:
      return "PERMISSION_DENIED";
    case 404:
      return "NOT_FOUND";
    case 409:
      return "ABORTED";
    case 429:
      return "RESOURCE_EXHAUSTED";
    case 499:
      return "CANCELLED";
    case 501:
      return "UNIMPLEMENTED";
    case 503:
      return "UNAVAILABLE";
    case 504:
      return "DEADLINE_EXCEEDED";
    default:
      return status >= 500 ? "INTERNAL" : "FAILED_PRECONDITION";
  }
}

void append_error(std::string& out, int status, std::string_view message,
                  std::string_view /*code*/) {
  out.append("{\"error\":{\"code\":");
  append_int(out, status);
  out.append(",\"message\":");
  append_json_string(out, message);
  out.append(",\"status\":\"");
  out.append(status_name(status));
  out.append("\"}}");
}

void append_context_length_error(std::string& out, std::int64_t max_context,
                                 std::int64_t prompt_tokens) {
  std::string message = "The input token count (";
  append_int(message, prompt_tokens);
  message.append(") exceeds the maximum number of tokens allowed (");
  append_int(message, max_context);
  message.append(").");
  append_error(out, 400, message, {});
}

std::string_view finish_reason(const ChatAnswer& answer) {
  return answer.truncated ? "MAX_TOKENS" : "STOP";
}

void append_thought_part(std::string& out) {
  out.append("{\"text\":\"");
  out.append(kThinkingText);
  out.append("\",\"thought\":true}");
}

void append_function_call_part(std::string& out, const ChatAnswer& answer) {
  out.append("{\"functionCall\":{\"name\":");
  append_json_string(out, answer.request.tool_name);
  out.append(",\"args\":");
  append_arguments(out, answer.request.tool_query, false);
  out.push_back('}');
  if (answer.thinking_tokens > 0) {
    out.append(",\"thoughtSignature\":\"");
    out.append(kThoughtSignature);
    out.push_back('"');
  }
  out.push_back('}');
}

// Thoughts are counted apart from the candidates, and in the total.
void append_usage_metadata(std::string& out, const ChatAnswer& answer) {
  const std::int64_t prompt = answer.request.prompt_tokens;
  out.append(",\"usageMetadata\":{\"promptTokenCount\":");
  append_int(out, prompt);
  out.append(",\"candidatesTokenCount\":");
  append_int(out, answer.tokens);
  out.append(",\"totalTokenCount\":");
  append_int(out, prompt + answer.tokens + answer.thinking_tokens);
  if (answer.thinking_tokens > 0) {
    out.append(",\"thoughtsTokenCount\":");
    append_int(out, answer.thinking_tokens);
  }
  out.push_back('}');
}

// `,"modelVersion":...,"responseId":...}`: how every response ends.
void append_response_end(std::string& out, const ChatAnswer& answer) {
  out.append(",\"modelVersion\":");
  append_json_string(out, answer.request.model);
  out.append(",\"responseId\":\"mock-");
  append_int(out, static_cast<std::int64_t>(answer.id));
  out.append("\"}");
}

// A response with one candidate: kCandidateStart, its parts, then append_candidate_end().
constexpr std::string_view kCandidateStart = "{\"candidates\":[{\"content\":{\"parts\":[";

// The candidate after its parts: its role, its finish reason when `finished`, its index, then the
// usage when `finished`.
void append_candidate_end(std::string& out, const ChatAnswer& answer, bool finished) {
  out.append("],\"role\":\"model\"}");
  if (finished) {
    out.append(",\"finishReason\":\"");
    out.append(finish_reason(answer));
    out.push_back('"');
  }
  out.append(",\"index\":0}]");
  if (finished && !answer.no_usage) append_usage_metadata(out, answer);
}

void append_completion(std::string& out, const ChatAnswer& answer) {
  out.append(kCandidateStart);
  if (answer.thinking_tokens > 0) {
    append_thought_part(out);
    out.push_back(',');
  }
  if (answer.tool_call) {
    append_function_call_part(out, answer);
  } else {
    out.append("{\"text\":\"");
    append_all_content(out, answer);
    out.append("\"}");
  }
  append_candidate_end(out, answer, true);
  append_response_end(out, answer);
}

// Streams: `data: <GenerateContentResponse>\n\n` events: the thought (when asked for), one per
// content token (a function call is one), then a closing one with an empty text part, the finish
// reason and the usage. `scratch` keeps the end every event shares.

void append_stream_open(std::string& out, std::string& scratch, const ChatAnswer& answer) {
  scratch.clear();
  append_response_end(scratch, answer);
  scratch.append("\n\n");
  if (answer.thinking_tokens > 0) {
    out.append("data: ");
    out.append(kCandidateStart);
    append_thought_part(out);
    append_candidate_end(out, answer, false);
    out.append(scratch);
  }
}

std::int64_t stream_content_events(const ChatAnswer& answer) {
  return answer.tool_call ? 1 : answer.tokens;
}

void append_stream_token(std::string& out, const std::string& scratch, const ChatAnswer& answer,
                         std::int64_t i) {
  out.append("data: ");
  out.append(kCandidateStart);
  if (answer.tool_call) {
    append_function_call_part(out, answer);
  } else {
    out.append("{\"text\":\"");
    append_content(out, answer, i);
    out.append("\"}");
  }
  append_candidate_end(out, answer, false);
  out.append(scratch);
}

int stream_tail_events(const ChatAnswer& /*answer*/) { return 1; }

void append_stream_tail(std::string& out, const std::string& scratch, const ChatAnswer& answer,
                        int /*k*/) {
  out.append("data: ");
  out.append(kCandidateStart);
  out.append("{\"text\":\"\"}");
  append_candidate_end(out, answer, true);
  out.append(scratch);
}

// The Gemini API sends no rate-limit headers; a 429 says it all.
void append_ratelimit_headers(std::string& /*out*/, std::int64_t /*remaining*/,
                              std::string_view /*reset*/, std::int64_t /*reset_ms*/) {}

void append_model(std::string& out, std::string_view id) {
  out.append("{\"name\":\"models/");
  append_json_escaped(out, id);
  out.append("\",\"version\":\"001\",\"displayName\":");
  append_json_string(out, id);
  out.append(
      ",\"description\":\"A mock model.\",\"inputTokenLimit\":1048576,\"outputTokenLimit\":65536,"
      "\"supportedGenerationMethods\":[\"generateContent\",\"countTokens\",\"embedContent\","
      "\"batchEmbedContents\"]}");
}

std::string render_model_list(const std::vector<std::string>& models) {
  return render_list("{\"models\":[", models, append_model, "]}");
}

}  // namespace

constinit const Dialect kGeminiDialect{
    .marker_header = {},
    .match = match,
    .required_header = {},
    .missing_header_message = {},
    .interpret = interpret,
    .append_answer_now = append_answer_now,
    .invalid_json_message = "Invalid JSON payload received.",
    .append_error = append_error,
    .append_context_length_error = append_context_length_error,
    .append_completion = append_completion,
    .append_stream_open = append_stream_open,
    .stream_content_events = stream_content_events,
    .append_stream_token = append_stream_token,
    .stream_tail_events = stream_tail_events,
    .append_stream_tail = append_stream_tail,
    .malformed_event = "data: {\"candidates\": broken\n\n",
    .error_event =
        "data: {\"error\":{\"code\":503,\"message\":\"mock fault: error event\","
        "\"status\":\"UNAVAILABLE\"}}\n\n",
    .append_ratelimit_headers = append_ratelimit_headers,
    .render_model_list = render_model_list,
    .append_model = append_model,
};

}  // namespace shepherd::mock::detail
