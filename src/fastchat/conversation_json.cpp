// The /worker_get_conv_template answer (docs/fastchat-protocol.md §3.3): a template read from a
// worker and written for an API server.
#include <boost/json.hpp>
#include <limits>

#include "fastchat/conversation.hpp"
#include "fastchat/conversation_detail.hpp"

namespace shepherd::fastchat {

using detail::bad;

namespace {

namespace json = boost::json;

// ---------------------------------------------------------------------------------------------
// Reading the worker's answer

std::string_view sv(const json::string& s) { return {s.data(), s.size()}; }

base::Result<const json::value*> field(const json::object& conv, std::string_view key) {
  const auto* v = conv.if_contains(key);
  if (!v)
    return bad("the conversation template has no field " + std::string(key),
               "conv." + std::string(key));
  return v;
}

base::Result<std::string> string_field(const json::object& conv, std::string_view key,
                                       bool null_is_empty = false) {
  auto v = field(conv, key);
  if (!v) return std::move(v).error();
  if (null_is_empty && (*v)->is_null()) return std::string();
  const auto* s = (*v)->if_string();
  if (!s) {
    return bad("the conversation template's " + std::string(key) + " must be a string",
               "conv." + std::string(key));
  }
  return std::string(sv(*s));
}

std::optional<std::int64_t> integer(const json::value& v) {
  if (const auto* i = v.if_int64()) return *i;
  if (const auto* u = v.if_uint64()) {
    if (*u <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
      return static_cast<std::int64_t>(*u);
    }
  }
  return std::nullopt;
}

}  // namespace

base::Result<Conversation> parse_conv_template(std::string_view body, SepNumbering numbering) {
  json::error_code ec;
  json::parse_options opts;
  opts.max_depth = 16;
  const auto doc = json::parse(json::string_view(body.data(), body.size()), ec, {}, opts);
  if (ec) return bad("the conversation template answer is not JSON: " + ec.message());
  const auto* root = doc.if_object();
  const auto* conv_v = root ? root->if_contains("conv") : nullptr;
  const auto* o = conv_v ? conv_v->if_object() : nullptr;
  if (!o) return bad("the conversation template answer must be {\"conv\": {...}}", "conv");

  Conversation c;
  auto name = string_field(*o, "name");
  if (!name) return std::move(name).error();
  c.name = std::move(*name);
  auto system_template = string_field(*o, "system_template");
  if (!system_template) return std::move(system_template).error();
  c.system_template = std::move(*system_template);
  auto system_message = string_field(*o, "system_message");
  if (!system_message) return std::move(system_message).error();
  c.system_message = std::move(*system_message);
  auto sep = string_field(*o, "sep", /*null_is_empty=*/true);
  if (!sep) return std::move(sep).error();
  c.sep = std::move(*sep);

  auto roles = field(*o, "roles");
  if (!roles) return std::move(roles).error();
  const auto* roles_a = (*roles)->if_array();
  if (!roles_a || roles_a->size() < 2 || !(*roles_a)[0].is_string() || !(*roles_a)[1].is_string()) {
    return bad("the conversation template's roles must be a list of two strings", "conv.roles");
  }
  c.roles = {std::string(sv((*roles_a)[0].get_string())),
             std::string(sv((*roles_a)[1].get_string()))};

  auto messages = field(*o, "messages");
  if (!messages) return std::move(messages).error();
  const auto* messages_a = (*messages)->if_array();
  if (!messages_a)
    return bad("the conversation template's messages must be a list", "conv.messages");
  for (std::size_t i = 0; i < messages_a->size(); ++i) {
    const auto* pair = (*messages_a)[i].if_array();
    const std::string param = "conv.messages[" + std::to_string(i) + "]";
    if (!pair || pair->size() != 2 || !(*pair)[0].is_string() ||
        !((*pair)[1].is_string() || (*pair)[1].is_null())) {
      return bad("each of the conversation template's messages must be [role, text or null]",
                 param);
    }
    std::optional<std::string> text;
    if ((*pair)[1].is_string()) text = std::string(sv((*pair)[1].get_string()));
    c.messages.emplace_back(std::string(sv((*pair)[0].get_string())), std::move(text));
  }

  auto offset = field(*o, "offset");
  if (!offset) return std::move(offset).error();
  const auto offset_n = integer(**offset);
  if (!offset_n || *offset_n < 0 || *offset_n > std::numeric_limits<int>::max()) {
    return bad("the conversation template's offset must be a non-negative integer", "conv.offset");
  }
  c.offset = static_cast<int>(*offset_n);

  auto style = field(*o, "sep_style");
  if (!style) return std::move(style).error();
  const auto style_n = integer(**style);
  if (!style_n) {
    return bad("the conversation template's sep_style must be an integer", "conv.sep_style");
  }
  const auto parsed_style = sep_style_from_number(*style_n, numbering);
  if (!parsed_style) {
    return bad("unknown sep_style " + std::to_string(*style_n) + " in the conversation template " +
                   c.name + " (numbering of " +
                   (numbering == SepNumbering::kTag0236 ? "FastChat 0.2.36" : "FastChat HEAD") +
                   ")",
               "conv.sep_style");
  }
  c.sep_style = *parsed_style;

  auto sep2 = field(*o, "sep2");
  if (!sep2) return std::move(sep2).error();
  if (const auto* s = (*sep2)->if_string()) {
    c.sep2 = std::string(sv(*s));
  } else if (!(*sep2)->is_null()) {
    return bad("the conversation template's sep2 must be a string or null", "conv.sep2");
  }

  auto stop_str = field(*o, "stop_str");
  if (!stop_str) return std::move(stop_str).error();
  if (const auto* s = (*stop_str)->if_string()) {
    c.stop_str.emplace_back(sv(*s));
  } else if (const auto* a = (*stop_str)->if_array()) {
    for (const auto& v : *a) {
      if (!v.is_string()) {
        return bad("the conversation template's stop_str must hold strings only", "conv.stop_str");
      }
      c.stop_str.emplace_back(sv(v.get_string()));
    }
  } else if (!(*stop_str)->is_null()) {
    return bad("the conversation template's stop_str must be null, a string or a list",
               "conv.stop_str");
  }

  auto stop_ids = field(*o, "stop_token_ids");
  if (!stop_ids) return std::move(stop_ids).error();
  if (const auto* a = (*stop_ids)->if_array()) {
    for (const auto& v : *a) {
      const auto id = integer(v);
      if (!id) {
        return bad("the conversation template's stop_token_ids must hold integers only",
                   "conv.stop_token_ids");
      }
      c.stop_token_ids.push_back(*id);
    }
  } else if (!(*stop_ids)->is_null()) {
    return bad("the conversation template's stop_token_ids must be null or a list",
               "conv.stop_token_ids");
  }
  return c;
}

std::string conv_template_json(const Conversation& conv, SepNumbering numbering) {
  json::object o;
  o["name"] = conv.name;
  o["system_template"] = conv.system_template;
  o["system_message"] = conv.system_message;
  if (numbering == SepNumbering::kHead) o["system_message_vision"] = "";
  o["roles"] = json::array{json::string(conv.roles[0]), json::string(conv.roles[1])};
  json::array messages;
  for (const auto& [role, text] : conv.messages) {
    json::array pair{json::string(role)};
    if (text) {
      pair.emplace_back(json::string(*text));
    } else {
      pair.emplace_back(nullptr);
    }
    messages.emplace_back(std::move(pair));
  }
  o["messages"] = std::move(messages);
  o["offset"] = conv.offset;
  if (const auto n = sep_style_number(conv.sep_style, numbering)) {
    o["sep_style"] = *n;
  } else {
    o["sep_style"] = nullptr;
  }
  o["sep"] = conv.sep;
  if (conv.sep2) {
    o["sep2"] = *conv.sep2;
  } else {
    o["sep2"] = nullptr;
  }
  if (conv.stop_str.empty()) {
    o["stop_str"] = nullptr;
  } else if (conv.stop_str.size() == 1) {
    o["stop_str"] = conv.stop_str[0];
  } else {
    json::array a;
    for (const auto& s : conv.stop_str) a.emplace_back(json::string(s));
    o["stop_str"] = std::move(a);
  }
  if (conv.stop_token_ids.empty()) {
    o["stop_token_ids"] = nullptr;
  } else {
    json::array a;
    for (const auto id : conv.stop_token_ids) a.emplace_back(id);
    o["stop_token_ids"] = std::move(a);
  }
  if (numbering == SepNumbering::kHead) o["max_image_size_mb"] = nullptr;
  json::object root;
  root["conv"] = std::move(o);
  return json::serialize(root);
}

}  // namespace shepherd::fastchat
