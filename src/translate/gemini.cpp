#include "translate/gemini.hpp"

#include <boost/json.hpp>
#include <boost/json/basic_parser_impl.hpp>
#include <charconv>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace shepherd::translate {
namespace json = boost::json;
using base::ErrorCode;

namespace {

// Nesting limit for what this file parses on its own: provider answers, and the tool arguments
// and results inside a request (the request itself was depth-checked by its decoder).
constexpr int kMaxDepth = 128;
// Longest provider message passed on to clients and logs.
constexpr std::size_t kMaxMessage = 500;
// Between a tool call's own id and the thought signature it carries (see call_id()).
constexpr std::string_view kSignatureMark = "_ts_";
// Stack space for the JSON trees built per call; larger documents continue on the heap.
constexpr std::size_t kArena = 4096;

// --- small helpers -------------------------------------------------------------------------------

std::string_view view(const json::string& s) { return {s.data(), s.size()}; }
json::string_view jview(std::string_view s) { return {s.data(), s.size()}; }

const json::string* string_field(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(jview(key));
  return v ? v->if_string() : nullptr;
}

const json::object* object_field(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(jview(key));
  return v ? v->if_object() : nullptr;
}

// A non-negative token count; 0 when absent or not a number.
std::int64_t count_field(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(jview(key));
  if (!v) return 0;
  if (const auto* i = v->if_int64()) return *i > 0 ? *i : 0;
  if (const auto* u = v->if_uint64()) {
    return *u > static_cast<std::uint64_t>(INT64_MAX) ? INT64_MAX : static_cast<std::int64_t>(*u);
  }
  if (const auto* d = v->if_double(); d && *d > 0 && *d < 9.2e18) {
    return static_cast<std::int64_t>(*d);
  }
  return 0;
}

base::Error bad_request(std::string message, std::string param) {
  auto e = base::make_error(ErrorCode::kBadRequest, std::move(message));
  e.param = std::move(param);
  return e;
}

base::Error unreadable(std::string_view why) {
  auto e = base::make_error(ErrorCode::kUpstreamUnreachable,
                            "the upstream answer could not be read: " + std::string(why));
  e.retryable = true;
  return e;
}

// The length of the longest prefix of `s` of at most `max` bytes that does not split a UTF-8
// sequence.
std::size_t utf8_prefix(std::string_view s, std::size_t max) {
  if (s.size() <= max) return s.size();
  std::size_t n = max;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  return n;
}

std::string excerpt(std::string_view s) {
  std::string out(s.substr(0, utf8_prefix(s, kMaxMessage)));
  for (char& c : out) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) c = ' ';
  }
  return out;
}

// The message of a Google API error object ({"code","message","status"}, AIP-193), cut to
// kMaxMessage; empty when it has none.
std::string error_object_message(const json::object& error) {
  const json::string* m = string_field(error, "message");
  return m ? excerpt(view(*m)) : std::string();
}

void append_json(std::string& out, const json::value& v) {
  json::serializer sr;
  sr.reset(&v);
  char buf[2048];
  while (!sr.done()) {
    const auto piece = sr.read(buf, sizeof buf);
    out.append(piece.data(), piece.size());
  }
}

bool starts_with(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

bool is_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

bool is_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

// --- tool call ids -------------------------------------------------------------------------------
//
// Gemini's functionCall usually has no id, and a call's thoughtSignature must be sent back on
// the same part in the next turn (https://ai.google.dev/gemini-api/docs/thought-signatures).
// Clients return a call's id unchanged with its result, so the id carries both:
//
//   <base>[_ts_<signature as base64url, unpadded>]
//
// where <base> is the call's own id when Gemini gave one, else "call_<k>_<tag>": k counts the
// answer's calls and tag is a hash of the responseId (of the call itself when the answer has no
// responseId), so calls of different answers get different ids. Every id matches
// ^[a-zA-Z0-9_-]+$, the rule Anthropic sets for tool_use ids.

// Whether `id` may be sent to clients as is.
bool valid_id(std::string_view id) {
  if (id.empty()) return false;
  for (char c : id) {
    if (!is_alnum(c) && c != '_' && c != '-') return false;
  }
  return true;
}

std::uint64_t fnv1a(std::string_view s) {
  std::uint64_t h = 14695981039346656037ull;
  for (char c : s) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ull;
  }
  return h;
}

constexpr std::size_t kTagLength = 16;

void append_hex(std::string& out, std::uint64_t v) {
  static constexpr char kDigits[] = "0123456789abcdef";
  for (int shift = 60; shift >= 0; shift -= 4) out.push_back(kDigits[(v >> shift) & 0xF]);
}

// Whether `base` is an id Shepherd made up ("call_<k>_<tag>"), which Gemini never saw.
bool generated_id(std::string_view base) {
  if (!starts_with(base, "call_")) return false;
  std::size_t i = 5;
  const std::size_t digits = i;
  while (i < base.size() && base[i] >= '0' && base[i] <= '9') ++i;
  if (i == digits || i >= base.size() || base[i] != '_') return false;
  ++i;
  if (base.size() - i != kTagLength) return false;
  for (; i < base.size(); ++i) {
    if (!is_hex(base[i])) return false;
  }
  return true;
}

// Gemini sends bytes fields (thoughtSignature) in standard base64; ids take the URL alphabet
// without padding (RFC 4648 §5). Empty when `s` is not base64 of either alphabet.
std::string to_base64url(std::string_view s) {
  while (!s.empty() && s.back() == '=') s.remove_suffix(1);
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    if (is_alnum(c) || c == '-' || c == '_') {
      out.push_back(c);
    } else if (c == '+') {
      out.push_back('-');
    } else if (c == '/') {
      out.push_back('_');
    } else {
      return {};
    }
  }
  return out;
}

// The inverse of to_base64url: standard, padded base64. nullopt when `s` cannot be base64url.
std::optional<std::string> from_base64url(std::string_view s) {
  if (s.empty() || s.size() % 4 == 1) return std::nullopt;
  std::string out;
  out.reserve(s.size() + 3);
  for (char c : s) {
    if (is_alnum(c)) {
      out.push_back(c);
    } else if (c == '-') {
      out.push_back('+');
    } else if (c == '_') {
      out.push_back('/');
    } else {
      return std::nullopt;
    }
  }
  while (out.size() % 4 != 0) out.push_back('=');
  return out;
}

// The id for the `index`-th function call of an answer: `part` holds `call` (a functionCall).
std::string call_id(int index, const json::object& part, const json::object& call,
                    std::string_view response_id) {
  std::string id;
  const json::string* own = string_field(call, "id");
  if (own && valid_id(view(*own)) && view(*own).find(kSignatureMark) == std::string_view::npos) {
    id.assign(view(*own));
  } else {
    id.append("call_").append(std::to_string(index)).push_back('_');
    append_hex(id, response_id.empty() ? fnv1a(json::serialize(call)) : fnv1a(response_id));
  }
  if (const json::string* signature = string_field(part, "thoughtSignature")) {
    const std::string url = to_base64url(view(*signature));
    if (!url.empty()) id.append(kSignatureMark).append(url);
  }
  return id;
}

struct CallId {
  std::string_view base;                 // the id Gemini knows the call by (or Shepherd's)
  std::optional<std::string> signature;  // the thoughtSignature, standard base64
};

CallId split_call_id(std::string_view id) {
  const std::size_t at = id.find(kSignatureMark);
  if (at == std::string_view::npos || at == 0) return {id, std::nullopt};
  auto signature = from_base64url(id.substr(at + kSignatureMark.size()));
  if (!signature) return {id, std::nullopt};
  return {id.substr(0, at), std::move(signature)};
}

// --- finish reasons and usage --------------------------------------------------------------------

enum class Finish { kNone, kStop, kMaxTokens, kFiltered, kBadCall };

// https://ai.google.dev/api/generate-content#FinishReason
Finish classify(std::string_view reason) {
  if (reason.empty() || reason == "FINISH_REASON_UNSPECIFIED") return Finish::kNone;
  if (reason == "MAX_TOKENS") return Finish::kMaxTokens;
  // OTHER is documented as "all other reasons that stopped the token generation": not the
  // natural end STOP stands for, and in practice an unexplained block; it reads as a filter so
  // clients do not take a cut answer for a complete one.
  if (reason == "SAFETY" || reason == "RECITATION" || reason == "BLOCKLIST" ||
      reason == "PROHIBITED_CONTENT" || reason == "SPII" || reason == "IMAGE_SAFETY" ||
      reason == "IMAGE_PROHIBITED_CONTENT" || reason == "IMAGE_RECITATION" ||
      reason == "LANGUAGE" || reason == "MODEL_ARMOR" || reason == "OTHER") {
    return Finish::kFiltered;
  }
  // The model produced a call that could not be parsed or was not allowed: the answer holds
  // nothing usable.
  if (reason == "MALFORMED_FUNCTION_CALL" || reason == "UNEXPECTED_TOOL_CALL") {
    return Finish::kBadCall;
  }
  return Finish::kStop;
}

StopReason stop_reason(Finish finish, bool has_calls) {
  switch (finish) {
    case Finish::kMaxTokens:
      return StopReason::kMaxTokens;
    case Finish::kFiltered:
      return StopReason::kContentFilter;
    case Finish::kBadCall:
      return StopReason::kEndTurn;
    case Finish::kNone:
    case Finish::kStop:
      break;
  }
  return has_calls ? StopReason::kToolUse : StopReason::kEndTurn;
}

// usageMetadata (https://ai.google.dev/api/generate-content#UsageMetadata): promptTokenCount
// already counts cachedContentTokenCount; thoughtsTokenCount is not in candidatesTokenCount.
// nullopt when the answer carries no count (stream chunks may carry only trafficType).
std::optional<Usage> read_usage(const json::object& root) {
  const json::object* m = object_field(root, "usageMetadata");
  if (!m) return std::nullopt;
  if (!m->contains("promptTokenCount") && !m->contains("candidatesTokenCount") &&
      !m->contains("thoughtsTokenCount") && !m->contains("totalTokenCount")) {
    return std::nullopt;
  }
  Usage u;
  u.prompt_tokens =
      count_field(*m, "promptTokenCount") + count_field(*m, "toolUsePromptTokenCount");
  u.cache_read_tokens = count_field(*m, "cachedContentTokenCount");
  u.reasoning_tokens = count_field(*m, "thoughtsTokenCount");
  u.completion_tokens = count_field(*m, "candidatesTokenCount") + u.reasoning_tokens;
  return u;
}

const json::object* first_candidate(const json::object& root) {
  const json::value* c = root.if_contains("candidates");
  const json::array* a = c ? c->if_array() : nullptr;
  return a && !a->empty() ? a->front().if_object() : nullptr;
}

const json::array* candidate_parts(const json::object& candidate) {
  const json::object* content = object_field(candidate, "content");
  const json::value* parts = content ? content->if_contains("parts") : nullptr;
  return parts ? parts->if_array() : nullptr;
}

std::string_view finish_reason(const json::object& candidate) {
  const json::string* r = string_field(candidate, "finishReason");
  return r ? view(*r) : std::string_view();
}

// One part of a candidate's content, read into the common form.
struct ReadPart {
  enum class Kind { kSkip, kText, kThinking, kCall } kind = Kind::kSkip;
  std::string_view text;  // kText, kThinking
  std::string_view name;  // kCall
  std::string arguments;  // kCall: compact JSON
};

base::Result<ReadPart> read_part(const json::value& value) {
  ReadPart out;
  const json::object* part = value.if_object();
  if (!part) return unreadable("a content part is not an object");
  if (const json::value* call = part->if_contains("functionCall")) {
    const json::object* c = call->if_object();
    const json::string* name = c ? string_field(*c, "name") : nullptr;
    if (!name) return unreadable("a functionCall has no name");
    out.kind = ReadPart::Kind::kCall;
    out.name = view(*name);
    const json::value* args = c->if_contains("args");
    if (args && args->is_object()) {
      append_json(out.arguments, *args);
    } else {
      out.arguments = "{}";
    }
    return out;
  }
  if (const json::string* text = string_field(*part, "text")) {
    if (text->empty()) return out;  // e.g. the empty part that carries a final signature
    const json::value* thought = part->if_contains("thought");
    out.kind = thought && thought->is_bool() && thought->get_bool() ? ReadPart::Kind::kThinking
                                                                    : ReadPart::Kind::kText;
    out.text = view(*text);
  }
  return out;
}

// --- request encoding ----------------------------------------------------------------------------

std::string part_param(std::size_t message, std::size_t part) {
  return "messages[" + std::to_string(message) + "].content[" + std::to_string(part) + "]";
}

// A JSON object parsed from `text`, in `sp`; null when `text` is not one.
json::value parse_object(std::string_view text, const json::storage_ptr& sp) {
  json::parse_options opts;
  opts.max_depth = kMaxDepth;
  boost::system::error_code ec;
  json::value v = json::parse(jview(text), ec, sp, opts);
  if (ec || !v.is_object()) return json::value(sp);
  return v;
}

// An image part as inlineData (https://ai.google.dev/api/caching#Blob). The Gemini API reads
// only inline bytes or files it stores; Shepherd never fetches URLs for a client.
base::Status add_image(const Part& image, std::string param, json::array& parts) {
  std::string_view mime = image.media_type;
  std::string_view data = image.data;
  if (data.empty() && starts_with(image.url, "data:")) {
    // data:<media type>;base64,<data> (RFC 2397)
    const std::string_view url = image.url;
    const std::size_t comma = url.find(',');
    const std::string_view meta = url.substr(5, comma == std::string_view::npos ? 0 : comma - 5);
    constexpr std::string_view kBase64 = ";base64";
    if (comma == std::string_view::npos || meta.size() < kBase64.size() ||
        meta.substr(meta.size() - kBase64.size()) != kBase64) {
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
  blob["mimeType"] = jview(mime);
  blob["data"] = jview(data);
  return base::Ok{};
}

struct Call {
  std::string_view id;
  std::string_view name;
};

// `contents` (https://ai.google.dev/api/generate-content#request-body): user and model turns,
// consecutive messages of one role merged, since Gemini expects turns to alternate.
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
      switch (part.kind) {
        case Part::Kind::kText:
          if (!part.text.empty()) {
            turn(message.role).emplace_back(json::object_kind).as_object()["text"] =
                jview(part.text);
          }
          break;
        case Part::Kind::kImage:
          if (auto s = add_image(part, part_param(m, p), turn(message.role)); !s) return s;
          break;
        case Part::Kind::kToolCall: {
          json::array& to = turn(message.role);
          const json::storage_ptr& sp = to.storage();
          json::value args = part.arguments.empty() ? json::value(json::object(sp))
                                                    : parse_object(part.arguments, sp);
          if (!args.is_object()) {
            return bad_request("the tool call's arguments must be a JSON object",
                               part_param(m, p) + ".arguments");
          }
          const CallId id = split_call_id(part.id);
          json::object& out = to.emplace_back(json::object_kind).as_object();
          json::object& call = out["functionCall"].emplace_object();
          if (!id.base.empty() && !generated_id(id.base)) call["id"] = jview(id.base);
          call["name"] = jview(part.name);
          call["args"] = std::move(args);
          if (id.signature) out["thoughtSignature"] = jview(*id.signature);
          if (message.role == Role::kAssistant) calls.push_back({part.id, part.name});
          break;
        }
        case Part::Kind::kToolResult: {
          // Gemini names the function a response answers; the common form names the call by id.
          std::string_view name;
          for (auto it = calls.rbegin(); it != calls.rend(); ++it) {
            if (it->id == part.id) {
              name = it->name;
              break;
            }
          }
          if (name.empty()) {
            return bad_request("this tool result answers call id \"" + excerpt(part.id) +
                                   "\", but no earlier assistant message made a call with that "
                                   "id; the Gemini API needs the called function's name, so send "
                                   "the assistant turn with the call before its result",
                               part_param(m, p));
          }
          std::string text = part.text;
          for (const Part& c : part.content) {
            if (c.kind != Part::Kind::kText) continue;
            if (!text.empty()) text.push_back('\n');
            text += c.text;
          }
          json::array& to = turn(message.role);
          const json::storage_ptr& sp = to.storage();
          // FunctionResponse.response is an object: "output"/"result" for the result, "error"
          // for a failure (https://ai.google.dev/api/caching#FunctionResponse).
          json::value parsed = parse_object(text, sp);
          json::object& response =
              to.emplace_back(json::object_kind).as_object()["functionResponse"].emplace_object();
          const CallId id = split_call_id(part.id);
          if (!generated_id(id.base)) response["id"] = jview(id.base);
          response["name"] = jview(name);
          if (part.is_error) {
            json::object& r = response["response"].emplace_object();
            if (parsed.is_object()) {
              r["error"] = std::move(parsed);
            } else {
              r["error"] = jview(text);
            }
          } else if (parsed.is_object()) {
            response["response"] = std::move(parsed);
          } else {
            response["response"].emplace_object()["result"] = jview(text);
          }
          // Images a tool returned follow its response as parts of the same turn.
          for (std::size_t c = 0; c < part.content.size(); ++c) {
            if (part.content[c].kind != Part::Kind::kImage) continue;
            auto s = add_image(part.content[c],
                               part_param(m, p) + ".content[" + std::to_string(c) + "]", to);
            if (!s) return s;
          }
          break;
        }
        case Part::Kind::kThinking:
        case Part::Kind::kRedactedThinking:
          // Gemini takes back thought signatures (carried in call ids), never thought text.
          break;
      }
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
    for (const auto& s : request.stop) stops.emplace_back(jview(s));
  }
  if (request.presence_penalty) config["presencePenalty"] = *request.presence_penalty;
  if (request.frequency_penalty) config["frequencyPenalty"] = *request.frequency_penalty;
  if (request.seed) config["seed"] = *request.seed;
  switch (request.response_format.kind) {
    case ResponseFormat::Kind::kText:
      break;
    case ResponseFormat::Kind::kJsonObject:
      config["responseMimeType"] = "application/json";
      break;
    case ResponseFormat::Kind::kJsonSchema:
      config["responseMimeType"] = "application/json";
      // responseJsonSchema takes JSON Schema as clients write it; responseSchema would need
      // the OpenAPI subset (https://ai.google.dev/api/generate-content#GenerationConfig).
      if (request.response_format.schema.is_object()) {
        config["responseJsonSchema"] = request.response_format.schema;
      }
      break;
  }
  std::optional<std::int64_t> budget = request.thinking_budget;
  if (!budget) budget = effort_budget(request.reasoning_effort);
  if (budget) {
    json::object& thinking = config["thinkingConfig"].emplace_object();
    thinking["thinkingBudget"] = *budget;
    thinking["includeThoughts"] = true;
  }
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
    d["name"] = jview(tool.name);
    if (!tool.description.empty()) d["description"] = jview(tool.description);
    // parametersJsonSchema takes JSON Schema as is, where `parameters` takes the OpenAPI subset
    // (https://ai.google.dev/api/caching#FunctionDeclaration).
    if (tool.parameters.is_object()) d["parametersJsonSchema"] = tool.parameters;
  }
  if (!request.tool_choice) return;
  // https://ai.google.dev/api/caching#FunctionCallingConfig; Gemini has no switch for
  // parallel calls, so parallel_calls = false is not expressed.
  json::object& calling =
      body["toolConfig"].emplace_object()["functionCallingConfig"].emplace_object();
  switch (request.tool_choice->mode) {
    case ToolChoice::Mode::kAuto:
      calling["mode"] = "AUTO";
      break;
    case ToolChoice::Mode::kNone:
      calling["mode"] = "NONE";
      break;
    case ToolChoice::Mode::kRequired:
      calling["mode"] = "ANY";
      break;
    case ToolChoice::Mode::kTool:
      calling["mode"] = "ANY";
      calling["allowedFunctionNames"].emplace_array().emplace_back(
          jview(request.tool_choice->name));
      break;
  }
}

// --- stream decoding -----------------------------------------------------------------------------

// streamGenerateContent?alt=sse: each event's data is a whole GenerateContentResponse; the
// stream has no end event, it ends with the body.
class GeminiStreamDecoder final : public StreamDecoder {
 public:
  base::Status feed(std::string_view, std::string_view data, std::vector<Delta>& out) override {
    if (failed_) return base::Ok{};
    if (data.find_first_not_of(" \t\r\n") == std::string_view::npos) return base::Ok{};
    unsigned char arena[kArena];
    json::monotonic_resource resource(arena, sizeof arena);
    json::parse_options opts;
    opts.max_depth = kMaxDepth;
    boost::system::error_code ec;
    const json::value v = json::parse(jview(data), ec, &resource, opts);
    if (ec) return unreadable("a stream event is not JSON");
    const json::object* root = v.if_object();
    if (!root) return unreadable("a stream event is not a JSON object");

    if (const json::value* e = root->if_contains("error")) {
      failed_ = true;
      out.push_back(error_delta(e->if_object()));
      return base::Ok{};
    }

    if (!started_) {
      started_ = true;
      Delta& start = out.emplace_back();
      start.kind = Delta::Kind::kStart;
      if (const auto* id = string_field(*root, "responseId")) start.id = view(*id);
      if (const auto* model = string_field(*root, "modelVersion")) start.model = view(*model);
    }

    const json::object* candidate = first_candidate(*root);
    Finish finish = Finish::kNone;
    if (candidate && !finished_) {
      if (const json::array* parts = candidate_parts(*candidate)) {
        const json::string* response_id = string_field(*root, "responseId");
        for (const json::value& p : *parts) {
          auto read = read_part(p);
          if (!read) return std::move(read).error();
          switch (read->kind) {
            case ReadPart::Kind::kSkip:
              break;
            case ReadPart::Kind::kText:
            case ReadPart::Kind::kThinking: {
              Delta& d = out.emplace_back();
              d.kind =
                  read->kind == ReadPart::Kind::kText ? Delta::Kind::kText : Delta::Kind::kThinking;
              d.text = read->text;
              break;
            }
            case ReadPart::Kind::kCall: {
              // A functionCall arrives whole in one chunk: announce it, then its arguments.
              const int index = calls_++;
              Delta& call = out.emplace_back();
              call.kind = Delta::Kind::kToolCall;
              call.index = index;
              call.id = call_id(index, p.get_object(), p.at("functionCall").get_object(),
                                response_id ? view(*response_id) : std::string_view());
              call.name = read->name;
              Delta& args = out.emplace_back();
              args.kind = Delta::Kind::kToolArguments;
              args.index = index;
              args.text = std::move(read->arguments);
              break;
            }
          }
        }
      }
      finish = classify(finish_reason(*candidate));
    } else if (!candidate && !finished_) {
      // A blocked prompt: no candidates, promptFeedback.blockReason set
      // (https://ai.google.dev/api/generate-content#PromptFeedback).
      const json::object* feedback = object_field(*root, "promptFeedback");
      if (feedback && string_field(*feedback, "blockReason")) finish = Finish::kFiltered;
    }
    if (finish != Finish::kNone) {
      finished_ = true;
      Delta& d = out.emplace_back();
      d.kind = Delta::Kind::kFinish;
      d.stop_reason = stop_reason(finish, calls_ > 0);
    }
    // Each chunk may repeat the running totals; the last one holds the answer's.
    if (auto usage = read_usage(*root)) usage_ = *usage;
    return base::Ok{};
  }

  void end(std::vector<Delta>& out) override {
    if (failed_ || !finished_) return;  // a stream cut before its finish reason: not complete
    if (usage_) {
      Delta& d = out.emplace_back();
      d.kind = Delta::Kind::kUsage;
      d.usage = *usage_;
    }
    out.emplace_back().kind = Delta::Kind::kDone;
  }

 private:
  static Delta error_delta(const json::object* error) {
    Delta d;
    d.kind = Delta::Kind::kError;
    d.error.code = ErrorCode::kUpstreamStatus;
    d.error.message = error ? error_object_message(*error) : std::string();
    if (d.error.message.empty()) d.error.message = "the upstream reported an error in the stream";
    if (error) {
      if (const json::value* code = error->if_contains("code")) {
        if (const auto* i = code->if_int64(); i && *i >= 100 && *i <= 599) {
          d.error.status = static_cast<int>(*i);
        }
      }
      if (const json::string* status = string_field(*error, "status")) {
        d.error.detail = "Gemini stream error " + excerpt(view(*status));
      }
    }
    if (d.error.status == 0) d.error.status = 500;
    d.error.retryable = d.error.status == 429 || d.error.status >= 500;
    return d;
  }

  bool started_ = false;
  bool finished_ = false;
  bool failed_ = false;
  int calls_ = 0;
  std::optional<Usage> usage_;
};

// --- embeddings ----------------------------------------------------------------------------------

// Reads a batchEmbedContents answer while Boost.JSON's parser walks it, writing the OpenAI list
// as it goes: an answer holds thousands of numbers and needs no tree. Numbers are read exactly
// (std::from_chars) and written as Boost.JSON writes doubles, so each value survives as is.
// Depth counts open containers: top-level fields live at depth 1, the embeddings at 2, their
// fields at 3 and the values at 4.
class EmbeddingsHandler {
 public:
  using error_code = boost::system::error_code;
  static constexpr std::size_t max_object_size = std::size_t(-1);
  static constexpr std::size_t max_array_size = std::size_t(-1);
  static constexpr std::size_t max_key_size = std::size_t(-1);
  static constexpr std::size_t max_string_size = std::size_t(-1);

  explicit EmbeddingsHandler(std::string& out) : out_(out) {}

  std::string why;  // set when the answer does not have the expected shape
  bool saw_embeddings = false;
  bool saw_error = false;
  int embeddings = 0;

  bool on_document_begin(error_code&) { return true; }
  bool on_document_end(error_code&) { return true; }
  bool on_object_begin(error_code& ec) {
    if (!value(Kind::kObject, ec)) return false;
    if (depth_ == 2 && in_list_) {
      in_item_ = true;
      item_values_ = false;
      values_key_ = false;
    }
    ++depth_;
    return true;
  }
  bool on_object_end(std::size_t, error_code& ec) {
    --depth_;
    if (depth_ == 2 && in_item_) {
      in_item_ = false;
      if (!item_values_) return fail("an embedding has no values", ec);
    }
    return true;
  }
  bool on_array_begin(error_code& ec) {
    if (!value(Kind::kArray, ec)) return false;
    if (depth_ == 1 && field_ == Field::kEmbeddings) {
      if (saw_embeddings) return fail("it has two embeddings lists", ec);
      saw_embeddings = true;
      in_list_ = true;
    } else if (depth_ == 3 && in_item_ && values_key_) {
      if (item_values_) return fail("an embedding has two values lists", ec);
      item_values_ = true;
      in_values_ = true;
      first_value_ = true;
      if (embeddings > 0) out_.push_back(',');
      out_.append(R"({"object":"embedding","index":)")
          .append(std::to_string(embeddings))
          .append(R"(,"embedding":[)");
      ++embeddings;
    }
    ++depth_;
    return true;
  }
  bool on_array_end(std::size_t, error_code&) {
    --depth_;
    if (depth_ == 1 && in_list_) in_list_ = false;
    if (depth_ == 3 && in_values_) {
      in_values_ = false;
      out_.append("]}");
    }
    return true;
  }
  bool on_key_part(json::string_view part, std::size_t, error_code&) {
    key_.append(part.data(), part.size());
    return true;
  }
  bool on_key(json::string_view part, std::size_t, error_code&) {
    std::string_view key(part.data(), part.size());
    if (!key_.empty()) {
      key_.append(key);
      key = key_;
    }
    if (depth_ == 1) {
      field_ = key == "embeddings" ? Field::kEmbeddings
                                   : (key == "error" ? Field::kError : Field::kOther);
    }
    if (depth_ == 3 && in_item_) values_key_ = key == "values";
    key_.clear();
    return true;
  }
  bool on_string_part(json::string_view, std::size_t, error_code& ec) {
    if (!string_started_ && !value(Kind::kOther, ec)) return false;
    string_started_ = true;
    return true;
  }
  bool on_string(json::string_view, std::size_t, error_code& ec) {
    if (!string_started_ && !value(Kind::kOther, ec)) return false;
    string_started_ = false;
    return true;
  }
  bool on_number_part(json::string_view part, error_code&) {
    if (in_values_ && depth_ == 4) number_.append(part.data(), part.size());
    return true;
  }
  bool on_int64(std::int64_t, json::string_view part, error_code& ec) { return integer(part, ec); }
  bool on_uint64(std::uint64_t, json::string_view part, error_code& ec) {
    return integer(part, ec);
  }
  bool on_double(double, json::string_view part, error_code& ec) {
    if (!value(Kind::kNumber, ec)) return false;
    if (!(in_values_ && depth_ == 4)) return true;
    number_.append(part.data(), part.size());
    double d = 0;
    const auto [end, err] = std::from_chars(number_.data(), number_.data() + number_.size(), d);
    if (err != std::errc() || end != number_.data() + number_.size()) {
      return fail("an embedding value is out of range", ec);
    }
    const json::value v(d);
    serializer_.reset(&v);
    char buf[64];
    const auto text = serializer_.read(buf, sizeof buf);
    separate();
    out_.append(text.data(), text.size());
    number_.clear();
    return true;
  }
  bool on_bool(bool, error_code& ec) { return value(Kind::kOther, ec); }
  bool on_null(error_code& ec) { return value(Kind::kOther, ec); }
  bool on_comment_part(json::string_view, error_code&) { return true; }
  bool on_comment(json::string_view, error_code&) { return true; }

 private:
  enum class Kind { kObject, kArray, kNumber, kOther };
  enum class Field { kOther, kEmbeddings, kError };

  bool fail(std::string message, error_code& ec) {
    if (why.empty()) why = std::move(message);
    ec = json::error::syntax;  // aborts the parse; `why` says why
    return false;
  }

  void separate() {
    if (!first_value_) out_.push_back(',');
    first_value_ = false;
  }

  // Integers are exact as written, and Boost.JSON writes them the same way.
  bool integer(json::string_view part, error_code& ec) {
    if (!value(Kind::kNumber, ec)) return false;
    if (!(in_values_ && depth_ == 4)) return true;
    number_.append(part.data(), part.size());
    separate();
    out_.append(number_);
    number_.clear();
    return true;
  }

  // Every value passes here first, with depth_ still that of its container.
  bool value(Kind kind, error_code& ec) {
    switch (depth_) {
      case 0:
        return kind == Kind::kObject || fail("it is not a JSON object", ec);
      case 1:
        if (field_ == Field::kError) saw_error = true;
        return field_ != Field::kEmbeddings || kind == Kind::kArray ||
               fail("embeddings is not a list", ec);
      case 2:
        return !in_list_ || kind == Kind::kObject || fail("an embedding is not an object", ec);
      case 3:
        return !(in_item_ && values_key_) || kind == Kind::kArray ||
               fail("an embedding's values are not a list", ec);
      case 4:
        return !in_values_ || kind == Kind::kNumber ||
               fail("an embedding value is not a number", ec);
      default:
        return true;
    }
  }

  std::string& out_;
  json::serializer serializer_;
  std::string key_;
  std::string number_;
  int depth_ = 0;
  Field field_ = Field::kOther;
  bool in_list_ = false;      // inside the embeddings list
  bool in_item_ = false;      // inside one of its objects
  bool values_key_ = false;   // the current key of that object is "values"
  bool item_values_ = false;  // that object had its values
  bool in_values_ = false;    // inside the values list
  bool first_value_ = true;
  bool string_started_ = false;
};

}  // namespace

// --- GeminiCodec ---------------------------------------------------------------------------------

base::Status GeminiCodec::encode_request(const Request& request, std::string_view,
                                         std::string& out) const {
  unsigned char arena[kArena];
  json::monotonic_resource resource(arena, sizeof arena);
  json::object body(&resource);

  // https://ai.google.dev/api/generate-content#request-body; the model goes in the URL.
  if (auto s = encode_contents(request.messages, body["contents"].emplace_array()); !s) return s;
  if (!request.system.empty()) {
    body["systemInstruction"]
        .emplace_object()["parts"]
        .emplace_array()
        .emplace_back(json::object_kind)
        .as_object()["text"] = jview(request.system);
  }
  encode_tools(request, body);
  json::object config(&resource);
  encode_generation_config(request, config);
  if (!config.empty()) body["generationConfig"] = std::move(config);

  append_json(out, body);
  return base::Ok{};
}

base::Result<Response> GeminiCodec::decode_response(std::string_view body) const {
  unsigned char arena[kArena];
  json::monotonic_resource resource(arena, sizeof arena);
  json::parse_options opts;
  opts.max_depth = kMaxDepth;
  boost::system::error_code ec;
  const json::value v = json::parse(jview(body), ec, &resource, opts);
  if (ec) return unreadable("it is not JSON");
  const json::object* root = v.if_object();
  if (!root) return unreadable("it is not a JSON object");
  if (const json::value* e = root->if_contains("error")) {
    const json::object* eo = e->if_object();
    const std::string message = eo ? error_object_message(*eo) : std::string();
    return unreadable(message.empty() ? "it is an error" : "it is an error: " + message);
  }

  // https://ai.google.dev/api/generate-content#generatecontentresponse
  Response response;
  if (const auto* id = string_field(*root, "responseId")) response.id = view(*id);
  if (const auto* model = string_field(*root, "modelVersion")) response.model = view(*model);
  response.usage = read_usage(*root);

  const json::object* candidate = first_candidate(*root);
  if (!candidate) {
    const json::object* feedback = object_field(*root, "promptFeedback");
    if (feedback && string_field(*feedback, "blockReason")) {
      response.stop_reason = StopReason::kContentFilter;
      return response;
    }
    return unreadable("it has no candidates");
  }

  const Finish finish = classify(finish_reason(*candidate));
  int calls = 0;
  if (const json::array* parts = candidate_parts(*candidate); parts && finish != Finish::kBadCall) {
    const json::string* response_id = string_field(*root, "responseId");
    for (const json::value& p : *parts) {
      auto read = read_part(p);
      if (!read) return std::move(read).error();
      if (read->kind == ReadPart::Kind::kSkip) continue;
      if (read->kind == ReadPart::Kind::kCall) {
        Part& call = response.content.emplace_back();
        call.kind = Part::Kind::kToolCall;
        call.id = call_id(calls, p.get_object(), p.at("functionCall").get_object(),
                          response_id ? view(*response_id) : std::string_view());
        call.name = read->name;
        call.arguments = std::move(read->arguments);
        ++calls;
        continue;
      }
      const Part::Kind kind =
          read->kind == ReadPart::Kind::kText ? Part::Kind::kText : Part::Kind::kThinking;
      // Gemini may split one text over several parts; the common form keeps one block.
      if (!response.content.empty() && response.content.back().kind == kind) {
        response.content.back().text.append(read->text);
      } else {
        Part& part = response.content.emplace_back();
        part.kind = kind;
        part.text = read->text;
      }
    }
  }
  response.stop_reason = stop_reason(finish, calls > 0);
  return response;
}

std::unique_ptr<StreamDecoder> GeminiCodec::stream_decoder() const {
  return std::make_unique<GeminiStreamDecoder>();
}

std::string GeminiCodec::error_message(std::string_view body) const {
  unsigned char arena[kArena];
  json::monotonic_resource resource(arena, sizeof arena);
  json::parse_options opts;
  opts.max_depth = kMaxDepth;
  boost::system::error_code ec;
  const json::value v = json::parse(jview(body), ec, &resource, opts);
  if (!ec) {
    // {"error":{"code","message","status"}}; streamGenerateContent without alt=sse wraps it in
    // an array.
    const json::value* root = &v;
    if (const json::array* a = v.if_array(); a && !a->empty()) root = &a->front();
    if (const json::object* o = root->if_object()) {
      if (const json::object* e = object_field(*o, "error")) {
        std::string message = error_object_message(*e);
        if (!message.empty()) return message;
      }
    }
  }
  return excerpt(body);
}

const Codec& gemini_codec() {
  static const GeminiCodec codec;
  return codec;
}

// --- embeddings ----------------------------------------------------------------------------------

base::Status encode_embeddings(std::string_view openai_body, int max_depth,
                               std::string_view upstream_model, std::string& out) {
  unsigned char arena[kArena];
  json::monotonic_resource resource(arena, sizeof arena);
  json::parse_options opts;
  opts.max_depth = static_cast<std::size_t>(max_depth);
  boost::system::error_code ec;
  const json::value v = json::parse(jview(openai_body), ec, &resource, opts);
  if (ec == json::error::too_deep) {
    return bad_request("the JSON body nests deeper than " + std::to_string(max_depth) + " levels",
                       "");
  }
  if (ec) {
    return bad_request("the request body is not valid JSON (" + ec.message() +
                           "); send a JSON object with model and input",
                       "");
  }
  const json::object* root = v.if_object();
  if (!root) return bad_request("the request body must be a JSON object", "");

  // OpenAI's `dimensions` is Gemini's outputDimensionality
  // (https://ai.google.dev/api/embeddings#EmbedContentRequest).
  std::optional<std::int64_t> dimensions;
  if (const json::value* d = root->if_contains("dimensions"); d && !d->is_null()) {
    const std::int64_t* i = d->if_int64();
    if (!i || *i < 1) return bad_request("dimensions must be a positive integer", "dimensions");
    dimensions = *i;
  }
  if (const json::value* f = root->if_contains("encoding_format"); f && !f->is_null()) {
    const json::string* s = f->if_string();
    if (!s || (*s != "float" && *s != "base64")) {
      return bad_request("encoding_format must be \"float\" or \"base64\"", "encoding_format");
    }
    if (*s == "base64") {
      return bad_request(
          "encoding_format \"base64\" is not available for this model (the Gemini API returns "
          "floats); send \"float\" or leave it out",
          "encoding_format");
    }
  }

  const json::value* input = root->if_contains("input");
  if (!input || input->is_null()) {
    return bad_request("missing required field: input (a string or an array of strings)", "input");
  }
  std::vector<std::string_view> texts;
  if (const json::string* s = input->if_string()) {
    texts.push_back(view(*s));
  } else if (const json::array* a = input->if_array()) {
    texts.reserve(a->size());
    for (std::size_t i = 0; i < a->size(); ++i) {
      const json::value& item = (*a)[i];
      const std::string param = "input[" + std::to_string(i) + "]";
      if (const json::string* text = item.if_string()) {
        if (text->empty()) return bad_request(param + " must not be an empty string", param);
        texts.push_back(view(*text));
      } else if (item.is_number() || item.is_array()) {
        return bad_request(
            "input holds token ids, which the Gemini API cannot embed; send the input as text",
            item.is_number() ? "input" : param);
      } else {
        return bad_request(param + " must be a string", param);
      }
    }
  } else {
    return bad_request("input must be a string or an array of strings", "input");
  }
  if (texts.empty() || (texts.size() == 1 && texts.front().empty())) {
    return bad_request("input must not be empty", "input");
  }

  // https://ai.google.dev/api/embeddings#method:-models.batchembedcontents: each request names
  // the model as models/{model}, the one in the URL.
  std::string model;
  if (!starts_with(upstream_model, "models/")) model = "models/";
  model.append(upstream_model);
  json::object body(&resource);
  json::array& requests = body["requests"].emplace_array();
  requests.reserve(texts.size());
  for (const std::string_view text : texts) {
    json::object& r = requests.emplace_back(json::object_kind).as_object();
    r["model"] = jview(model);
    r["content"]
        .emplace_object()["parts"]
        .emplace_array()
        .emplace_back(json::object_kind)
        .as_object()["text"] = jview(text);
    if (dimensions) r["outputDimensionality"] = *dimensions;
  }
  append_json(out, body);
  return base::Ok{};
}

base::Result<std::string> decode_embeddings(std::string_view body, std::string_view model,
                                            std::int64_t prompt_tokens) {
  std::string out;
  out.reserve(body.size() + 128);
  out.append(R"({"object":"list","data":[)");
  json::parse_options opts;
  opts.max_depth = kMaxDepth;
  json::basic_parser<EmbeddingsHandler> parser(opts, out);
  boost::system::error_code ec;
  const auto used = parser.write_some(false, body.data(), body.size(), ec);
  if (!ec && used < body.size()) ec = json::error::extra_data;
  const EmbeddingsHandler& h = parser.handler();
  if (!h.why.empty()) return unreadable(h.why);
  if (ec) return unreadable("it is not JSON");
  if (h.saw_error) return unreadable("it is an error");
  if (!h.saw_embeddings) return unreadable("it has no embeddings");
  out.append(R"(],"model":)");
  out.append(json::serialize(jview(model)));
  const std::string tokens = std::to_string(prompt_tokens);
  out.append(R"(,"usage":{"prompt_tokens":)")
      .append(tokens)
      .append(R"(,"total_tokens":)")
      .append(tokens)
      .append("}}");
  return out;
}

}  // namespace shepherd::translate
