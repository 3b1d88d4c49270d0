// The ingress dialect of `shepherd worker`'s two generate routes (docs/fastchat-protocol.md §2):
// /worker_generate_stream (streamed) and /worker_generate (one answer). Requests are FastChat's
// generate parameters; the worker's shell decodes them into the common form itself, through the
// model's conversation template (fastchat/worker_request.hpp), so parse() reads only what routing
// needs. Answers are written by fastchat::worker_codec(): NUL-framed chunks with the cumulative
// text, or the last chunk alone.
//
// Errors are answered as FastChat's workers answer them: HTTP 200 with an error chunk (text and
// error_code), NUL-terminated on the streaming route, because FastChat's API server reads the
// error code from the body and drops a streamed body's unterminated tail. No provider speaks this
// wire format, so every answer is translated; the pass-through hooks are never called.
#pragma once

#include "ingress/dialect.hpp"

namespace shepherd::ingress {

class FastChatWorker final : public Dialect {
 public:
  explicit FastChatWorker(bool stream) : stream_(stream) {}

  std::string_view name() const override;
  const translate::Codec& codec() const override;
  base::Result<api::ChatRequest> parse(std::string_view body, int max_depth) const override;
  std::string error_body(const base::Error& error) const override;
  int error_status(const base::Error&) const override { return 200; }
  std::string_view stream_content_type() const override { return "application/octet-stream"; }

  void pass_answer(std::string&, std::string_view, std::string_view) const override {}
  void pass_event(std::string&, const api::SseEvent&, const providers::Event&,
                  const api::ChatRequest&, std::string_view, std::string_view) const override {}
  void error_event(std::string& out, const base::Error& error) const override;

 private:
  bool stream_;
};

// The dialects of /worker_generate_stream and /worker_generate.
const FastChatWorker& fastchat_worker_stream_dialect();
const FastChatWorker& fastchat_worker_answer_dialect();

}  // namespace shepherd::ingress
