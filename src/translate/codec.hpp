// A Codec reads and writes one wire format in the common form (canonical.hpp): a client's request
// and the answer it gets (ingress), the request sent to a provider and the answer it sends back
// (upstream), and both sides of a stream. The pipeline translates only when the client's wire and
// the provider's differ: decode with the client's codec, encode with the provider's, and back.
//
// Codecs are pure and stateless: one instance per wire, shared by every thread. Stream decoders
// and encoders hold the state of one stream and belong to the attempt that reads it.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.hpp"
#include "translate/canonical.hpp"

namespace shepherd::translate {

// The wire formats Shepherd speaks.
enum class Wire {
  kOpenAiChat,        // POST /v1/chat/completions (clients and providers)
  kAnthropic,         // POST /v1/messages (clients and providers)
  kGemini,            // models/{model}:generateContent (providers)
  kOpenAiResponses,   // POST /v1/responses (clients)
  kFastChatWorker,    // a FastChat worker's /worker_generate(_stream) (clients: FastChat's API
                      // server)
  kFastChatGenerate,  // the same routes called by Shepherd (providers: FastChat workers)
};

// The state of one upstream stream being read into deltas.
class StreamDecoder {
 public:
  virtual ~StreamDecoder() = default;
  // One SSE event of the provider's stream: its `event:` field (empty when absent) and its data.
  // Appends the deltas it carries to `out`, in the order canonical.hpp gives. An error
  // (kUpstreamUnreachable, retryable) when the event is malformed; the decoder is not fed again.
  virtual base::Status feed(std::string_view event, std::string_view data,
                            std::vector<Delta>& out) = 0;
  // The provider's body ended cleanly. Appends what completes the stream for formats that end a
  // stream by ending the body (Gemini: kUsage and kDone once a finish reason was read); nothing
  // for formats with an end event of their own.
  virtual void end(std::vector<Delta>& out) = 0;
};

// The state of one client stream being written from deltas.
class StreamEncoder {
 public:
  virtual ~StreamEncoder() = default;
  // Appends the client's SSE events for `delta`, each framed as an HTTP/1.1 chunk
  // (append_sse_chunk); nothing when the delta has no counterpart in this format.
  virtual void encode(const Delta& delta, std::string& out) = 0;
  // The error event that ends a stream after its commit point (the encoder is not used again).
  virtual void error(const base::Error& error, std::string& out) = 0;
  // Called after the deltas of one upstream read have been encoded, before they are written: an
  // encoder that coalesces (FastChat's cumulative chunks, one per batch rather than one per
  // delta) appends what it holds. Nothing by default.
  virtual void flush(std::string& out) { (void)out; }
};

class Codec {
 public:
  virtual ~Codec() = default;

  virtual Wire wire() const = 0;

  // Ingress: a client's request body (JSON nesting at most `max_depth`) in the common form.
  // Errors are kBadRequest with `param` naming the offending field.
  virtual base::Result<Request> decode_request(std::string_view body, int max_depth) const;
  // Ingress: the client's answer to `request` for `response`, naming `model` (the name the
  // client used). Formats whose answers repeat the request's settings (Responses) read them
  // from `request`.
  virtual void encode_response(const Request& request, const Response& response,
                               std::string_view model, std::string& out) const;
  // Ingress: a stream encoder for a client that sent `request`, naming `model`.
  virtual std::unique_ptr<StreamEncoder> stream_encoder(const Request& request,
                                                        std::string_view model) const;
  // Ingress: the body of an error answer in this format.
  virtual std::string error_body(const base::Error& error) const;

  // Upstream: the provider's request body for `request`, for model `upstream_model`, written to
  // `out`. kBadRequest (with a message saying what cannot be expressed) when this format cannot
  // carry the request.
  virtual base::Status encode_request(const Request& request, std::string_view upstream_model,
                                      std::string& out) const;
  // Upstream: a complete answer of the provider. kUpstreamUnreachable (retryable) when it is
  // malformed.
  virtual base::Result<Response> decode_response(std::string_view body) const;
  // Upstream: a decoder for one stream of the provider.
  virtual std::unique_ptr<StreamDecoder> stream_decoder() const;
  // Upstream: the human-readable message inside the provider's error body, or a cleaned excerpt
  // of the body when it has none; at most 500 bytes.
  virtual std::string error_message(std::string_view body) const;
};

// One SSE event (`event: <event>` when not empty, then `data: <data>`) framed as an HTTP/1.1
// chunk, appended to `out`.
void append_sse_chunk(std::string& out, std::string_view event, std::string_view data);

// Parts of text of a request, for estimates: every text, thinking, tool argument and tool result
// text, the system prompt and the tool declarations, in bytes.
std::size_t text_bytes(const Request& request);
// A token estimate for `request` (about four bytes per token), for count_tokens and admission.
std::int64_t estimate_tokens(const Request& request);

// The codec name used in error messages ("OpenAI chat", "Anthropic Messages", ...).
std::string_view wire_name(Wire wire);

}  // namespace shepherd::translate
