#include "ingress/openai_chat.hpp"

#include <charconv>

#include "api/json_scan.hpp"
#include "ingress/anthropic_messages.hpp"
#include "translate/openai_chat.hpp"
#include "translate/openai_responses.hpp"

namespace shepherd::ingress {

using providers::Operation;

namespace {

const OpenAiChat kOpenAiChat;
const OpenAiChat kOpenAiCompletions(Operation::kCompletions);
const OpenAiChat kOpenAiEmbeddings(Operation::kEmbeddings);
const OpenAiResponses kOpenAiResponses;
const AnthropicMessages kAnthropicMessages;

}  // namespace

std::string with_cost(std::string_view chunk, double cost) {
  const auto usage = api::find_top_level_value(chunk, "usage");
  if (!usage || usage->empty() || usage->front() != '{') return std::string(chunk);
  char digits[32];
  const auto [end, ec] = std::to_chars(digits, digits + sizeof digits, cost);
  std::string field = "\"cost\":";
  field.append(digits, end);
  if (usage->size() > 2) field.push_back(',');
  std::string out(chunk);
  out.insert(static_cast<std::size_t>(usage->data() - chunk.data()) + 1, field);
  return out;
}

const Dialect* find_dialect(std::string_view path) {
  if (path.starts_with("/v1/")) path.remove_prefix(3);
  if (path == "/chat/completions") return &kOpenAiChat;
  if (path == "/messages") return &kAnthropicMessages;
  if (path == "/responses") return &kOpenAiResponses;
  if (path == "/completions") return &kOpenAiCompletions;
  if (path == "/embeddings") return &kOpenAiEmbeddings;
  return nullptr;
}

const Dialect& default_dialect() { return kOpenAiChat; }

const Dialect& anthropic_dialect() { return kAnthropicMessages; }

std::string_view OpenAiChat::name() const {
  switch (op_) {
    case Operation::kChat:
      return "openai-chat";
    case Operation::kCompletions:
      return "openai-completions";
    case Operation::kEmbeddings:
      return "openai-embeddings";
  }
  return "openai";
}

const translate::Codec& OpenAiChat::codec() const { return translate::openai_chat_codec(); }

base::Result<api::ChatRequest> OpenAiChat::parse(std::string_view body, int max_depth) const {
  switch (op_) {
    case Operation::kChat:
      return api::parse_chat_request(body, max_depth);
    case Operation::kCompletions:
      return api::parse_chat_request(body, max_depth, "prompt");
    case Operation::kEmbeddings:
      break;
  }
  auto r = api::parse_chat_request(body, max_depth, "input");
  // Embeddings never stream; a `stream` field means nothing to them.
  if (r) r->stream = false;
  return r;
}

void OpenAiChat::pass_answer(std::string& answer, std::string_view upstream_model,
                             std::string_view served) const {
  if (upstream_model != served) answer = api::with_model(answer, served);
}

void OpenAiChat::pass_event(std::string& out, const api::SseEvent& data,
                            const providers::Event& event, const api::ChatRequest& request,
                            std::string_view upstream_model, std::string_view served) const {
  switch (event.kind) {
    case api::ChunkKind::kDone:
      translate::append_sse_chunk(out, "", "[DONE]");
      return;
    case api::ChunkKind::kError:
      translate::append_sse_chunk(out, "", data.data);
      return;
    case api::ChunkKind::kUsageOnly:
      // Added by Shepherd for metering; forwarded only when the client asked for usage, with
      // the request's cost in it.
      if (!request.client_wants_usage) return;
      if (event.cost_usd) {
        const auto chunk =
            upstream_model != served ? api::with_model(data.data, served) : std::string(data.data);
        translate::append_sse_chunk(out, "", with_cost(chunk, *event.cost_usd));
        return;
      }
      break;
    case api::ChunkKind::kData:
      break;
  }
  if (upstream_model != served) {
    translate::append_sse_chunk(out, "", api::with_model(data.data, served));
  } else {
    translate::append_sse_chunk(out, "", data.data);
  }
}

void OpenAiChat::error_event(std::string& out, const base::Error& error) const {
  translate::append_sse_chunk(out, "", api::error_body(error));
}

const translate::Codec& OpenAiResponses::codec() const {
  return translate::openai_responses_codec();
}

base::Result<api::ChatRequest> OpenAiResponses::parse(std::string_view body, int max_depth) const {
  return api::parse_chat_request(body, max_depth, "input");
}

void OpenAiResponses::error_event(std::string& out, const base::Error& error) const {
  translate::append_sse_chunk(out, "error", api::error_body(error));
}

}  // namespace shepherd::ingress
