#include "ingress/openai_chat.hpp"

#include <charconv>

namespace shepherd::ingress {

namespace {

const OpenAiChat kOpenAiChat;

}  // namespace

void append_event_chunk(std::string& out, std::string_view data) {
  char hex[16];
  auto [p, ec] = std::to_chars(hex, hex + sizeof hex, data.size() + 8, 16);
  out.append(hex, p).append("\r\ndata: ").append(data).append("\n\n\r\n");
}

const Dialect* find_dialect(std::string_view path) {
  if (path == "/v1/chat/completions" || path == "/chat/completions") return &kOpenAiChat;
  return nullptr;
}

const Dialect& default_dialect() { return kOpenAiChat; }

base::Result<api::ChatRequest> OpenAiChat::parse(std::string_view body, int max_depth) const {
  return api::parse_chat_request(body, max_depth);
}

std::string OpenAiChat::error_body(const base::Error& error) const {
  return api::error_body(error);
}

void OpenAiChat::pass_answer(std::string& answer, std::string_view upstream_model,
                             std::string_view served) const {
  if (upstream_model != served) answer = api::with_model(answer, served);
}

void OpenAiChat::pass_event(std::string& out, std::string_view data, const providers::Event& event,
                            const api::ChatRequest& request, std::string_view upstream_model,
                            std::string_view served) const {
  switch (event.kind) {
    case api::ChunkKind::kDone:
      append_event_chunk(out, "[DONE]");
      return;
    case api::ChunkKind::kError:
      append_event_chunk(out, data);
      return;
    case api::ChunkKind::kUsageOnly:
      // Added by Shepherd for metering; forwarded only when the client asked for usage.
      if (!request.client_wants_usage) return;
      break;
    case api::ChunkKind::kData:
      break;
  }
  if (upstream_model != served) {
    append_event_chunk(out, api::with_model(data, served));
  } else {
    append_event_chunk(out, data);
  }
}

void OpenAiChat::error_event(std::string& out, const base::Error& error) const {
  append_event_chunk(out, api::error_body(error));
}

}  // namespace shepherd::ingress
