#include "api/openai.hpp"

#include <array>
#include <boost/container/small_vector.hpp>
#include <boost/json.hpp>
#include <boost/json/basic_parser_impl.hpp>
#include <charconv>
#include <limits>

#include "api/json_scan.hpp"

namespace shepherd::api {
namespace json = boost::json;
using base::ErrorCode;

namespace {

base::Error bad_request(std::string message, std::string param) {
  auto e = base::make_error(ErrorCode::kBadRequest, std::move(message));
  e.param = std::move(param);
  return e;
}

const char* error_type(const base::Error& e) {
  switch (e.code) {
    case ErrorCode::kUnauthorized:
      return "authentication_error";
    case ErrorCode::kForbidden:
      return "permission_error";
    case ErrorCode::kModelNotFound:
    case ErrorCode::kNotFound:
      return "not_found_error";
    case ErrorCode::kRateLimited:
      return "rate_limit_error";
    case ErrorCode::kQuotaExceeded:
      return "insufficient_quota";
    case ErrorCode::kUpstreamTimeout:
      return "timeout_error";
    case ErrorCode::kUpstreamStatus:
      return e.status == 429 ? "rate_limit_error"
                             : (e.status >= 500 ? "server_error" : "invalid_request_error");
    case ErrorCode::kUpstreamUnreachable:
    case ErrorCode::kUnavailable:
    case ErrorCode::kInternal:
      return "server_error";
    default:
      return "invalid_request_error";
  }
}

const char* error_code(const base::Error& e) {
  switch (e.code) {
    case ErrorCode::kUnauthorized:
      return "invalid_api_key";
    case ErrorCode::kModelNotFound:
      return "model_not_found";
    case ErrorCode::kRateLimited:
      return "rate_limit_exceeded";
    case ErrorCode::kUpstreamStatus:
      return e.status == 429 ? "rate_limit_exceeded" : "upstream_error";
    default:
      return base::code_name(e.code);
  }
}

}  // namespace

namespace {

// Validates a chat request while Boost.JSON's parser walks it, without building a document:
// the hot path needs a handful of fields, not a tree. Depth counts open containers (the root
// object is depth 1, so top-level keys and values live at depth 1).
class ChatRequestHandler {
 public:
  using error_code = boost::system::error_code;
  static constexpr std::size_t max_object_size = std::size_t(-1);
  static constexpr std::size_t max_array_size = std::size_t(-1);
  static constexpr std::size_t max_key_size = std::size_t(-1);
  static constexpr std::size_t max_string_size = std::size_t(-1);

  explicit ChatRequestHandler(std::string_view content_key) : content_key_(content_key) {}

  ChatRequest request;
  std::optional<base::Error> error;  // the first problem found (the parse is aborted there)
  bool has_model = false, has_messages = false, has_stream_options = false;
  std::size_t messages = 0;

  bool on_document_begin(error_code&) { return true; }
  bool on_document_end(error_code&) { return true; }
  bool on_object_begin(error_code& ec) {
    if (!value(Kind::kObject, ec)) return false;
    if (depth_ == 2 && field_ == Field::kMessages) role_ = false;
    ++depth_;
    return true;
  }
  bool on_object_end(std::size_t, error_code& ec) {
    --depth_;
    if (depth_ == 2 && field_ == Field::kMessages && !role_) {
      return fail(
          "messages[" + std::to_string(messages - 1) + "] must be an object with a string role",
          "messages", ec);
    }
    return true;
  }
  bool on_array_begin(error_code& ec) {
    if (!value(Kind::kArray, ec)) return false;
    ++depth_;
    return true;
  }
  bool on_array_end(std::size_t, error_code&) {
    --depth_;
    return true;
  }
  bool on_key_part(json::string_view part, std::size_t, error_code&) {
    key_.append(part.data(), part.size());
    return true;
  }
  bool on_key(json::string_view part, std::size_t, error_code& ec) {
    std::string_view key(part.data(), part.size());
    if (!key_.empty()) {  // the key came in parts (escapes)
      key_.append(key);
      key = key_;
    }
    bool ok = true;
    if (depth_ == 1) ok = top_level_key(key, ec);
    if (depth_ == 2 && field_ == Field::kStreamOptions) include_usage_key_ = key == "include_usage";
    if (depth_ == 3 && field_ == Field::kMessages) role_key_ = key == "role";
    key_.clear();
    return ok;
  }
  bool on_string_part(json::string_view part, std::size_t, error_code& ec) {
    if (!string_started_ && !value(Kind::kString, ec)) return false;
    string_started_ = true;
    if (depth_ == 1 && field_ == Field::kModel) request.model.append(part.data(), part.size());
    return true;
  }
  bool on_string(json::string_view part, std::size_t, error_code& ec) {
    if (!string_started_ && !value(Kind::kString, ec)) return false;
    string_started_ = false;
    if (depth_ == 1 && field_ == Field::kModel) request.model.append(part.data(), part.size());
    return true;
  }
  bool on_number_part(json::string_view, error_code&) { return true; }
  bool on_int64(std::int64_t v, json::string_view, error_code& ec) {
    if (depth_ == 1 && field_ == Field::kMaxTokens && v >= 0) {
      request.max_tokens = std::max(request.max_tokens.value_or(0), v);
    }
    return value(Kind::kOther, ec);
  }
  bool on_uint64(std::uint64_t v, json::string_view, error_code& ec) {
    if (depth_ == 1 && field_ == Field::kMaxTokens) {
      const auto capped = static_cast<std::int64_t>(
          std::min<std::uint64_t>(v, std::numeric_limits<std::int64_t>::max()));
      request.max_tokens = std::max(request.max_tokens.value_or(0), capped);
    }
    return value(Kind::kOther, ec);
  }
  bool on_double(double, json::string_view, error_code& ec) { return value(Kind::kOther, ec); }
  bool on_bool(bool b, error_code& ec) {
    if (!value(Kind::kBool, ec)) return false;
    if (depth_ == 1 && field_ == Field::kStream) request.stream = b;
    if (depth_ == 2 && field_ == Field::kStreamOptions && include_usage_key_) include_usage(b);
    return true;
  }
  bool on_null(error_code& ec) {
    if (!value(Kind::kNull, ec)) return false;
    if (depth_ == 2 && field_ == Field::kStreamOptions && include_usage_key_) include_usage(false);
    return true;
  }
  bool on_comment_part(json::string_view, error_code&) { return true; }
  bool on_comment(json::string_view, error_code&) { return true; }

 private:
  enum class Kind { kObject, kArray, kString, kBool, kNull, kOther };
  enum class Field { kOther, kModel, kStream, kStreamOptions, kMessages, kContent, kMaxTokens };

  // The client wants usage only when every include_usage it sent is true: parsers disagree on
  // which of two equal keys wins, and upstream_chat_body sets them all.
  void include_usage(bool b) {
    request.client_wants_usage = b && (!include_usage_seen_ || request.client_wants_usage);
    include_usage_seen_ = true;
  }

  bool fail(std::string message, std::string param, error_code& ec) {
    if (!error) error = bad_request(std::move(message), std::move(param));
    ec = json::error::syntax;  // aborts the parse; `error` says why
    return false;
  }

  // Every value passes here first, with depth_ still that of its container.
  bool value(Kind kind, error_code& ec) {
    if (depth_ == 0) {
      return kind == Kind::kObject || fail("the request body must be a JSON object", "", ec);
    }
    if (depth_ == 1) {
      switch (field_) {
        case Field::kModel:
          return kind == Kind::kString || fail("model must be a non-empty string", "model", ec);
        case Field::kStream:
          return kind == Kind::kBool || kind == Kind::kNull ||
                 fail("stream must be true or false", "stream", ec);
        case Field::kStreamOptions:
          return kind == Kind::kObject || kind == Kind::kNull ||
                 fail("stream_options must be an object", "stream_options", ec);
        case Field::kMessages:
          return kind == Kind::kArray || fail("messages must be a non-empty array", "messages", ec);
        case Field::kContent:
          return kind == Kind::kString || kind == Kind::kArray ||
                 fail(std::string(content_key_) + " must be a string or an array",
                      std::string(content_key_), ec);
        case Field::kMaxTokens:
        case Field::kOther:
          return true;
      }
    }
    if (depth_ == 2 && field_ == Field::kMessages) {
      ++messages;
      return kind == Kind::kObject || fail("messages[" + std::to_string(messages - 1) +
                                               "] must be an object with a string role",
                                           "messages", ec);
    }
    if (depth_ == 2 && field_ == Field::kStreamOptions && include_usage_key_) {
      return kind == Kind::kBool || kind == Kind::kNull ||
             fail("stream_options.include_usage must be true or false", "stream_options", ec);
    }
    if (depth_ == 3 && field_ == Field::kMessages && role_key_) {
      if (kind != Kind::kString) {
        return fail(
            "messages[" + std::to_string(messages - 1) + "] must be an object with a string role",
            "messages", ec);
      }
      role_ = true;
    }
    return true;
  }

  bool top_level_key(std::string_view key, error_code& ec) {
    // Parsers disagree on which of two equal keys wins, so none may repeat. Keys are compared
    // by 64-bit hash: a false "duplicate" needs a collision, about one in 1e19.
    const auto h = std::hash<std::string_view>{}(key);
    for (const auto k : seen_) {
      if (k == h) return fail("the request body has duplicate keys", "", ec);
    }
    seen_.push_back(h);
    field_ = Field::kOther;
    if (key == "model") {
      field_ = Field::kModel;
      has_model = true;
    } else if (key == content_key_) {
      field_ = key == "messages" ? Field::kMessages : Field::kContent;
      has_messages = true;
    } else if (key == "stream") {
      field_ = Field::kStream;
    } else if (key == "stream_options") {
      field_ = Field::kStreamOptions;
      has_stream_options = true;
    } else if (key == "max_tokens" || key == "max_completion_tokens" ||
               key == "max_output_tokens") {
      field_ = Field::kMaxTokens;
    }
    return true;
  }

  std::string_view content_key_;
  int depth_ = 0;
  Field field_ = Field::kOther;
  std::string key_;
  boost::container::small_vector<std::size_t, 16> seen_;
  bool string_started_ = false;
  bool include_usage_key_ = false;
  bool include_usage_seen_ = false;
  bool role_key_ = false;
  bool role_ = false;
};

}  // namespace

base::Result<ChatRequest> parse_chat_request(std::string_view body, int max_depth,
                                             std::string_view content_key) {
  json::parse_options opt;
  opt.max_depth = static_cast<std::size_t>(max_depth);
  json::basic_parser<ChatRequestHandler> parser(opt, content_key);
  boost::system::error_code ec;
  const auto used = parser.write_some(false, body.data(), body.size(), ec);
  if (!ec && used < body.size()) ec = json::error::extra_data;
  auto& h = parser.handler();
  if (h.error) return std::move(*h.error);
  if (ec) {
    if (ec == json::error::too_deep) {
      return bad_request("the JSON body nests deeper than " + std::to_string(max_depth) + " levels",
                         "");
    }
    return bad_request("the request body is not valid JSON (" + ec.message() +
                           "); send a JSON object with model and messages",
                       "");
  }
  if (!h.has_model) {
    return bad_request("missing required field: model (a string naming the model)", "model");
  }
  if (h.request.model.empty()) return bad_request("model must be a non-empty string", "model");
  if (!h.has_messages) {
    if (content_key != "messages") {
      return bad_request("missing required field: " + std::string(content_key),
                         std::string(content_key));
    }
    return bad_request("missing required field: messages (an array of {role, content})",
                       "messages");
  }
  if (h.messages == 0 && content_key == "messages") {
    return bad_request("messages must be a non-empty array", "messages");
  }
  // The byte-level rewrite must see the fields the parser saw. Only a \u escape can spell
  // "model" or "stream_options" differently in the raw bytes, so only then is a scan needed.
  if (body.find("\\u") != std::string_view::npos) {
    std::array<KeyCount, 2> raw{KeyCount{"model", 0, {}}, KeyCount{"stream_options", 0, {}}};
    scan_top_level_keys(body, raw);
    if (raw[0].count != 1) {
      return bad_request("the field model must be written without escapes", "model");
    }
    if (h.has_stream_options && raw[1].count != 1) {
      return bad_request("the field stream_options must be written without escapes",
                         "stream_options");
    }
  }
  return std::move(h.request);
}

bool upstream_body_changes(const ChatRequest& request, std::string_view upstream_model) {
  return upstream_model != request.model || (request.stream && !request.client_wants_usage);
}

std::string upstream_chat_body(std::string_view body, const ChatRequest& request,
                               std::string_view upstream_model) {
  if (!upstream_body_changes(request, upstream_model)) return std::string(body);
  const bool rename = upstream_model != request.model;
  const bool add_usage = request.stream && !request.client_wants_usage;
  std::string out = rename ? with_model(body, upstream_model) : std::string(body);
  if (!add_usage) return out;
  const auto options = find_top_level_value(out, "stream_options");
  if (!options) {
    // Splice the option in after the opening brace; the body is a validated object.
    const auto brace = out.find('{');
    out.insert(brace + 1, "\"stream_options\":{\"include_usage\":true},");
    return out;
  }
  // stream_options is null, or an object without include_usage=true: rewrite its bytes in place.
  // (Not through a DOM: serializing one would rewrite numbers, e.g. 1e400 as Infinity.)
  std::string value;
  if (*options == "null") {
    value = R"({"include_usage":true})";
  } else if (auto set = replace_top_level_value(*options, "include_usage", "true")) {
    value = std::move(*set);
  } else {
    value = std::string(*options);
    value.insert(1, count_top_level_key(value, std::nullopt) == 0 ? R"("include_usage":true)"
                                                                  : R"("include_usage":true,)");
  }
  out.replace(static_cast<std::size_t>(options->data() - out.data()), options->size(), value);
  return out;
}

std::string with_model(std::string_view json_text, std::string_view model) {
  auto replaced = replace_top_level_value(json_text, "model", json_quote(model));
  return replaced ? std::move(*replaced) : std::string(json_text);
}

namespace {

base::Error malformed(std::string what) {
  auto e = base::make_error(ErrorCode::kUpstreamUnreachable,
                            "the upstream sent a malformed answer; try again", std::move(what));
  e.retryable = true;
  return e;
}

}  // namespace

namespace {

std::optional<std::int64_t> raw_count(const KeyCount& member) {
  const auto v = member.first_value;
  if (member.count == 0 || v == "null") return std::int64_t{0};
  std::int64_t n = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (ec != std::errc{} || p != v.data() + v.size() || n < 0) return std::nullopt;
  return n;
}

// The counts of a raw usage object, read in one structural pass.
std::optional<Usage> raw_usage(std::string_view usage) {
  if (usage.empty() || usage.front() != '{') return std::nullopt;
  std::array<KeyCount, 5> counts{
      KeyCount{"prompt_tokens", 0, {}}, KeyCount{"completion_tokens", 0, {}},
      KeyCount{"total_tokens", 0, {}}, KeyCount{"prompt_tokens_details", 0, {}},
      KeyCount{"completion_tokens_details", 0, {}}};
  if (!scan_top_level_keys(usage, counts)) return std::nullopt;
  auto prompt = raw_count(counts[0]);
  auto completion = raw_count(counts[1]);
  auto total = raw_count(counts[2]);
  if (!prompt || !completion || !total) return std::nullopt;
  Usage u{*prompt, *completion, *total, 0, 0};
  // The details objects are small and often absent: read only when sent. A malformed count in
  // them costs the detail, not the usage.
  auto detail = [](const KeyCount& object, std::string_view key) -> std::int64_t {
    if (object.count == 0 || object.first_value.empty() || object.first_value.front() != '{') {
      return 0;
    }
    std::array<KeyCount, 1> inner{KeyCount{key, 0, {}}};
    if (!scan_top_level_keys(object.first_value, inner)) return 0;
    return raw_count(inner[0]).value_or(0);
  };
  u.cached_tokens = std::min(detail(counts[3], "cached_tokens"), u.prompt_tokens);
  u.reasoning_tokens = std::min(detail(counts[4], "reasoning_tokens"), u.completion_tokens);
  if (u.total_tokens == 0) {
    if (u.prompt_tokens > std::numeric_limits<std::int64_t>::max() - u.completion_tokens) {
      return std::nullopt;
    }
    u.total_tokens = u.prompt_tokens + u.completion_tokens;
  }
  return u;
}

// Upstreams put `usage` last; searching from the end finds it without walking the choices.
// Returns the raw usage object, or nullopt when the last "usage" key is not followed by one.
std::optional<std::string_view> last_usage_object(std::string_view body) {
  constexpr std::string_view kKey = "\"usage\"";
  const auto at = body.rfind(kKey);
  if (at == std::string_view::npos || at == 0 || body[at - 1] == '\\') return std::nullopt;
  auto rest = body.substr(at + kKey.size());
  const auto colon = rest.find_first_not_of(" \t\r\n");
  if (colon == std::string_view::npos || rest[colon] != ':') return std::nullopt;
  rest.remove_prefix(colon + 1);
  const auto open = rest.find_first_not_of(" \t\r\n");
  if (open == std::string_view::npos || rest[open] != '{') return std::nullopt;
  return leading_value(rest.substr(open));
}

}  // namespace

base::Result<ChunkInfo> inspect_chunk(std::string_view data) {
  if (data == "[DONE]") return ChunkInfo{ChunkKind::kDone, std::nullopt};
  // A structural scan, not a full parse: the chunk is forwarded as it is, and only these three
  // members decide what Shepherd does with it.
  std::array<KeyCount, 3> keys{KeyCount{"error", 0, {}}, KeyCount{"usage", 0, {}},
                               KeyCount{"choices", 0, {}}};
  if (!scan_top_level_keys(data, keys)) return malformed("stream chunk is not a JSON object");
  const auto& [error, usage, choices] = keys;
  ChunkInfo info;
  if (error.count && error.first_value != "null") {
    info.kind = ChunkKind::kError;
    return info;
  }
  if (usage.count && usage.first_value != "null") info.usage = raw_usage(usage.first_value);
  if (info.usage) {
    auto list = choices.first_value;
    const auto inner = list.size() >= 2 ? list.substr(1, list.size() - 2) : std::string_view{};
    if (!choices.count ||
        (list.front() == '[' && inner.find_first_not_of(" \t\r\n") == std::string_view::npos)) {
      info.kind = ChunkKind::kUsageOnly;
    }
  }
  return info;
}

base::Result<std::optional<Usage>> inspect_completion(std::string_view body) {
  const auto first = body.find_first_not_of(" \t\r\n");
  const auto last = body.find_last_not_of(" \t\r\n");
  if (first == std::string_view::npos || body[first] != '{' || body[last] != '}') {
    return malformed("completion body is not a JSON object");
  }
  if (auto raw = last_usage_object(body)) {
    if (auto usage = raw_usage(*raw)) return std::optional<Usage>(*usage);
  }
  // No usage where upstreams put it: look for it properly (structural scan of the whole body).
  std::array<KeyCount, 1> usage{KeyCount{"usage", 0, {}}};
  if (!scan_top_level_keys(body, usage)) return malformed("completion body is not a JSON object");
  if (usage[0].count == 0 || usage[0].first_value == "null") return std::optional<Usage>{};
  return raw_usage(usage[0].first_value);
}

std::string models_body(const std::vector<std::string>& names, long created) {
  json::array data;
  data.reserve(names.size());
  for (const auto& n : names) {
    data.push_back(json::object{
        {"id", n}, {"object", "model"}, {"created", created}, {"owned_by", "shepherd"}});
  }
  return json::serialize(json::object{{"object", "list"}, {"data", std::move(data)}});
}

std::string error_body(const base::Error& error) {
  json::object inner;
  inner["message"] = error.message;
  inner["type"] = error_type(error);
  inner["param"] = error.param.empty() ? json::value(nullptr) : json::value(error.param);
  inner["code"] = error_code(error);
  return json::serialize(json::object{{"error", std::move(inner)}});
}

// The length of the longest prefix of `s` of at most `max` bytes that does not end inside a
// UTF-8 sequence.
static std::size_t utf8_prefix(std::string_view s, std::size_t max) {
  if (s.size() <= max) return s.size();
  std::size_t cut = max;
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;
  return cut;
}

bool is_preamble_chunk(std::string_view data) {
  boost::system::error_code ec;
  auto root = json::parse(json::string_view(data.data(), data.size()), ec);
  if (ec || !root.is_object()) return false;
  const auto* choices = root.as_object().if_contains("choices");
  if (!choices || !choices->is_array() || choices->as_array().empty()) return false;
  for (const auto& c : choices->as_array()) {
    if (!c.is_object()) return false;
    const auto& choice = c.as_object();
    if (const auto* f = choice.if_contains("finish_reason"); f && !f->is_null()) return false;
    const auto* delta = choice.if_contains("delta");
    if (!delta || !delta->is_object()) return false;
    for (const auto& [key, value] : delta->as_object()) {
      if (key == "role") continue;
      if (value.is_null()) continue;
      if (key == "content" && value.is_string() && value.as_string().empty()) continue;
      return false;  // content, tool_calls, function_call, refusal, anything else: substance
    }
  }
  return true;
}

std::string upstream_error_message(std::string_view body) {
  constexpr std::size_t kMax = 500;
  boost::system::error_code ec;
  auto v = json::parse(json::string_view(body.data(), body.size()), ec);
  if (!ec) {
    const json::value* msg = nullptr;
    if (const auto* o = v.if_object()) {
      if (const auto* err = o->if_contains("error")) {
        if (const auto* eo = err->if_object()) {
          msg = eo->if_contains("message");
        } else if (err->is_string()) {
          msg = err;
        }
      } else {
        msg = o->if_contains("message");
      }
    }
    if (msg && msg->is_string()) {
      std::string s(msg->get_string().data(), msg->get_string().size());
      s.resize(utf8_prefix(s, kMax));
      return s;
    }
  }
  std::string s;
  for (char c : body.substr(0, utf8_prefix(body, kMax))) {
    s.push_back(static_cast<unsigned char>(c) < 0x20 ? ' ' : c);
  }
  return s;
}

}  // namespace shepherd::api
