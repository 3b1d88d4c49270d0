#include "ingress/fastchat_worker.hpp"

#include "fastchat/generate.hpp"
#include "fastchat/worker_codec.hpp"

namespace shepherd::ingress {

std::string_view FastChatWorker::name() const {
  return stream_ ? "fastchat-worker-stream" : "fastchat-worker";
}

const translate::Codec& FastChatWorker::codec() const { return fastchat::worker_codec(); }

base::Result<api::ChatRequest> FastChatWorker::parse(std::string_view body, int) const {
  auto params = fastchat::parse_generate_params(body);
  if (!params) return std::move(params).error();
  api::ChatRequest r;
  r.model = std::move(params->model);
  r.stream = stream_;
  r.max_tokens = params->max_new_tokens;
  return r;
}

std::string FastChatWorker::error_body(const base::Error& error) const {
  return stream_ ? fastchat::error_frame(error) : fastchat::worker_codec().error_body(error);
}

void FastChatWorker::error_event(std::string& out, const base::Error& error) const {
  api::append_http_chunk(out, fastchat::error_frame(error));
}

const FastChatWorker& fastchat_worker_stream_dialect() {
  static const FastChatWorker dialect(true);
  return dialect;
}

const FastChatWorker& fastchat_worker_answer_dialect() {
  static const FastChatWorker dialect(false);
  return dialect;
}

}  // namespace shepherd::ingress
