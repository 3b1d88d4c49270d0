// One upstream exchange of a request, up to its commit point (the first byte to the client):
// the whole answer, or a stream's first real event. Runs through the provider's adapter; knows
// nothing of retries (relay.cpp decides those) and writes nothing to the client.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "api/sse.hpp"
#include "fastchat/generate.hpp"
#include "pipeline/context.hpp"
#include "translate/codec.hpp"

namespace shepherd::pipeline {

// The state of a translated exchange (the client's wire format differs from the provider's).
struct Translation {
  const translate::Codec* provider = nullptr;         // the provider's codec
  const translate::Codec* client = nullptr;           // the client's codec
  std::unique_ptr<translate::StreamDecoder> decoder;  // streams
  std::unique_ptr<translate::StreamEncoder> encoder;  // streams
  std::vector<translate::Delta> deltas;               // decoded, not yet encoded
  std::optional<translate::Response> response;        // answers, once decoded
};

struct Attempt {
  routing::Plan::Pick pick;
  const config::DeploymentConfig* deployment = nullptr;
  const LoopView::Provider* provider = nullptr;  // adapter, pool and request heads
  std::string_view head;                         // the request head for the provider
  std::string head_scratch;                      // the head, when built for this attempt
  std::string scratch;                           // the upstream body, when it differs
  std::string_view body;
  // Once the request is sent and the attempt committed: frees what built the request.
  void release_request() {
    head = {};
    body = {};
    for (auto* s : {&head_scratch, &scratch, &traceparent}) {
      s->clear();
      s->shrink_to_fit();
    }
  }
  Clock::time_point deadline;  // min(request deadline, start + provider's total timeout)
  Clock::time_point started, first_byte;
  observability::SpanId span_id{};  // with a trace: this attempt's span, named upstream
  std::string traceparent;          // with a trace: the header line sent upstream
  net::CancelState cancel;
  net::ConnectionPtr c;  // streams: the connection the answer continues on
  std::optional<base::Error> failure;
  // Streams: a failure read together with the first real event, reported after the commit.
  std::optional<base::Error> after_commit;
  std::optional<routing::Duration> bench;  // 429 Retry-After: out of rotation this long
  bool ended = false;                      // DeploymentState::end() was called
  // This deployment cannot take the request (too long for its context, or something its
  // provider cannot express); another may.
  bool unfit = false;
  bool finished = false;  // open() has returned (hedging)
  // Streams: events read before the commit point, framed for the client.
  api::SseParser sse;
  // A NUL-framed upstream stream (Adapter::Framing::kNul) is split here instead, into `frames`.
  std::optional<shepherd::fastchat::NulFrameReader> nul;
  std::vector<std::string> frames;
  std::string pending;
  bool substantive = false;  // pending holds more than the role chunk: ready to commit
  bool done = false, error_event = false;
  std::optional<api::Usage> usage;
  // For an estimate when the upstream reports no usage: content events passed through (same
  // wire; one token each, as OpenAI-compatible servers stream), content bytes decoded
  // (translated).
  std::int64_t content_events = 0, content_bytes = 0;
  std::string answer;               // non-streaming: the complete answer
  std::unique_ptr<Translation> tr;  // null: same wire (bytes are forwarded)

  bool ok() const { return !failure && !cancel.client_gone; }
  net::UpstreamPool& pool() const { return *provider->pool; }
  const config::ProviderConfig& provider_config() const { return provider->pool->provider(); }
};

// Fills in `a` for `pick`: deployment, provider, head and body (the client's bytes, rewritten by
// the adapter only when the upstream needs other bytes, or translated when it speaks another
// wire format), start time and deadline. Sets a.failure (a 400, not the deployment's fault) when
// the request cannot go to this deployment; the attempt is then ended.
void prepare_attempt(RequestContext& rc, Attempt& a, const routing::Plan::Pick& pick,
                     const routing::Plan& plan);

// Sends the request and reads up to the commit point. On failure sets a.failure and ends the
// attempt on its deployment (finish_attempt) with the verdict the failure deserves.
Task<void> open_attempt(RequestContext& rc, Attempt& a);

// Tells the deployment how the attempt went, once (later calls do nothing).
void finish_attempt(RequestContext& rc, Attempt& a, routing::AttemptResult verdict);

// With a trace (trace.cpp): names the attempt's span and the traceparent it sends upstream; and
// keeps its span when it ends.
void trace_attempt_start(RequestContext& rc, Attempt& a);
void trace_attempt_end(RequestContext& rc, const Attempt& a);

// Feeds stream bytes read from the upstream to the attempt's SSE parser; each event is inspected
// by the adapter and, when the client is to see it, framed into a.pending by the dialect (or
// translated: decoded by the provider's codec, encoded by the client's).
void take_stream_bytes(RequestContext& rc, Attempt& a, std::string& bytes);
// The upstream's stream body ended cleanly: formats that end streams that way (Gemini) complete
// the stream here.
void end_stream_body(RequestContext& rc, Attempt& a);
// Token counts for an answer whose upstream reported none (or a stream cut before it did):
// the prompt from the request, the completion from what was delivered. Rough (about four
// bytes of text per token), and recorded as an estimate.
api::Usage estimate_usage(const RequestContext& rc, const Attempt& a);

// What the request's `usage` cost at the served deployment's prices, in US dollars; nullopt
// when the deployment has no price.
std::optional<double> cost_of(const Attempt& a, const api::Usage& usage);

// The event that ends a committed stream with `error`, in the client's format, appended to `out`.
void stream_error_event(RequestContext& rc, Attempt& a, const base::Error& error, std::string& out);

// A stream that ended before it was complete (retryable before the commit point).
base::Error stream_ended_early(const config::ProviderConfig& provider, std::string detail);

// Runs `first`, and when it has not finished after `delay` a second attempt alongside it
// (hedging, hedge.cpp); returns the attempt to commit, or a failed one when both failed.
Task<Attempt*> open_hedged(RequestContext& rc, Attempt& first, std::unique_ptr<Attempt>& second,
                           routing::Plan& plan, Clock::duration delay, net::CancelState& request);

// After the commit point (deliver.cpp): the answer to the client. For streams, returns whether
// the upstream connection may be reused.
Task<void> deliver_answer(RequestContext& rc, Attempt& a);
Task<bool> deliver_stream(RequestContext& rc, Attempt& a);

}  // namespace shepherd::pipeline
