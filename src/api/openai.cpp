#include "api/openai.hpp"

#include <array>
#include <boost/json.hpp>
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

base::Result<ChatRequest> parse_chat_request(std::string_view body, int max_depth) {
  unsigned char buffer[8192];
  json::monotonic_resource mr(buffer, sizeof buffer);
  json::parse_options opt;
  opt.max_depth = static_cast<std::size_t>(max_depth);
  boost::system::error_code ec;
  json::value root = json::parse(json::string_view(body.data(), body.size()), ec, &mr, opt);
  if (ec) {
    if (ec == json::error::too_deep) {
      return bad_request("the JSON body nests deeper than " + std::to_string(max_depth) + " levels",
                         "");
    }
    return bad_request("the request body is not valid JSON (" + ec.message() +
                           "); send a JSON object with model and messages",
                       "");
  }
  const auto* obj = root.if_object();
  if (!obj) return bad_request("the request body must be a JSON object", "");
  ChatRequest req;
  // The byte-level rewrite must see the same fields as the parser: no duplicate keys, and the
  // fields Shepherd rewrites spelled without escapes ("mod\u0065l").
  std::array<KeyCount, 2> rewritten{KeyCount{"model", 0, {}}, KeyCount{"stream_options", 0, {}}};
  if (scan_top_level_keys(body, rewritten) != obj->size()) {
    return bad_request("the request body has duplicate keys", "");
  }
  for (const auto& kc : rewritten) {
    if (obj->contains(json::string_view(kc.key.data(), kc.key.size())) && kc.count != 1) {
      return bad_request("the field " + std::string(kc.key) + " must be written without escapes",
                         std::string(kc.key));
    }
  }
  const auto* model = obj->if_contains("model");
  if (!model)
    return bad_request("missing required field: model (a string naming the model)", "model");
  const auto* model_str = model->if_string();
  if (!model_str || model_str->empty()) {
    return bad_request("model must be a non-empty string", "model");
  }
  req.model.assign(model_str->data(), model_str->size());
  const auto* messages = obj->if_contains("messages");
  if (!messages) {
    return bad_request("missing required field: messages (an array of {role, content})",
                       "messages");
  }
  const auto* arr = messages->if_array();
  if (!arr || arr->empty()) return bad_request("messages must be a non-empty array", "messages");
  for (std::size_t i = 0; i < arr->size(); ++i) {
    const auto* m = (*arr)[i].if_object();
    const json::value* role = m ? m->if_contains("role") : nullptr;
    if (!role || !role->is_string()) {
      return bad_request("messages[" + std::to_string(i) + "] must be an object with a string role",
                         "messages");
    }
  }
  if (const auto* stream = obj->if_contains("stream"); stream && !stream->is_null()) {
    if (!stream->is_bool()) return bad_request("stream must be true or false", "stream");
    req.stream = stream->get_bool();
  }
  if (const auto* so = obj->if_contains("stream_options"); so && !so->is_null()) {
    const auto* so_obj = so->if_object();
    if (!so_obj) return bad_request("stream_options must be an object", "stream_options");
    if (const auto* iu = so_obj->if_contains("include_usage"); iu && !iu->is_null()) {
      if (!iu->is_bool()) {
        return bad_request("stream_options.include_usage must be true or false", "stream_options");
      }
      req.client_wants_usage = iu->get_bool();
    }
  }
  return req;
}

std::string upstream_chat_body(std::string_view body, const ChatRequest& request,
                               std::string_view upstream_model) {
  const bool rename = upstream_model != request.model;
  const bool add_usage = request.stream && !request.client_wants_usage;
  if (!rename && !add_usage) return std::string(body);
  std::string out = rename ? with_model(body, upstream_model) : std::string(body);
  if (!add_usage) return out;
  if (!find_top_level_value(out, "stream_options")) {
    // Splice the option in after the opening brace; the body is a validated object.
    const auto brace = out.find('{');
    out.insert(brace + 1, "\"stream_options\":{\"include_usage\":true},");
    return out;
  }
  // stream_options exists without include_usage=true: rewrite it through the DOM (rare).
  json::value root = json::parse(out);
  auto& so = root.as_object()["stream_options"];
  if (!so.is_object()) so = json::object();
  so.as_object()["include_usage"] = true;
  return json::serialize(root);
}

std::string with_model(std::string_view json_text, std::string_view model) {
  auto replaced = replace_top_level_value(json_text, "model", json_quote(model));
  return replaced ? std::move(*replaced) : std::string(json_text);
}

namespace {

std::optional<std::int64_t> token_count(const json::object& o, json::string_view key) {
  const auto* v = o.if_contains(key);
  if (!v || v->is_null()) return std::int64_t{0};
  if (v->is_int64() && v->get_int64() >= 0) return v->get_int64();
  return std::nullopt;  // negative, fractional, not a number, or beyond int64: not a count
}

std::optional<Usage> usage_in_object(const json::object& uo) {
  auto prompt = token_count(uo, "prompt_tokens");
  auto completion = token_count(uo, "completion_tokens");
  auto total = token_count(uo, "total_tokens");
  if (!prompt || !completion || !total) return std::nullopt;
  Usage usage{*prompt, *completion, *total};
  if (usage.total_tokens == 0) {
    if (usage.prompt_tokens > std::numeric_limits<std::int64_t>::max() - usage.completion_tokens) {
      return std::nullopt;
    }
    usage.total_tokens = usage.prompt_tokens + usage.completion_tokens;
  }
  return usage;
}

std::optional<Usage> usage_in(const json::object& o) {
  const auto* u = o.if_contains("usage");
  if (!u || !u->is_object()) return std::nullopt;
  return usage_in_object(u->get_object());
}

base::Error malformed(std::string what) {
  auto e = base::make_error(ErrorCode::kUpstreamUnreachable,
                            "the upstream sent a malformed answer; try again", std::move(what));
  e.retryable = true;
  return e;
}

}  // namespace

base::Result<ChunkInfo> inspect_chunk(std::string_view data) {
  if (data == "[DONE]") return ChunkInfo{ChunkKind::kDone, std::nullopt};
  unsigned char buffer[4096];
  json::monotonic_resource mr(buffer, sizeof buffer);
  boost::system::error_code ec;
  auto v = json::parse(json::string_view(data.data(), data.size()), ec, &mr);
  if (ec || !v.is_object()) return malformed("stream chunk is not a JSON object");
  const auto& o = v.get_object();
  ChunkInfo info;
  if (const auto* e = o.if_contains("error"); e && !e->is_null()) {
    info.kind = ChunkKind::kError;
    return info;
  }
  info.usage = usage_in(o);
  if (info.usage) {
    const auto* choices = o.if_contains("choices");
    if (!choices || (choices->is_array() && choices->get_array().empty())) {
      info.kind = ChunkKind::kUsageOnly;
    }
  }
  return info;
}

base::Result<std::optional<Usage>> inspect_completion(std::string_view body) {
  // Only `usage` is needed: a structural scan finds it without building the whole document.
  std::array<KeyCount, 1> usage{KeyCount{"usage", 0, {}}};
  if (!scan_top_level_keys(body, usage)) {
    return malformed("completion body is not a JSON object");
  }
  if (usage[0].count == 0 || usage[0].first_value == "null") return std::optional<Usage>{};
  unsigned char buffer[1024];
  json::monotonic_resource mr(buffer, sizeof buffer);
  boost::system::error_code ec;
  const auto& raw = usage[0].first_value;
  auto v = json::parse(json::string_view(raw.data(), raw.size()), ec, &mr);
  if (ec || !v.is_object()) return std::optional<Usage>{};  // unusable usage: none
  return usage_in_object(v.get_object());
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
