// The seam for upstream dialects. An Adapter turns a chat request into what one kind of provider
// expects on the wire (request head and body), and turns what the provider sends back (a complete
// answer, stream events, an error status and its headers) into what the pipeline needs: usage,
// the kind of each event, errors in Shepherd's terms and what they say about the deployment.
//
// When the client speaks the provider's wire format, the adapter works on bytes (the fast path:
// chat_body, read_answer, read_event); otherwise the pipeline translates through the adapter's
// codec (translate/codec.hpp) and the adapter only supplies the head and judges statuses.
//
// Adapters are pure: no sockets, no clocks (the caller passes the time), no state. One instance
// per kind lives in the registry (registry.hpp) and is shared by every thread. Adding a provider
// kind is a folder beside openai/, one line in registry.cpp, and its fixtures and tests.
#pragma once

#include <chrono>
#include <ctime>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "api/openai.hpp"
#include "api/sse.hpp"
#include "base/result.hpp"
#include "config/config.hpp"
#include "routing/state.hpp"
#include "translate/codec.hpp"

namespace shepherd::providers {

using translate::Wire;

// What a client asks of the provider: the endpoint its request came to.
enum class Operation {
  kChat,         // chat completions, Messages, Responses: one turn of a conversation
  kCompletions,  // OpenAI's legacy text completions
  kEmbeddings,   // OpenAI embeddings
};

// One response header as the upstream sent it.
struct Header {
  std::string_view name;
  std::string_view value;
};

// A complete (non-streaming) answer, inspected.
struct Answer {
  std::optional<api::Usage> usage;  // nullopt: the upstream reported none
};

// One stream event's data, inspected (never re-serialised).
struct Event {
  api::ChunkKind kind = api::ChunkKind::kData;
  // Token counts the event reports; a field left 0 is not reported by this event (Anthropic
  // sends input tokens first and output tokens last).
  std::optional<api::Usage> usage;
  // Set by the pipeline on the event with the final usage: the request's cost in US dollars at
  // the deployment's prices (nullopt when it has none), for dialects that report it.
  std::optional<double> cost_usd;
};

// An upstream's non-2xx answer, as the client sees it and as routing judges it.
struct StatusFailure {
  base::Error error;  // client-safe: never the provider's text when it could quote a key
  routing::AttemptResult verdict = routing::AttemptResult::kNeutral;
  // The request is too long for this deployment, not for every one: another may take it.
  bool context_exceeded = false;
};

class Adapter {
 public:
  virtual ~Adapter() = default;

  virtual std::string_view kind() const = 0;
  // The codec of the provider's wire format, for translated traffic.
  virtual const translate::Codec& codec() const = 0;
  Wire wire() const { return codec().wire(); }

  // Translated traffic: the provider's request body for `request` to deployment model
  // `upstream_model`, in `out`. The codec's by default; an adapter whose bodies depend on the
  // provider's settings (FastChat's conversation templates) overrides it.
  virtual base::Status encode_request(const config::ProviderConfig& provider,
                                      const translate::Request& request,
                                      std::string_view upstream_model, std::string& out) const {
    (void)provider;
    return codec().encode_request(request, upstream_model, out);
  }
  // How the provider frames a stream: server-sent events, or JSON texts each ended by a NUL byte
  // (FastChat's workers). NUL-framed streams are always translated; their frames reach the
  // codec's stream decoder as an event's data.
  enum class Framing { kSse, kNul };
  virtual Framing framing() const { return Framing::kSse; }

  // Whether request heads name the model (Gemini puts it in the path): the pipeline then builds
  // a head per attempt instead of once per provider and event loop.
  virtual bool model_in_head() const { return false; }
  // The head of a request for `op`: request line, Host, the provider's credentials, Accept and
  // Content-Type. The caller appends Content-Length and the blank line. `upstream_model` is only
  // read when model_in_head().
  virtual std::string request_head(const config::ProviderConfig& provider, Operation op,
                                   std::string_view upstream_model, bool stream) const = 0;
  // The complete request of an active health check, which spends no tokens.
  virtual std::string probe_request(const config::ProviderConfig& provider) const = 0;

  // The same-wire hooks below (chat_body, read_answer, read_event, is_preamble) are asked only
  // when a client speaks the provider's wire format. An adapter no client speaks (Gemini,
  // FastChat) keeps their defaults: the body as it is, the answer read through the codec, plain
  // events.
  //
  // Same wire, chat: the body sent upstream for `request` (whose bytes are `body`) to deployment
  // model `upstream_model`: `body` itself when nothing has to change, else `scratch` filled in.
  // `request` must have been validated by the ingress dialect.
  virtual std::string_view chat_body(const api::ChatRequest& request, std::string_view body,
                                     std::string_view upstream_model, std::string& scratch) const;
  // Completions and embeddings (OpenAI requests): the body sent upstream, in `scratch` when it
  // differs from `body`. kBadRequest when the provider cannot serve `op`.
  virtual base::Result<std::string_view> operation_body(Operation op,
                                                        const api::ChatRequest& request,
                                                        std::string_view body,
                                                        std::string_view upstream_model,
                                                        int max_depth, std::string& scratch) const;
  // Completions and embeddings: the provider's complete answer turned, in place, into the
  // OpenAI answer (naming `served`, with `prompt_tokens` as usage when the provider reports
  // none), and its usage. Same-wire answers are left as they are (the dialect renames them).
  virtual base::Result<Answer> operation_answer(Operation op, std::string& answer,
                                                std::string_view served,
                                                std::int64_t prompt_tokens) const;

  // Same wire: a complete answer. An error (kUpstreamUnreachable, retryable) when malformed.
  virtual base::Result<Answer> read_answer(std::string_view body) const;
  // Same wire: one stream event. An error when it is malformed.
  virtual base::Result<Event> read_event(const api::SseEvent& event) const;
  // Same wire: whether an ordinary event only opens the answer (OpenAI's role chunk, Anthropic's
  // message_start): the pipeline holds such events back until the first real one, so a slow
  // first token can still be retried or hedged. Asked only until the first real event.
  virtual bool is_preamble(const api::SseEvent& event) const;

  // A non-2xx status with its (bounded) body and Retry-After value, at wall-clock `now`.
  StatusFailure read_status(const config::ProviderConfig& provider, int status,
                            std::string_view body, std::string_view retry_after,
                            std::time_t now) const;
  // How long the upstream says its quota is spent (from rate-limit headers), or nullopt (the
  // default, for providers that send no such headers). Called on every answer: must not
  // allocate unless such a header is present.
  virtual std::optional<std::chrono::milliseconds> exhausted_for(std::span<const Header> headers,
                                                                 std::time_t now) const;

 protected:
  // Whether a 4xx `body` says the request is longer than the model's context.
  virtual bool context_exceeded(int status, std::string_view body) const = 0;
  // Seconds to wait that an error body gives when no Retry-After header came (Gemini's 429s
  // carry a google.rpc.RetryInfo `retryDelay`), or nullopt.
  virtual std::optional<long> retry_delay_in_body(std::string_view) const { return std::nullopt; }
};

// Token counts in the common form, as the pipeline meters them.
api::Usage usage_of(const translate::Usage& u);

// What an upstream status says about the deployment's health (RELIABILITY.md): 408, 429 and 5xx
// count against it, 401/403 mean its credentials are bad; other 4xx are the request's fault.
routing::AttemptResult status_verdict(int status);

// The request head most providers take: `method path` under the base URL's path, Host,
// User-Agent, Content-Type for POST, Accept, then `credentials` (complete header lines).
std::string basic_head(const config::ProviderConfig& provider, std::string_view method,
                       std::string_view path, std::string_view accept,
                       std::string_view credentials);

// ASCII case-insensitive equality, for header names.
bool iequals(std::string_view a, std::string_view b);

// The kBadRequest a provider answers for an operation it cannot serve.
base::Error cannot_serve(std::string_view kind, Operation op);

}  // namespace shepherd::providers
