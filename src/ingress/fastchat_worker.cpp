#include "ingress/fastchat_worker.hpp"

#include "fastchat/worker_codec.hpp"

namespace shepherd::ingress {

std::string_view FastChatWorker::name() const {
  return stream_ ? "fastchat-worker-stream" : "fastchat-worker";
}

const translate::Codec& FastChatWorker::codec() const { return fastchat::worker_codec(); }

base::Result<api::ChatRequest> FastChatWorker::parse(std::string_view body, int max_depth) const {
  return api::parse_chat_request(body, max_depth);
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
