#include "ingress/anthropic_messages.hpp"

#include <boost/json.hpp>

#include "translate/anthropic.hpp"

namespace shepherd::ingress {

namespace json = boost::json;

const translate::Codec& AnthropicMessages::codec() const { return translate::anthropic_codec(); }

base::Result<api::ChatRequest> AnthropicMessages::parse(std::string_view body,
                                                        int max_depth) const {
  // Anthropic's top level shares OpenAI's rules for what routing reads: model, messages (objects
  // with a string role), stream and max_tokens.
  auto r = api::parse_chat_request(body, max_depth);
  // Anthropic streams always report usage; there is no stream_options to honour.
  if (r) r->client_wants_usage = true;
  return r;
}

void AnthropicMessages::pass_answer(std::string& answer, std::string_view upstream_model,
                                    std::string_view served) const {
  if (upstream_model != served) answer = api::with_model(answer, served);
}

void AnthropicMessages::pass_event(std::string& out, const api::SseEvent& data,
                                   const providers::Event& event, const api::ChatRequest&,
                                   std::string_view upstream_model, std::string_view served) const {
  // message_delta carries the final usage: the request's cost goes into it.
  if (event.cost_usd && data.event == "message_delta") {
    translate::append_sse_chunk(out, data.event, with_cost(data.data, *event.cost_usd));
    return;
  }
  // Only message_start names the model (in its `message`); it comes once per stream, so
  // rewriting it through a document costs nothing that matters.
  if (upstream_model != served && data.event == "message_start") {
    boost::system::error_code ec;
    auto v = json::parse(json::string_view(data.data.data(), data.data.size()), ec);
    if (!ec && v.is_object()) {
      if (auto* m = v.as_object().if_contains("message"); m && m->is_object()) {
        m->as_object()["model"] = json::string_view(served.data(), served.size());
        translate::append_sse_chunk(out, data.event, json::serialize(v));
        return;
      }
    }
  }
  translate::append_sse_chunk(out, data.event, data.data);
}

void AnthropicMessages::error_event(std::string& out, const base::Error& error) const {
  translate::append_sse_chunk(out, "error", codec().error_body(error));
}

std::string anthropic_models_body(const std::vector<std::string>& names) {
  json::array data;
  for (const auto& n : names) {
    data.push_back(json::object{
        {"type", "model"}, {"id", n}, {"display_name", n}, {"created_at", "2025-01-01T00:00:00Z"}});
  }
  json::object out;
  out["data"] = std::move(data);
  out["has_more"] = false;
  out["first_id"] = names.empty() ? json::value(nullptr) : json::value(names.front());
  out["last_id"] = names.empty() ? json::value(nullptr) : json::value(names.back());
  return json::serialize(out);
}

std::string count_tokens_body(std::int64_t tokens) {
  return "{\"input_tokens\":" + std::to_string(tokens) + "}";
}

}  // namespace shepherd::ingress
