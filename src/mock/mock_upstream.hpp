// `shepherd mock-upstream`: an OpenAI-compatible provider double for offline demos, integration
// tests (fault injection) and benchmarks. It answers deterministically, counts honestly and can
// misbehave on request. It must never be the bottleneck of a benchmark, so the plain
// non-streaming path allocates nothing per request once a connection is warm.
//
// Routes (HTTP/1.1 with keep-alive; HTTPS only when a certificate and key are configured):
//   GET  /v1/models, /models              OpenAI model list of MockOptions::models
//   GET  /v1/models/{id}, /models/{id}    one model, or 404
//   POST /v1/chat/completions, /chat/completions
//   GET  /mock/stats                      counters, see below
//   GET  /mock/last-request               {"method","target","headers":{lowercased: value},"body"}
//                                         of the last chat request; 404 before the first one
//   POST /mock/reset                      zeroes the counters and the fail-first counter,
//                                         re-seeds the fail-rate generator and forgets the last
//                                         request (open_connections is a gauge and stays)
// Errors use the OpenAI shape {"error":{"message","type","param":null,"code"}}. A chat request
// with invalid JSON, a missing or non-string `model`, a missing or empty `messages` array, or a
// wrong-typed `stream` / `max_tokens` / `max_completion_tokens` gets 400 invalid_request_error.
//
// The answer to a chat request:
//   - Content: `n` tokens, one per stream chunk. Token 0 is "Hello"; token i > 0 is
//     {" from", " the", " mock", " upstream", ".", " Hello"}[(i - 1) % 6], so 8 tokens read
//     "Hello from the mock upstream. Hello from". `n` is MockOptions::chunks, overridden by the
//     request header `x-mock-chunks: N`, and capped by `max_completion_tokens` / `max_tokens`
//     when one of them is smaller; finish_reason is then "length", else "stop".
//   - `model` echoes the request's model. `id` is "chatcmpl-mock-<counter>", unique per process.
//   - Usage is honest, not estimated:
//       prompt_tokens     = the number of whitespace-separated words over the `content` of all
//                           messages (a string, or the `text` of each part when it is an array);
//       completion_tokens = the number of content tokens sent (a big-chunk counts as one);
//       total_tokens      = prompt_tokens + completion_tokens.
//   - Non-streaming: one chat.completion object with Content-Length, sent after
//     first_token_delay.
//   - Streaming (`"stream": true`): status and headers go out at once (text/event-stream, chunked)
//     together with a role chunk (delta {"role":"assistant","content":""}); then one
//     chat.completion.chunk per token (the first after first_token_delay, the others chunk_delay
//     apart); then a chunk with an empty delta and the finish_reason; then, only if
//     `stream_options.include_usage` is true, a chunk with "choices":[] and the usage (every
//     earlier chunk then carries "usage":null, as OpenAI does); then `data: [DONE]`. Each event is
//     `data: <json>\n\n` and is written as soon as it is due, one write per event.
//   - Request headers `x-mock-first-token-delay-ms` and `x-mock-chunk-delay-ms` override the
//     delays for one request.
//
// Faults. A spec is a comma-separated list of items, from MockOptions::fault or, per request, from
// the `x-mock-fault` header (the header wins, even when empty). Whitespace around items is
// ignored; a repeated item's last value wins; an unknown or malformed item is answered with 400
// naming it (and makes start() throw when it is in MockOptions::fault).
//   status=CODE          answer CODE (400..599) with an OpenAI-shaped error body whose message is
//                        "mock fault: status CODE"
//   retry-after=VALUE    with status: add `Retry-After: VALUE` verbatim (delta-seconds or an
//                        HTTP-date; the comma after an HTTP-date's day name is part of VALUE)
//   reset                read the request, then close with SO_LINGER 0 (RST) without answering
//   redirect             answer 307 with `Location: http://127.0.0.1:1/elsewhere`, empty body
//   slow-headers=MS      wait MS before the status line (streaming and non-streaming)
//   stall-after=N        streams: after N content chunks send nothing more until the peer closes
//   reset-after=N        streams: after N content chunks close with RST
//   cut-after=N          streams: after N content chunks end the chunked body cleanly (no finish
//                        chunk, no [DONE]); the connection stays usable
//   malformed-after=N    streams: after N content chunks send `data: {"id": broken\n\n`, then go on
//   error-event-after=N  streams: after N content chunks send an OpenAI error object as an event
//                        (type server_error, "mock fault: error event") and end the body; no [DONE]
//   no-usage             never send usage: no usage chunk, no "usage":null, no usage object
//   big-chunk=BYTES      the first content token is BYTES bytes of 'x' (≤ 64 MiB); in a
//                        non-streaming answer too, so both carry the same content
//   fail-first=N         apply the other items only to the first N chat requests whose spec
//                        contains fail-first (and, when it contains fail-rate too, that fail-rate
//                        selected), counted since start or /mock/reset
//   fail-rate=PCT        PCT 0..100: apply the other items only to a random PCT percent of the
//                        chat requests whose spec contains fail-rate; the others are answered
//                        normally. Each such request that passes validation draws the next output
//                        X of one std::mt19937_64 shared by all threads, seeded with
//                        MockOptions::seed (`--seed N`, default 1) at start and at /mock/reset;
//                        it is selected when X % 100 < PCT. So 0 selects none, 100 all, and the
//                        same seed and request order select the same requests
//   ratelimit=REMAINING/RESET
//                        add `x-ratelimit-limit-requests: 100` (always 100),
//                        `x-ratelimit-remaining-requests: REMAINING` and
//                        `x-ratelimit-reset-requests: RESET` to the answer: the 200 (streaming or
//                        not), the status=CODE error or the redirect. REMAINING is a decimal
//                        integer 0..1000000000; RESET is sent verbatim ("2s", "1m30s", "250ms")
//                        and must be non-empty printable ASCII without spaces or commas
// Selection comes first: fail-rate, then fail-first. Then, when several apply: reset, then
// redirect, then status, then the answer. A stream fault with N at or above the number of content
// tokens fires after the last content token.
// Stream-only items are ignored for non-streaming requests.
//
// GET /mock/stats answers
//   {"requests","chat_requests","models_requests","streams_started","streams_completed",
//    "client_disconnects","open_connections","connections_accepted"}
// requests counts every parsed HTTP request (this one included); connections_accepted counts
// connections accepted since start or /mock/reset (this one included); models_requests counts
// GET /v1/models and GET /models (the model list, not /models/{id}); streams_completed counts
// streams that reached `data: [DONE]`; client_disconnects counts chat requests whose peer closed
// the connection before the answer was complete — during a delay or a stall this is noticed within
// ~50 ms, between chunks at the next write.
//
// Limits: request header 16 KiB (431), body 8 MiB (413); an idle keep-alive connection is closed
// after 60 s (reading one request is bounded by the same 60 s); a write that has not completed
// after 30 s closes the connection. Intentional waits (delays, stalls) have no deadline.
// A peer that half-closes (shutdown(SHUT_WR)) during a wait counts as gone.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace shepherd::mock {

struct MockOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 9000;  // 0 = ephemeral; see MockUpstream::port()
  // Event-loop threads. One acceptor hands connections round-robin to the threads; each
  // connection then lives on one thread.
  int threads = 1;
  std::vector<std::string> models = {"gpt-4.1", "claude-sonnet-4.5", "gemini-2.5-flash",
                                     "deepseek-v3.2"};
  // Before the first content chunk (streams) or before the whole response (non-streaming).
  std::chrono::milliseconds first_token_delay{0};
  std::chrono::milliseconds chunk_delay{0};  // between stream content chunks
  int chunks = 8;                            // content tokens per answer
  std::string fault;                         // fault spec for every chat request; empty = none
  // > 0: a chat request whose prompt_tokens (counted as below) exceed it gets 400 with code
  // context_length_exceeded, as OpenAI answers an over-long request (after reset/redirect/slow
  // headers, before status faults).
  std::int64_t max_context = 0;
  std::uint64_t seed = 1;                   // seeds the fail-rate generator
  std::string tls_cert_file, tls_key_file;  // both set: serve HTTPS only (TLS >= 1.2)
};

// An in-process server, used by `shepherd serve --demo`, by the CLI and by tests.
// start(), port() and stop() are called by the owner from one thread that is not one of the
// server's own threads.
class MockUpstream {
 public:
  explicit MockUpstream(MockOptions options);
  ~MockUpstream();  // stop()s
  MockUpstream(const MockUpstream&) = delete;
  MockUpstream& operator=(const MockUpstream&) = delete;

  // Validates the options, binds and listens, starts the threads and returns. Throws
  // std::runtime_error with a message naming the problem (bad option or fault spec, address in
  // use, unreadable certificate...). Call once.
  void start();
  // The bound port, valid after start().
  std::uint16_t port() const;
  // Closes the listener and every connection (peers see a close, not an answer), joins the
  // threads. Idempotent; a no-op before start().
  void stop();

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

// The CLI entry point: starts a MockUpstream, prints exactly one line
// "mock-upstream listening on http://HOST:PORT" (https with TLS) to stdout and flushes, then blocks
// until SIGINT or SIGTERM. Returns the process exit code (0, or 1 with a message on stderr when
// start() fails).
int run_mock_upstream(const MockOptions& options);

}  // namespace shepherd::mock
