#include "fastchat/worker_dialect.hpp"

#include "fastchat/worker_codec.hpp"

namespace shepherd::fastchat {

std::string_view WorkerDialect::name() const {
  return stream_ ? "fastchat-worker-stream" : "fastchat-worker";
}

const translate::Codec& WorkerDialect::codec() const { return worker_codec(); }

base::Result<api::ChatRequest> WorkerDialect::parse(std::string_view body, int max_depth) const {
  return api::parse_chat_request(body, max_depth);
}

std::string WorkerDialect::error_body(const base::Error& error) const {
  return stream_ ? error_frame(error) : worker_codec().error_body(error);
}

void WorkerDialect::error_event(std::string& out, const base::Error& error) const {
  api::append_http_chunk(out, error_frame(error));
}

const WorkerDialect& worker_stream_dialect() {
  static const WorkerDialect dialect(true);
  return dialect;
}

const WorkerDialect& worker_answer_dialect() {
  static const WorkerDialect dialect(false);
  return dialect;
}

}  // namespace shepherd::fastchat
