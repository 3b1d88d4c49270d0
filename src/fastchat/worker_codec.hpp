// The answers of a FastChat worker (docs/fastchat-protocol.md §2) written from the common form, for
// `shepherd worker`: its clients (FastChat's API server, web UI and controller proxy) send
// /worker_generate_stream and /worker_generate, and Shepherd answers them from whichever provider
// serves the model.
//
// The worker's shell decodes FastChat's generate parameters and the prompt (through the model's
// conversation template, conversation.hpp) into the common form itself, so this codec decodes no
// requests. The answers are FastChat's:
// - a stream is NUL-framed JSON chunks, each with the whole text so far (not a delta), error_code
//   0, usage and a null finish_reason; the last repeats the text with "stop" or "length" and the
//   provider's usage. Intermediate chunks count completion tokens by the pieces of text received
//   and prompt tokens by estimate; the last has the provider's counts when it sent them.
// - /worker_generate's answer is that last chunk alone.
// - an error is a chunk with FastChat's error text and code (a stream that fails after its start
//   ends with one), as FastChat's workers send them: HTTP 200 for streams.
// `echo` is not honoured: the text never starts with the prompt (FastChat's API server and web UI
// send echo false).
#pragma once

#include "translate/codec.hpp"

namespace shepherd::fastchat {

class WorkerCodec final : public translate::Codec {
 public:
  translate::Wire wire() const override { return translate::Wire::kFastChatWorker; }
  void encode_response(const translate::Request& request, const translate::Response& response,
                       std::string_view model, std::string& out) const override;
  std::unique_ptr<translate::StreamEncoder> stream_encoder(const translate::Request& request,
                                                           std::string_view model) const override;
  std::string error_body(const base::Error& error) const override;
};

const translate::Codec& worker_codec();

// FastChat's error code for `error` (error_codes in protocol.hpp): 40302 for a request FastChat
// would call out of range, 40303 for a context overflow, 40301 for a model the worker does not
// serve, 42901 for rate limits, 42902 for a spent budget, 42903 when the worker cannot take the
// request now (its queue timed out, it is stopping), 50001 otherwise.
std::int64_t fastchat_error_code(const base::Error& error);

// The error chunk for `error` as one stream frame: json.dumps of {"text", "error_code"} and a NUL.
std::string error_frame(const base::Error& error);

}  // namespace shepherd::fastchat
