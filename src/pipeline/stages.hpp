// The stages of a chat request, in the order serve_chat() runs them. Each is the one place a
// feature plugs in: keys in identify, limits and budgets in admit, the audit record in record.
#pragma once

#include "pipeline/context.hpp"

namespace shepherd::pipeline {

// Who is calling. Today a static key (server.api_keys) or, in open mode, anyone.
struct Caller {
  int key_index = -1;  // which of server.api_keys; -1 in open mode
};

// identify: the caller of `request`, or 401 saying what is wrong with its key.
base::Result<Caller> identify(const LoopView& view, const net::Request& request);

// parse: the body validated in the client's dialect, and the model resolved (404 naming the
// models that exist). Sets rc.chat and rc.model_index.
base::Status parse_and_resolve(RequestContext& rc);

// admit: whether the request may run now, and its admission estimate (tokens it may use: the
// prompt at four bytes a token plus the completion the client allows), which routing checks
// against context windows and token rates. Sets rc.shape.
base::Status admit(RequestContext& rc, const Caller& caller);

// relay (relay.cpp): plan → attempts → commit → delivery. Answers the client, whatever happens,
// and fills rc.route and rc.outcome.
Task<void> relay(RequestContext& rc);

// record: metrics (and the deployment's state, already told by each attempt). Always runs.
void record(RequestContext& rc, Clock::time_point started);

// The whole of a chat request on a dialect route (POST only): every stage above, in order.
Task<void> serve_chat(RequestContext& rc, net::Request& request);

// POST /v1/messages/count_tokens (Anthropic's dialect): the caller identified, the body decoded
// and its model resolved as for /v1/messages, then Shepherd's estimate of its input tokens
// (about four bytes of text per token; no provider is asked, so it costs nothing and works
// whatever dialect the model's deployments speak).
Task<void> serve_count_tokens(RequestContext& rc, net::Request& request);

}  // namespace shepherd::pipeline
