#include "providers/gemini/gemini_adapter.hpp"

#include "translate/gemini.hpp"

namespace shepherd::providers::gemini {

namespace {

std::string credentials(const config::ProviderConfig& provider) {
  if (provider.api_key.empty()) return {};
  return "x-goog-api-key: " + provider.api_key + "\r\n";
}

}  // namespace

const translate::Codec& GeminiAdapter::codec() const { return translate::gemini_codec(); }

std::string GeminiAdapter::request_head(const config::ProviderConfig& provider, Operation op,
                                        std::string_view upstream_model, bool stream) const {
  // Model ids are configured as "gemini-2.5-flash"; "models/gemini-2.5-flash" (the resource
  // name) is accepted as well.
  if (upstream_model.starts_with("models/")) upstream_model.remove_prefix(7);
  std::string path = "/models/";
  path.append(upstream_model);
  if (op == Operation::kEmbeddings) {
    path.append(":batchEmbedContents");
  } else {
    path.append(stream ? ":streamGenerateContent?alt=sse" : ":generateContent");
  }
  return basic_head(provider, "POST", path, stream ? "text/event-stream" : "application/json",
                    credentials(provider));
}

std::string GeminiAdapter::probe_request(const config::ProviderConfig& provider) const {
  return basic_head(provider, "GET", "/models", "application/json", credentials(provider)) + "\r\n";
}

base::Result<std::string_view> GeminiAdapter::operation_body(Operation op, const api::ChatRequest&,
                                                             std::string_view body,
                                                             std::string_view upstream_model,
                                                             int max_depth,
                                                             std::string& scratch) const {
  if (op != Operation::kEmbeddings) return cannot_serve(kind(), op);
  if (upstream_model.starts_with("models/")) upstream_model.remove_prefix(7);
  if (auto s = translate::encode_embeddings(body, max_depth, upstream_model, scratch); !s) {
    return std::move(s).error();
  }
  return std::string_view(scratch);
}

base::Result<Answer> GeminiAdapter::operation_answer(Operation, std::string& answer,
                                                     std::string_view served,
                                                     std::int64_t prompt_tokens) const {
  auto body = translate::decode_embeddings(answer, served, prompt_tokens);
  if (!body) return std::move(body).error();
  answer = std::move(*body);
  return Answer{api::Usage{prompt_tokens, 0, prompt_tokens, 0, 0}};
}

bool GeminiAdapter::context_exceeded(int status, std::string_view body) const {
  // "The input token count (1200000) exceeds the maximum number of tokens allowed (1048576)."
  return status == 400 &&
         body.find("exceeds the maximum number of tokens") != std::string_view::npos;
}

std::optional<long> GeminiAdapter::retry_delay_in_body(std::string_view body) const {
  // {"error":{"code":429,...,"details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo",
  // "retryDelay":"37s"}]}}: a protobuf Duration, seconds with up to nine decimals and "s".
  constexpr std::string_view kKey = "\"retryDelay\"";
  auto at = body.find(kKey);
  if (at == std::string_view::npos) return std::nullopt;
  at = body.find('"', body.find(':', at + kKey.size()));
  if (at == std::string_view::npos) return std::nullopt;
  long seconds = 0;
  std::size_t i = at + 1;
  const std::size_t start = i;
  for (; i < body.size() && body[i] >= '0' && body[i] <= '9' && i - start < 9; ++i) {
    seconds = seconds * 10 + (body[i] - '0');
  }
  if (i == start) return std::nullopt;
  bool fraction = false;
  if (i < body.size() && body[i] == '.') {
    for (++i; i < body.size() && body[i] >= '0' && body[i] <= '9'; ++i) fraction = true;
  }
  if (i >= body.size() || body[i] != 's') return std::nullopt;
  return seconds + (fraction ? 1 : 0);  // a fraction of a second rounds up
}

}  // namespace shepherd::providers::gemini
