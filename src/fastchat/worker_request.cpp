#include "fastchat/worker_request.hpp"

#include <algorithm>

#include "base/text.hpp"
#include "translate/json_util.hpp"

namespace shepherd::fastchat {

namespace {

using base::ErrorCode;

// Whether prompts rendered with `conv` read back: a two-turn conversation round trips.
bool readable(const Conversation& conv) {
  translate::Request probe;
  probe.system = "s";
  for (auto [role, text] :
       {std::pair{translate::Role::kUser, "u"}, std::pair{translate::Role::kAssistant, "a"},
        std::pair{translate::Role::kUser, "v"}}) {
    translate::Message m;
    m.role = role;
    translate::Part part;
    part.text = text;
    m.parts.push_back(std::move(part));
    probe.messages.push_back(std::move(m));
  }
  auto prompt = render_prompt(conv, probe);
  if (!prompt) return false;
  auto parsed = parse_prompt(conv, *prompt);
  return parsed && parsed->system == "s" && parsed->messages.size() == 3;
}

base::Error bad(std::string message, std::string param = {}) {
  auto e = base::make_error(ErrorCode::kBadRequest, std::move(message));
  e.param = std::move(param);
  return e;
}

}  // namespace

base::Result<WorkerCatalog> WorkerCatalog::make(const config::Config& config) {
  const auto& w = config.fastchat.worker;
  std::vector<std::string> names = w.models;
  if (names.empty()) {
    for (const auto& m : config.models) names.push_back(m.name);
  }
  WorkerCatalog catalog;
  catalog.numbering_ = sep_numbering(w.fastchat_version);
  for (const auto& name : names) {
    std::string template_name = w.conv_template;
    std::string setting = "fastchat.worker.conv_template";
    for (const auto& [model, t] : w.conv_templates) {
      if (model == name) {
        template_name = t;
        setting = "fastchat.worker.conv_templates." + model;
      }
    }
    const auto* conv = find_template(template_name);
    if (!conv) {
      return bad(
          setting + ": unknown conversation template '" + template_name +
          "' (chatml, llama-3, vicuna_v1.1, one_shot, zero_shot, ... as FastChat names them)");
    }
    if (!readable(*conv)) {
      return bad(setting + ": prompts of the template '" + template_name + "' (" +
                 std::string(sep_style_name(conv->sep_style)) +
                 ") cannot be read back into turns; use chatml, llama-3 or a template of the "
                 "ADD_COLON_TWO or ADD_COLON_SINGLE style such as vicuna_v1.1");
    }
    if (!sep_style_number(conv->sep_style, catalog.numbering_)) {
      return bad(setting + ": FastChat " + w.fastchat_version + " has no number for the style " +
                 std::string(sep_style_name(conv->sep_style)) + " of '" + template_name +
                 "'; set fastchat.worker.fastchat_version: head for API servers after 0.2.36");
    }
    Model m{name, conv, static_cast<std::int64_t>(w.context_length)};
    // The largest window among the model's deployments, when they declare one.
    if (const auto* mc = config.find_model(name)) {
      std::uint64_t largest = 0;
      for (const auto& d : mc->deployments) largest = std::max(largest, d.max_context);
      if (largest) m.context_length = static_cast<std::int64_t>(largest);
    }
    catalog.models_.push_back(std::move(m));
  }
  std::sort(catalog.models_.begin(), catalog.models_.end(),
            [](const Model& a, const Model& b) { return a.name < b.name; });
  return catalog;
}

const WorkerCatalog::Model* WorkerCatalog::find(std::string_view name) const {
  for (const auto& m : models_) {
    if (m.name == name) return &m;
  }
  return nullptr;
}

WorkerStatus WorkerCatalog::status(std::int64_t queue_length) const {
  WorkerStatus s;
  for (const auto& m : models_) s.model_names.push_back(m.name);
  s.speed = 1;
  s.queue_length = queue_length;
  return s;
}

std::string WorkerCatalog::unknown_model_message(std::string_view model) const {
  std::vector<std::string> names;
  for (const auto& m : models_) names.push_back(m.name);
  return "Only " + base::join(names, "&&") + " allowed now, your model " + std::string(model);
}

base::Result<std::string> chat_body(const GenerateParams& params, const Conversation& conv,
                                    bool stream) {
  if (!params.images.empty()) {
    return bad("this worker relays text; images are not supported", "images");
  }
  if (params.max_new_tokens < 1) {
    return bad(
        std::to_string(params.max_new_tokens) + " is less than the minimum of 1 - 'max_new_tokens'",
        "max_new_tokens");
  }
  // Written directly (no JSON DOM): the worker builds one for every request it relays.
  using namespace translate::detail;
  std::string body;
  body.reserve(params.prompt.size() + 256);
  body.push_back('{');
  Members top(body);
  // A double stays a double to a reader that tells them apart (the DOM wrote 1 as 1E0): 1.0.
  auto real = [&body, &top](std::string_view key, double v) {
    const auto at = top.key(key).size();
    append_double(body, v);
    if (body.find_first_of(".en", at) == std::string::npos) body += ".0";
  };
  append_quoted(top.key("model"), params.model);
  top.key("messages").push_back('[');
  Members turns(body);
  auto turn = [&](std::string_view role, auto&& content) {
    turns.next() += "{\"role\":\"";
    body.append(role).append("\",\"content\":\"");
    content();
    body += "\"}";
  };
  if (auto parsed = parse_prompt(conv, params.prompt)) {
    if (!parsed->system.empty()) turn("system", [&] { append_escaped(body, parsed->system); });
    for (const auto& m : parsed->messages) {
      turn(m.role == translate::Role::kUser ? "user" : "assistant", [&] {
        for (const auto& part : m.parts) append_escaped(body, part.text);
      });
    }
  } else {
    turn("user", [&] { append_escaped(body, params.prompt); });
  }
  body.push_back(']');
  top.key("stream") += stream ? "true" : "false";
  append_int(top.key("max_tokens"), params.max_new_tokens);
  real("temperature", params.temperature);
  real("top_p", params.top_p);
  // Stop strings but the template's own (the upstream applies its template's itself).
  std::vector<std::string_view> stop;
  for (const auto& s : params.stop) {
    const bool template_own =
        std::find(conv.stop_str.begin(), conv.stop_str.end(), s) != conv.stop_str.end();
    if (!template_own && !s.empty()) stop.push_back(s);
  }
  if (!stop.empty()) {
    top.key("stop").push_back('[');
    Members stops(body);
    for (const auto s : stop) append_quoted(stops.next(), s);
    body.push_back(']');
  }
  if (params.presence_penalty != 0) real("presence_penalty", params.presence_penalty);
  if (params.frequency_penalty != 0) real("frequency_penalty", params.frequency_penalty);
  if (params.top_k != -1) append_int(top.key("top_k"), params.top_k);
  if (params.repetition_penalty && *params.repetition_penalty != 1.0) {
    real("repetition_penalty", *params.repetition_penalty);
  }
  body.push_back('}');
  return body;
}

}  // namespace shepherd::fastchat
