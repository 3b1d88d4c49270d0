// The stages of a chat request, in the order serve_chat() runs them. Each is the one place a
// feature plugs in: keys in identify, limits and budgets in admit, the audit record in record.
#pragma once

#include "pipeline/context.hpp"

namespace shepherd::pipeline {

// identify: the caller of `request` (a static key, a virtual key of `keys`, or anyone in open
// mode), or 401 saying what is wrong with its key. The token (Authorization: Bearer, or
// x-api-key) is hashed once, whatever its shape, and looked up among both kinds of keys.
base::Result<Caller> identify(const LoopView& view, const auth::KeyTable* keys,
                              const net::Request& request);

// parse: the body validated in the client's dialect, and the model resolved (404 naming the
// models that exist). Sets rc.chat and rc.model_index.
base::Status parse_and_resolve(RequestContext& rc);

// admit: whether the request may run now, and its admission estimate (tokens it may use: the
// prompt at four bytes a token plus the completion the client allows), which routing checks
// against context windows and token rates. Sets rc.shape. A virtual key's models (403), limits
// (429 with Retry-After) and budget (429 insufficient_quota) are checked here; an admitted
// request holds a ticket (rc.ticket) that the record stage settles.
Task<base::Status> admit(RequestContext& rc);

// relay (relay.cpp): plan → attempts → commit → delivery. Answers the client, whatever happens,
// and fills rc.route and rc.outcome. With rc.detach_streams, a committed stream is left in
// rc.stream instead of delivered: continue_stream() delivers it.
Task<void> relay(RequestContext& rc);
// A stream relay() left in rc.stream, from its commit point to its end, then the record stage.
// Its caller owns `rc` (and the connection) until this returns.
Task<void> continue_stream(RequestContext& rc);

// record: settles the key's ticket with the real tokens and cost, then metrics and the audit
// record (the deployment's state was told by each attempt). Always runs.
Task<void> record(RequestContext& rc);

// The audit record of a finished request (audit.cpp), bodies included when rc.capture_bodies
// (with every configured secret and anything shaped like a virtual key redacted).
storage::AuditRecord audit_record(const RequestContext& rc, double cost_usd, double list_cost_usd);
// Tracing (trace.cpp): a request takes part in its client's trace (traceparent) or starts one
// when spans are exported; its span and its attempts' go to the exporter when it is recorded.
void begin_trace(RequestContext& rc, const net::Request& request);
void end_trace(RequestContext& rc, double cost_usd);

// The access-log line of `record` (audit.cpp): its members but the bodies, after the time it was
// written (UTC, RFC 3339 with milliseconds), the level and "request". As one JSON object, or as
// text: `time info request key=value ...`, strings quoted when they hold a space or a quote.
// Appended to `out`, newline included.
void append_access_line(std::string& out, const storage::AuditRecord& record, bool json);
// `text` with each of `secrets` and every "sk-shep-..." token replaced by "[REDACTED]".
std::string redact(std::string_view text, const std::vector<std::string>& secrets);

// The whole of a chat request on a dialect route (POST only): every stage above, in order.
// identify is skipped on an open route (rc.open_route). When it returns with rc.stream set, the
// stream and the record stage are left to continue_stream().
Task<void> serve_chat(RequestContext& rc, net::Request& request);
// A request refused before it could be parsed (its caller unknown, a body the route could not
// read): `error` answered in the dialect's shape, then the record stage, so it is counted and
// audited like every other refusal.
Task<void> serve_refused(RequestContext& rc, const base::Error& error);

// POST /v1/messages/count_tokens (Anthropic's dialect): the caller identified, the body decoded
// and its model resolved as for /v1/messages, then Shepherd's estimate of its input tokens
// (about four bytes of text per token; no provider is asked, so it costs nothing and works
// whatever dialect the model's deployments speak).
Task<void> serve_count_tokens(RequestContext& rc, net::Request& request);

}  // namespace shepherd::pipeline
