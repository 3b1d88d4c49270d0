#include "fastchat/worker_request.hpp"

#include <algorithm>

#include "base/text.hpp"

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

base::Result<translate::Request> chat_request(const GenerateParams& params,
                                              const Conversation& conv, bool stream) {
  if (!params.images.empty()) {
    return bad("this worker relays text; images are not supported", "images");
  }
  if (params.max_new_tokens < 1) {
    return bad(
        std::to_string(params.max_new_tokens) + " is less than the minimum of 1 - 'max_new_tokens'",
        "max_new_tokens");
  }
  translate::Request r;
  r.model = params.model;
  r.stream = stream;
  if (auto parsed = parse_prompt(conv, params.prompt)) {
    r.system = std::move(parsed->system);
    r.messages = std::move(parsed->messages);
  } else {
    translate::Message turn;
    translate::Part text;
    text.text = params.prompt;
    turn.parts.push_back(std::move(text));
    r.messages.push_back(std::move(turn));
  }
  r.max_tokens = params.max_new_tokens;
  r.temperature = params.temperature;
  r.top_p = params.top_p;
  // Stop strings but the template's own (the upstream applies its template's itself).
  for (const auto& s : params.stop) {
    const bool template_own =
        std::find(conv.stop_str.begin(), conv.stop_str.end(), s) != conv.stop_str.end();
    if (!template_own && !s.empty()) r.stop.push_back(s);
  }
  if (params.presence_penalty != 0) r.presence_penalty = params.presence_penalty;
  if (params.frequency_penalty != 0) r.frequency_penalty = params.frequency_penalty;
  // FastChat's -1 (and vLLM's 0) mean no top-k limit.
  if (params.top_k > 0) r.top_k = params.top_k;
  if (params.repetition_penalty && *params.repetition_penalty != 1.0) {
    r.repetition_penalty = params.repetition_penalty;
  }
  return r;
}

}  // namespace shepherd::fastchat
