// `shepherd mock-upstream`: a provider double for offline demos, integration tests (fault
// injection) and benchmarks. It speaks the OpenAI API (chat and legacy completions, embeddings),
// the Anthropic Messages API and the Gemini API, each on its own paths as the real services do.
// It answers deterministically, counts honestly and can misbehave on request. It must never be
// the bottleneck of a benchmark, so the plain OpenAI non-streaming chat path allocates nothing per
// request once a connection is warm.
//
// Routes (HTTP/1.1 with keep-alive; HTTPS only when a certificate and key are configured). A
// query string is ignored except where noted; a known path with the wrong method gets 405.
//  OpenAI (errors {"error":{"message","type","param":null,"code"}}):
//   GET  /v1/models, /models              model list of MockOptions::models (without
//                                         anthropic-version; see Anthropic)
//   GET  /v1/models/{id}, /models/{id}    one model, or 404
//   POST /v1/chat/completions, /chat/completions
//   POST /v1/completions, /completions    legacy completions
//   POST /v1/embeddings, /embeddings
//  Anthropic (errors {"type":"error","error":{"type","message"}}):
//   POST /v1/messages
//   POST /v1/messages/count_tokens        {"input_tokens": prompt tokens}
//   GET  /v1/models, /v1/models/{id}      with an anthropic-version header: Anthropic's list
//                                         {"data":[{"type":"model","id","display_name",
//                                         "created_at"}],"has_more":false,"first_id","last_id"}
//                                         (ids null when empty), or the one model
//   other POST /v1/messages/...           404 not_found_error
//  Gemini (errors {"error":{"code","message","status"}}), {m} the model, from the path:
//   POST /v1beta/models/{m}:generateContent
//   POST /v1beta/models/{m}:streamGenerateContent?alt=sse   (without alt=sse, where the API
//                                         would stream a JSON array: 400 INVALID_ARGUMENT)
//   POST /v1beta/models/{m}:countTokens   {"totalTokens": prompt tokens}; the body is a request's
//                                         `contents` or a whole `generateContentRequest`
//   POST /v1beta/models/{m}:embedContent, :batchEmbedContents
//   the same methods under /v1/models/{m}: (only these: other /v1/models/ paths are OpenAI's)
//   GET  /v1beta/models                   {"models":[{"name":"models/<id>","version",
//                                         "displayName","description","inputTokenLimit",
//                                         "outputTokenLimit","supportedGenerationMethods"}]}
//   GET  /v1beta/models/{id}              one model, or 404; another :method, 404
//  The mock's own:
//   GET  /mock/stats                      counters, see below
//   GET  /mock/last-request               {"method","target","headers":{lowercased: value},"body"}
//                                         of the last API request: a chat, legacy completion,
//                                         embeddings or token-count request of any dialect,
//                                         recorded before any validation; 404 before the first
//                                         one. Model routes are not recorded: a gateway's health
//                                         probes must not hide what it sent.
//   POST /mock/reset                      zeroes the counters and the fail-first counter,
//                                         re-seeds the fail-rate generator and forgets the last
//                                         request (open_connections is a gauge and stays)
// Anything else gets 404 in the OpenAI shape. Each dialect answers its own errors (bad requests,
// 405, faults, context length) in its shape, with these types: Anthropic 400
// invalid_request_error, 401 authentication_error, 402 billing_error, 403 permission_error, 404
// not_found_error, 413 request_too_large, 429 rate_limit_error, 500 api_error, 504 timeout_error,
// 529 overloaded_error (other 4xx invalid_request_error, other 5xx api_error); Gemini 400
// INVALID_ARGUMENT, 401 UNAUTHENTICATED, 403 PERMISSION_DENIED, 404 NOT_FOUND, 409 ABORTED, 429
// RESOURCE_EXHAUSTED, 499 CANCELLED, 500 INTERNAL, 501 UNIMPLEMENTED, 503 UNAVAILABLE, 504
// DEADLINE_EXCEEDED (other 4xx FAILED_PRECONDITION, other 5xx INTERNAL).
//
// Credentials are not checked in any dialect: the mock has never checked OpenAI's Authorization,
// and x-api-key and x-goog-api-key mirror that (any value or none). They are recorded, so tests
// check what the gateway sent through /mock/last-request. Anthropic's API requests (messages,
// count_tokens) without an anthropic-version header get 400 invalid_request_error
// "anthropic-version: header is required", as the API answers; that check comes first, before
// faults and the body.
//
// Validation (400 in the dialect's shape; the mock reads loosely, only what it uses):
//   invalid JSON in any dialect;
//   OpenAI chat: a missing or non-string `model`, a missing or empty `messages` array, a
//     wrong-typed `stream` / `max_tokens` / `max_completion_tokens`;
//   legacy completions: `model` as chat; `prompt` (optional) not a string, an array of strings,
//     of token ids or of token-id arrays; `stream` / `max_tokens` as chat;
//   embeddings: `model` as chat; `input` missing, empty or not a string, an array of strings, of
//     token ids or of token-id arrays; `encoding_format` not "float" or "base64";
//   Anthropic: a missing or non-string `model`, `messages` missing, not an array or empty, a
//     message without a string `role`, `max_tokens` missing or not an integer >= 1 (messages
//     only), a non-boolean `stream`;
//   Gemini: `contents` missing or empty or holding a non-object, `maxOutputTokens` not a
//     non-negative integer; embedContent without `content`, batchEmbedContents without a
//     non-empty `requests` of objects with `content`.
//   Gemini request fields are read in both their camelCase and snake_case spellings.
//
// The answer to a chat request (chat, legacy completion, message, generateContent):
//   - Content (unless MockOptions::content gives the text): `n` tokens, one per stream content
//     event. Token 0 is "Hello"; token i > 0 is
//     {" from", " the", " mock", " upstream", ".", " Hello"}[(i - 1) % 6], so 8 tokens read
//     "Hello from the mock upstream. Hello from". `n` is MockOptions::chunks, overridden by the
//     request header `x-mock-chunks: N`, and capped by the request's output cap when that is
//     smaller (OpenAI `max_completion_tokens` / `max_tokens`, Anthropic `max_tokens`, Gemini
//     `generationConfig.maxOutputTokens`; thinking tokens count against the cap); the finish
//     reason is then "length" / "max_tokens" / "MAX_TOKENS", else "stop" / "end_turn" / "STOP".
//   - `model` echoes the request's model (Gemini's modelVersion: the path's). Ids are unique per
//     process: "chatcmpl-mock-<n>", "cmpl-mock-<n>", "msg_mock_<n>", responseId "mock-<n>".
//   - Usage is honest, not estimated:
//       prompt tokens     = the number of whitespace-separated words over the text of the prompt:
//                           OpenAI every message's `content` (a string, or the `text` of each
//                           part); legacy `prompt` (words of strings, one per token id);
//                           Anthropic `system` and every message's content (strings, the `text`
//                           of blocks, and tool_result contents); Gemini the `text` parts of
//                           `contents` and `systemInstruction`;
//       completion tokens = the number of content tokens sent (a big-chunk counts as one, a tool
//                           call as 3), plus the thinking tokens where the provider counts them
//                           as output (Anthropic);
//       thinking tokens   = 4 (the words of "Thinking about the question.") when thinking is on.
//     OpenAI: usage {prompt_tokens, completion_tokens, total_tokens}. Anthropic: usage
//     {input_tokens, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens}.
//     Gemini: usageMetadata {promptTokenCount, candidatesTokenCount, totalTokenCount} plus
//     thoughtsTokenCount when thinking (total = prompt + candidates + thoughts).
//   - Non-streaming: one answer object with Content-Length, sent after first_token_delay.
//     OpenAI chat: a chat.completion; legacy: {"object":"text_completion","choices":[{"text",
//     "index":0,"logprobs":null,"finish_reason"}],"usage",...}; Anthropic: {"id","type":"message",
//     "role":"assistant","model","content":[blocks],"stop_reason","stop_sequence":null,"usage"};
//     Gemini: {"candidates":[{"content":{"parts":[...],"role":"model"},"finishReason",
//     "index":0}],"usageMetadata","modelVersion","responseId"}.
//   - Streaming (`"stream": true`; Gemini: streamGenerateContent): status and headers go out at
//     once (text/event-stream, chunked) together with the opening events; then one content event
//     per token (the first after first_token_delay, the others chunk_delay apart); then the
//     closing events. Each event is written as soon as it is due, one write per event.
//       OpenAI chat: opening: a role chunk (delta {"role":"assistant","content":""}); content:
//         one chat.completion.chunk per token; closing: a chunk with an empty delta and the
//         finish_reason, then, only if `stream_options.include_usage` is true, a chunk with
//         "choices":[] and the usage (every earlier chunk then carries "usage":null, as OpenAI
//         does), then `data: [DONE]`. Each event is `data: <json>\n\n`.
//       Legacy completions: no opening event; content: {"object":"text_completion","choices":
//         [{"text","index":0,"logprobs":null,"finish_reason":null}]}; closing as chat (the finish
//         chunk has "text":"").
//       Anthropic: each event is `event: <type>\ndata: {"type":"<type>",...}\n\n`. Opening:
//         message_start (the message with empty content, input_tokens, output_tokens 0), the
//         thinking block when asked for (content_block_start, a thinking_delta with the whole
//         text, a signature_delta, content_block_stop), content_block_start of the text block
//         ({"type":"text","text":""}), ping; content: content_block_delta text_delta per token;
//         closing: content_block_stop, message_delta {"delta":{"stop_reason","stop_sequence":
//         null},"usage":{"output_tokens"}}, message_stop.
//       Gemini: each event is `data: <GenerateContentResponse>\n\n`, no event names, no [DONE].
//         Opening: the thought part when asked for; content: one response per token with one
//         text part; closing: one response whose part is {"text":""} carrying finishReason and
//         usageMetadata; the body then ends.
//   - Request headers `x-mock-first-token-delay-ms` and `x-mock-chunk-delay-ms` override the
//     delays for one request.
//
// Tools, in every chat dialect but legacy completions. The mock calls a tool when the request
// declares one, its last message is a user turn that is not a tool result, and the tool choice
// does not forbid tools:
//   OpenAI: `tools[].function.name`; the last message has role "user"; tool_choice "none"
//     forbids, {"type":"function","function":{"name"}} names the tool.
//   Anthropic: `tools[].name`; the last message has role "user" and no tool_result block;
//     tool_choice {"type":"none"} forbids, {"type":"tool","name"} names the tool.
//   Gemini: `tools[].functionDeclarations[].name`; the last content has no role or role "user",
//     and no functionResponse part; toolConfig.functionCallingConfig mode "NONE" forbids,
//     allowedFunctionNames[0] names the function.
// It calls the named tool, else the first declared, with arguments {"query": "<the last text of
// the last user message (its string content, or its last text part/block)>"}, cut to 40 bytes
// (fewer when the 40th would split a UTF-8 sequence). x-mock-chunks and output caps do not apply;
// the call counts 3 completion tokens, its arguments being sent as the three pieces `{"query":"`,
// the escaped text, `"}`. Answers:
//   OpenAI: message {"role":"assistant","content":null,"tool_calls":[{"id":"call_mock_<n>",
//     "type":"function","function":{"name","arguments":"<JSON text>"}}]}, finish_reason
//     "tool_calls". Streamed: the role chunk carries the first tool_calls delta ({"index":0,"id",
//     "type":"function","function":{"name","arguments":""}}); then three content chunks with
//     delta {"tool_calls":[{"index":0,"function":{"arguments":"<piece>"}}]}.
//   Anthropic: a {"type":"tool_use","id":"toolu_mock_<n>","name","input":{"query"}} block,
//     stop_reason "tool_use". Streamed: content_block_start carries the tool_use block with
//     "input":{}, then three input_json_delta content events with the pieces as partial_json.
//   Gemini: a {"functionCall":{"name","args":{"query"}}} part, finishReason "STOP"; when thinking
//     is on, the part also carries "thoughtSignature":"bW9jay1zaWduYXR1cmU=". Streamed: one
//     content event with that part (so stream faults count one content event for it).
// After a tool result (a following request whose last message is one) the answer is text.
//
// Thinking, when asked for: Anthropic `"thinking":{"type":"enabled"}` (or "adaptive"): a first
// content block {"type":"thinking","thinking":"Thinking about the question.",
// "signature":"mock-signature-<n>"}, the text or tool_use block being then index 1. Gemini
// `generationConfig.thinkingConfig.includeThoughts: true`: a first part {"text":"Thinking about
// the question.","thought":true}. OpenAI chat shows no thinking.
//
// Embeddings: a text's vector is 8 numbers, the bytes of its 64-bit FNV-1a hash, least
// significant first, each byte b as (b - 128) / 128: deterministic, the same in both dialects.
//   OpenAI: {"object":"list","data":[{"object":"embedding","index","embedding":[...]}],"model",
//     "usage":{"prompt_tokens","total_tokens"}}, one item per input; a token-id array embeds as
//     its ids' decimal text joined by single spaces and counts one token per id; encoding_format
//     "base64" sends the 8 values as little-endian float32s in base64.
//   Gemini: embedContent {"embedding":{"values":[...]}}; batchEmbedContents {"embeddings":
//     [{"values":[...]}]}, one per request, in order. A content's text is its parts' texts,
//     concatenated.
//
// Faults. A spec is a comma-separated list of items, from MockOptions::fault or, per request, from
// the `x-mock-fault` header (the header wins, even when empty). Whitespace around items is
// ignored; a repeated item's last value wins; an unknown or malformed item is answered with 400
// naming it (and makes start() throw when it is in MockOptions::fault). Faults apply to every API
// request (as /mock/last-request defines it) in every dialect; bodies, events and headers are the
// dialect's.
//   status=CODE          answer CODE (400..599) with the dialect's error body whose message is
//                        "mock fault: status CODE"
//   retry-after=VALUE    with status: add `Retry-After: VALUE` verbatim (delta-seconds or an
//                        HTTP-date; the comma after an HTTP-date's day name is part of VALUE)
//   reset                read the request, then close with SO_LINGER 0 (RST) without answering
//   redirect             answer 307 with `Location: http://127.0.0.1:1/elsewhere`, empty body
//   slow-headers=MS      wait MS before the status line (streaming and non-streaming)
//   stall-after=N        streams: after N content events send nothing more until the peer closes
//   reset-after=N        streams: after N content events close with RST
//   cut-after=N          streams: after N content events end the chunked body cleanly, before
//                        any closing event (no finish chunk, no [DONE]; Anthropic: no
//                        content_block_stop, message_delta or message_stop; Gemini: no
//                        finishReason chunk); the connection stays usable
//   malformed-after=N    streams: after N content events send a broken event, then go on:
//                        `data: {"id": broken\n\n`; Anthropic `event: content_block_delta\n
//                        data: {"type": broken\n\n`; Gemini `data: {"candidates": broken\n\n`
//   error-event-after=N  streams: after N content events send the dialect's error event and end
//                        the body (no closing events): OpenAI an error object (type server_error,
//                        "mock fault: error event") as a data event; Anthropic `event: error` with
//                        {"type":"error","error":{"type":"overloaded_error","message":"mock
//                        fault: error event"}}; Gemini a data event {"error":{"code":503,"message":
//                        "mock fault: error event","status":"UNAVAILABLE"}}
//   no-usage             never send usage: OpenAI no usage chunk, no "usage":null, no usage
//                        object; Gemini no usageMetadata. Anthropic cannot omit usage (its
//                        message_start and message_delta require it): ignored there
//   big-chunk=BYTES      the first content token is BYTES bytes of 'x' (≤ 64 MiB); in a
//                        non-streaming answer too, so both carry the same content (not in a tool
//                        call)
//   fail-first=N         apply the other items only to the first N API requests whose spec
//                        contains fail-first (and, when it contains fail-rate too, that fail-rate
//                        selected), counted since start or /mock/reset
//   fail-rate=PCT        PCT 0..100: apply the other items only to a random PCT percent of the
//                        API requests whose spec contains fail-rate; the others are answered
//                        normally. Each such request that passes validation draws the next output
//                        X of one std::mt19937_64 shared by all threads, seeded with
//                        MockOptions::seed (`--seed N`, default 1) at start and at /mock/reset;
//                        it is selected when X % 100 < PCT. So 0 selects none, 100 all, and the
//                        same seed and request order select the same requests
//   ratelimit=REMAINING/RESET
//                        add rate-limit headers to the answer: the 200 (streaming or not), the
//                        status=CODE error or the redirect. REMAINING is a decimal integer
//                        0..1000000000; RESET must be non-empty printable ASCII without spaces
//                        or commas. OpenAI: `x-ratelimit-limit-requests: 100` (always 100),
//                        `x-ratelimit-remaining-requests: REMAINING`,
//                        `x-ratelimit-reset-requests: RESET` verbatim ("2s", "1m30s", "250ms").
//                        Anthropic: `anthropic-ratelimit-requests-limit: 100`,
//                        `anthropic-ratelimit-requests-remaining: REMAINING`,
//                        `anthropic-ratelimit-requests-reset:` the RFC 3339 UTC time RESET from
//                        now, whole seconds rounded up, when RESET is a duration (numbers with
//                        fractions allowed, units h, m, s, ms), else RESET verbatim. Gemini: none
//                        (the Gemini API sends no rate-limit headers), so the item does nothing
// Selection comes first: fail-rate, then fail-first. Then, when several apply: reset, then
// redirect, then status, then the answer. A stream fault with N at or above the number of content
// events fires after the last content event.
// Stream-only items are ignored for non-streaming requests. Delays and max_context apply to chat
// requests only; embeddings and token counts are answered at once.
//
// GET /mock/stats answers
//   {"requests","chat_requests","models_requests","embeddings_requests","count_tokens_requests",
//    "streams_started","streams_completed","client_disconnects","open_connections",
//    "connections_accepted"}
// requests counts every parsed HTTP request (this one included); connections_accepted counts
// connections accepted since start or /mock/reset (this one included); chat_requests counts chat
// requests of every dialect (legacy completions included); models_requests counts the model lists
// of every dialect (GET /v1/models, /models, /v1beta/models; not one model); embeddings_requests
// counts embeddings, embedContent and batchEmbedContents; count_tokens_requests counts
// count_tokens and countTokens; streams_completed counts streams that sent their last closing
// event (`data: [DONE]`, message_stop, Gemini's finishReason chunk); client_disconnects counts API
// requests whose peer closed the connection before the answer was complete — during a delay or a
// stall this is noticed within ~50 ms, between chunks at the next write.
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
  // Listed by every dialect's model routes.
  std::vector<std::string> models = {"gpt-4.1", "claude-sonnet-4.5", "gemini-2.5-flash",
                                     "deepseek-v3.2"};
  // Before the first content chunk (streams) or before the whole response (non-streaming).
  std::chrono::milliseconds first_token_delay{0};
  std::chrono::milliseconds chunk_delay{0};  // between stream content chunks
  int chunks = 8;                            // content tokens per answer
  std::string fault;                         // fault spec for every API request; empty = none
  // > 0: a chat request whose prompt tokens (counted as below) exceed it gets 400, as the
  // providers answer an over-long request: OpenAI code context_length_exceeded, Anthropic
  // "prompt is too long: N tokens > M maximum", Gemini "The input token count (N) exceeds the
  // maximum number of tokens allowed (M)." (after reset/redirect/slow headers, before status
  // faults).
  std::int64_t max_context = 0;
  std::uint64_t seed = 1;                   // seeds the fail-rate generator
  std::string tls_cert_file, tls_key_file;  // both set: serve HTTPS only (TLS >= 1.2)
  // Non-empty: every answer's content is this text instead of the mock's words, one token per
  // word (each with the whitespace before it), so `chunks` defaults to its word count.
  std::string content;
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
