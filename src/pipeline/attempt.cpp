#include "pipeline/attempt.hpp"

#include <boost/container/small_vector.hpp>
#include <cstdio>
#include <ctime>
#include <limits>

#include "metering/cost.hpp"

namespace shepherd::pipeline {

using base::Error;
using base::ErrorCode;
using routing::AttemptResult;
namespace http = net::http;
namespace asio = net::asio;

namespace {

constexpr std::size_t kMaxUpstreamErrorBody = 64 * 1024;
constexpr std::size_t kMaxUpstreamBody = 64 * 1024 * 1024;
constexpr std::size_t kMaxUpstreamHeader = 64 * 1024;
// A 429's Retry-After benches the deployment at most this long.
constexpr auto kMaxBench = std::chrono::minutes(10);

bool stale_connection_error(const net::error_code& ec) {
  return ec == http::error::end_of_stream || ec == asio::error::eof ||
         ec == asio::error::connection_reset || ec == asio::error::broken_pipe ||
         ec == http::error::partial_message;
}

Error cancelled_error() {
  return base::make_error(ErrorCode::kUnavailable, "the request was cancelled");
}

// The response's headers as the adapter reads them; most answers have a handful.
using Headers = boost::container::small_vector<providers::Header, 16>;
Headers headers_of(const net::HttpResponse& response) {
  Headers out;
  for (std::size_t i = 0; i < response.field_count; ++i) {
    out.push_back({response.fields[i].first, response.fields[i].second});
  }
  return out;
}

}  // namespace

Error stream_ended_early(const config::ProviderConfig& provider, std::string detail) {
  auto e = base::make_error(ErrorCode::kUpstreamUnreachable,
                            "the upstream provider '" + provider.name +
                                "' ended the stream before it was complete; try again",
                            std::move(detail));
  e.retryable = true;
  return e;
}

void prepare_attempt(RequestContext& rc, Attempt& a, const routing::Plan::Pick& pick,
                     const routing::Plan& plan) {
  a.pick = pick;
  a.deployment = &rc.config().models[pick.model].deployments[pick.deployment];
  a.provider = &rc.view->providers[a.deployment->provider_index];
  a.started = Clock::now();  // precise: latency samples come from it
  a.deadline = std::min(plan.deadline(), a.started + a.provider_config().timeouts.total);
  const auto& adapter = *a.provider->adapter;
  const auto op = rc.dialect.operation();
  const auto& upstream_model = a.deployment->model;
  const bool stream = rc.chat.stream;
  const int max_depth = rc.config().server.max_json_depth;
  if (adapter.model_in_head()) {
    a.head_scratch = adapter.request_head(a.provider_config(), op, upstream_model, stream);
    a.head = a.head_scratch;
  } else {
    const auto i = static_cast<std::size_t>(op);
    a.head = stream ? a.provider->head_sse[i] : a.provider->head_json[i];
  }
  trace_attempt_start(rc, a);
  // A request this deployment cannot take is the request's problem, not the deployment's: it is
  // not judged by it, and another deployment (a fallback of another kind) may take it.
  auto refuse = [&](const Error& e) {
    a.failure = base::make_error(ErrorCode::kBadRequest,
                                 "deployment '" + a.deployment->id + "' (provider kind " +
                                     std::string(adapter.kind()) +
                                     ") cannot serve this request: " + e.message);
    // A translated request's paths name the common form's turns, which need not match the
    // client's (system turns, Responses items): the message says what to change instead.
    if (!a.tr) a.failure->param = e.param;
    a.failure->retryable = true;
    a.unfit = true;
    finish_attempt(rc, a, AttemptResult::kNeutral);
  };
  if (op != providers::Operation::kChat) {
    auto body = adapter.operation_body(op, rc.chat, rc.body, upstream_model, max_depth, a.scratch);
    if (!body) return refuse(body.error());
    a.body = *body;
    return;
  }
  if (adapter.wire() == rc.dialect.wire()) {
    a.body = adapter.chat_body(rc.chat, rc.body, upstream_model, a.scratch);
    return;
  }
  // Translation: the client's request in the common form (decoded once per request), written
  // in the provider's format.
  const auto& client = rc.dialect.codec();
  if (!rc.canonical) {
    auto decoded = client.decode_request(rc.body, max_depth);
    if (!decoded) {
      a.failure = std::move(decoded).error();
      finish_attempt(rc, a, AttemptResult::kNeutral);
      return;
    }
    rc.canonical = std::make_unique<translate::Request>(std::move(decoded).value());
  }
  a.tr = std::make_unique<Translation>();
  a.tr->provider = &adapter.codec();
  a.tr->client = &client;
  if (auto s =
          adapter.encode_request(a.provider_config(), *rc.canonical, upstream_model, a.scratch);
      !s) {
    return refuse(s.error());
  }
  a.body = a.scratch;
  if (stream) {
    if (adapter.framing() == providers::Adapter::Framing::kNul) a.nul.emplace();
    a.tr->decoder = a.tr->provider->stream_decoder();
    a.tr->encoder = client.stream_encoder(*rc.canonical, rc.config().models[pick.model].name);
  }
}

void finish_attempt(RequestContext& rc, Attempt& a, AttemptResult verdict) {
  if (a.ended) return;
  a.ended = true;
  trace_attempt_end(rc, a);
  if (a.failure && verdict != AttemptResult::kNeutral) {
    a.pick.state->set_last_error(base::code_name(a.failure->code) + std::string(": ") +
                                 a.failure->message);
  }
  a.pick.state->end(Clock::now(), verdict, rc.view->router().settings(), a.bench);
}

namespace {

// Token counts an event reports; a count it leaves at 0 keeps the earlier one (Anthropic reports
// input tokens first and output tokens last).
void merge_usage(std::optional<api::Usage>& into, const api::Usage& u) {
  if (!into) into = api::Usage{};
  if (u.prompt_tokens > 0) into->prompt_tokens = u.prompt_tokens;
  if (u.completion_tokens > 0) into->completion_tokens = u.completion_tokens;
  if (u.cached_tokens > 0) into->cached_tokens = u.cached_tokens;
  if (u.reasoning_tokens > 0) into->reasoning_tokens = u.reasoning_tokens;
  into->total_tokens = into->prompt_tokens + into->completion_tokens;
}

// Encodes the decoded deltas for the client, noting on the attempt what they say.
void take_deltas(const RequestContext& rc, Attempt& a) {
  auto& tr = *a.tr;
  using Kind = translate::Delta::Kind;
  for (auto& d : tr.deltas) {
    if (a.done || a.error_event) break;
    switch (d.kind) {
      case Kind::kStart:
        if (d.created == 0) d.created = static_cast<std::int64_t>(std::time(nullptr));
        if (d.id.empty()) d.id = rc.request_id;  // an upstream that names no answer (FastChat)
        break;
      case Kind::kUsage:
        a.usage = providers::usage_of(d.usage);
        d.usage.cost_usd = cost_of(a, *a.usage);
        a.substantive = true;
        break;
      case Kind::kDone:
        a.done = true;
        a.substantive = true;
        break;
      case Kind::kError:
        a.error_event = true;
        a.substantive = true;
        break;
      case Kind::kText:
      case Kind::kThinking:
      case Kind::kToolArguments:
        a.content_bytes += static_cast<std::int64_t>(d.text.size());
        a.substantive = true;
        break;
      default:
        a.substantive = true;
        break;
    }
    tr.encoder->encode(d, a.pending);
  }
  tr.deltas.clear();
}

}  // namespace

api::Usage estimate_usage(const RequestContext& rc, const Attempt& a) {
  api::Usage u;
  u.prompt_tokens = rc.canonical ? translate::estimate_tokens(*rc.canonical)
                                 : static_cast<std::int64_t>(rc.body.size() + 3) / 4;
  if (a.tr && a.tr->response) {
    std::int64_t bytes = 0;
    for (const auto& p : a.tr->response->content) {
      bytes += static_cast<std::int64_t>(p.text.size() + p.arguments.size());
    }
    u.completion_tokens = (bytes + 3) / 4;
  } else if (a.tr) {
    u.completion_tokens = (a.content_bytes + 3) / 4;
  } else if (rc.chat.stream) {
    // A complete stream's last event before [DONE] carries the finish reason, not a token.
    u.completion_tokens = std::max<std::int64_t>(0, a.content_events - (a.done ? 1 : 0));
  } else {
    // A complete answer's JSON around its text is about 200 bytes.
    u.completion_tokens =
        std::max<std::int64_t>(0, (static_cast<std::int64_t>(a.answer.size()) - 200 + 3) / 4);
  }
  u.total_tokens = u.prompt_tokens + u.completion_tokens;
  return u;
}

std::optional<double> cost_of(const Attempt& a, const api::Usage& usage) {
  const auto& price = a.deployment->price;
  if (price.input_per_million == 0 && price.output_per_million == 0) return std::nullopt;
  return metering::cost_usd(usage, price.input_per_million, price.output_per_million,
                            price.cached_input());
}

void take_stream_bytes(RequestContext& rc, Attempt& a, std::string& bytes) {
  if (bytes.empty()) return;
  if (a.tr) {
    auto on_frame = [&](std::string_view event, std::string_view data) {
      if (a.done || a.failure || a.error_event) return;
      if (auto s = a.tr->decoder->feed(event, data, a.tr->deltas); !s) {
        a.failure = s.error();
        return;
      }
      take_deltas(rc, a);
    };
    if (a.nul) {
      // FastChat's framing: each frame is one chunk's JSON.
      a.frames.clear();
      a.nul->feed(bytes, a.frames);
      for (const auto& f : a.frames) on_frame({}, f);
      if (a.nul->failed() && !a.failure) a.failure = a.nul->status().error();
    } else {
      auto on_event = [&](const api::SseEvent& ev) { on_frame(ev.event, ev.data); };
      if (auto s = a.sse.feed(bytes, on_event); !s.ok() && !a.failure) a.failure = s.error();
    }
    // The events of this read are in: a coalescing encoder writes what it held.
    if (a.tr->encoder) a.tr->encoder->flush(a.pending);
    bytes.clear();
    return;
  }
  const auto& adapter = *a.provider->adapter;
  const auto& served = rc.config().models[a.pick.model].name;
  auto on_event = [&](const api::SseEvent& ev) {
    if (a.done || a.failure || a.error_event) return;
    auto event = adapter.read_event(ev);
    if (!event) {
      a.failure = event.error();
      return;
    }
    switch (event->kind) {
      case api::ChunkKind::kDone:
        a.done = true;
        a.substantive = true;
        break;
      case api::ChunkKind::kError:
        a.error_event = true;
        a.substantive = true;
        break;
      case api::ChunkKind::kUsageOnly:
        a.usage = event->usage;
        if (a.usage) event->cost_usd = cost_of(a, *a.usage);
        a.substantive = true;
        break;
      case api::ChunkKind::kData:
        if (event->usage) {
          // Usage inside a data event (Anthropic's message_start and message_delta): the
          // total so far, priced, for a dialect that reports the cost in its final event.
          merge_usage(a.usage, *event->usage);
          event->cost_usd = cost_of(a, *a.usage);
        }
        if (!a.substantive && !adapter.is_preamble(ev)) a.substantive = true;
        if (a.substantive && !event->usage) ++a.content_events;
        break;
    }
    rc.dialect.pass_event(a.pending, ev, *event, rc.chat, a.deployment->model, served);
  };
  if (auto s = a.sse.feed(bytes, on_event); !s.ok() && !a.failure) a.failure = s.error();
  bytes.clear();
}

void end_stream_body(RequestContext& rc, Attempt& a) {
  if (!a.tr || a.done || a.failure || a.error_event) return;
  if (a.nul ? a.nul->pending() : a.sse.mid_event()) return;
  a.tr->decoder->end(a.tr->deltas);
  take_deltas(rc, a);
  if (a.tr->encoder) a.tr->encoder->flush(a.pending);
}

void stream_error_event(RequestContext& rc, Attempt& a, const Error& error, std::string& out) {
  if (a.tr) {
    a.tr->encoder->error(error, out);
  } else {
    rc.dialect.error_event(out, error);
  }
}

namespace {

// A complete answer, read: its usage, and for translated answers the common form.
base::Status read_complete_answer(RequestContext& rc, Attempt& a) {
  const auto& adapter = *a.provider->adapter;
  const auto op = rc.dialect.operation();
  if (op != providers::Operation::kChat) {
    const auto& served = rc.config().models[a.pick.model].name;
    auto answer =
        adapter.operation_answer(op, a.answer, served, static_cast<std::int64_t>(rc.shape.tokens));
    if (!answer) return std::move(answer).error();
    a.usage = answer->usage;
    return base::Ok{};
  }
  if (a.tr) {
    auto response = a.tr->provider->decode_response(a.answer);
    if (!response) return std::move(response).error();
    if (response->usage) a.usage = providers::usage_of(*response->usage);
    if (response->id.empty()) response->id = rc.request_id;
    a.tr->response = std::move(response).value();
    return base::Ok{};
  }
  auto answer = adapter.read_answer(a.answer);
  if (!answer) return std::move(answer).error();
  a.usage = answer->usage;
  return base::Ok{};
}

}  // namespace

namespace {

// The failures of open_attempt(), built here rather than in the coroutine: GCC gives every local
// and temporary of a coroutine a slot in its frame, and the frame of an attempt waiting for its
// first token is memory per waiting stream.
void fail(RequestContext& rc, Attempt& a, Error e, AttemptResult verdict) {
  a.failure = std::move(e);
  finish_attempt(rc, a, verdict);
}
void fail_cancelled(RequestContext& rc, Attempt& a) {
  fail(rc, a, cancelled_error(), AttemptResult::kNeutral);
}
void fail_io(RequestContext& rc, Attempt& a, const char* step, const net::error_code& ec) {
  fail(rc, a, net::upstream_io_error(a.provider_config(), step, ec), AttemptResult::kFailure);
}

// Rate-limit headers saying the deployment's quota is spent: it rests until they reset.
void note_exhaustion(Attempt& a, const net::HttpResponse& response) {
  const auto headers = headers_of(response);
  if (auto exhausted = a.provider->adapter->exhausted_for(headers, std::time(nullptr))) {
    a.pick.state->bench_until(Clock::now() + *exhausted);
  }
}

// A status other than 2xx, with its error body when one was read: the failure it means.
void fail_status(RequestContext& rc, Attempt& a, int status, std::string_view body) {
  const auto& response = a.c->response;
  auto failure = a.provider->adapter->read_status(a.provider_config(), status, std::string(body),
                                                  response.retry_after, std::time(nullptr));
  if (status == 429 && failure.error.retry_after) {
    a.bench =
        std::min<routing::Duration>(std::chrono::seconds(*failure.error.retry_after), kMaxBench);
  }
  a.unfit = failure.context_exceeded;
  fail(rc, a, std::move(failure.error), failure.verdict);
}

void fail_not_a_stream(RequestContext& rc, Attempt& a, std::string_view content_type) {
  const auto& provider = a.provider_config();
  fail(rc, a,
       base::make_error(
           ErrorCode::kUpstreamUnreachable,
           "the upstream provider '" + provider.name + "' did not answer with an event stream",
           "content-type " + std::string(content_type)),
       AttemptResult::kFailure);
}

// A complete answer, read; false (the attempt failed) when it cannot be.
bool take_answer(RequestContext& rc, Attempt& a) {
  auto s = read_complete_answer(rc, a);
  if (!s) fail(rc, a, std::move(s).error(), AttemptResult::kFailure);
  return s.ok();
}

// The connection back to its pool (reusable or not); the attempt keeps none.
void give_back(Attempt& a, bool reusable) {
  a.cancel.active = nullptr;
  a.pool().release(std::move(a.c), reusable);
}

// The request head, its trace line, its length and its body, on `c`; then the response's head.
// False with the attempt failed, or true with the connection in a.c and its head read.
Task<bool> exchange(RequestContext& rc, Attempt& a) {
  auto& pool = a.pool();
  const auto& provider = pool.provider();
  char length_line[48];
  const auto length_size = static_cast<std::size_t>(
      std::snprintf(length_line, sizeof length_line, "Content-Length: %zu\r\n\r\n", a.body.size()));
  // A reused keep-alive connection the upstream closed meanwhile fails on first use; that one
  // exchange is repeated on a new connection (the request never reached the upstream).
  for (int tries = 0; tries < 2; ++tries) {
    a.c = pool.take_idle();
    if (!a.c) {
      auto lease = co_await pool.acquire(a.deadline, a.cancel);
      if (a.cancel.client_gone) {
        fail_cancelled(rc, a);
        co_return false;
      }
      if (!lease) {
        fail(rc, a, std::move(lease).error(), AttemptResult::kFailure);
        co_return false;
      }
      a.c = std::move(*lease);
    }
    auto& c = *a.c;
    a.cancel.active = &c;
    c.expires_after(net::step_timeout(provider.timeouts.first_byte, a.deadline));
    const std::array<asio::const_buffer, 4> bufs{
        asio::buffer(a.head.data(), a.head.size()), asio::buffer(a.traceparent),
        asio::buffer(length_line, length_size), asio::buffer(a.body.data(), a.body.size())};
    const auto wec = co_await c.write(bufs);
    net::error_code ec = c.result(wec);
    if (!ec) {
      c.parser.emplace(c.response);
      c.parser->header_limit(kMaxUpstreamHeader);
      c.parser->body_limit(rc.chat.stream ? std::numeric_limits<std::uint64_t>::max()
                                          : kMaxUpstreamBody);
      c.expires_after(net::step_timeout(provider.timeouts.first_byte, a.deadline));
      ec = c.result(co_await c.read_header());
    }
    if (!a.cancel.client_gone && !ec) co_return true;
    const bool retry_fresh =
        !a.cancel.client_gone && c.reused && !c.timed_out && stale_connection_error(ec);
    give_back(a, false);
    if (a.cancel.client_gone) {
      fail_cancelled(rc, a);
      co_return false;
    }
    if (retry_fresh) continue;
    fail_io(rc, a, wec ? "sending the request" : "waiting for the answer", ec);
    co_return false;
  }
  fail_cancelled(rc, a);
  co_return false;
}

}  // namespace

Task<void> open_attempt(RequestContext& rc, Attempt& a) {
  if (!co_await exchange(rc, a)) co_return;
  auto& c = *a.c;
  const auto& provider = a.provider_config();
  auto& parser = *c.parser;
  auto& response = c.response;
  parser.eager(true);
  a.first_byte = Clock::now();
  const int status = response.status;
  note_exhaustion(a, response);
  if (status < 200 || status > 299) {
    // Read a bounded error body; whatever fails here, the status is what matters.
    bool reusable = false;
    bool has_body = false;
    if (status >= 400) {
      parser.body_limit(kMaxUpstreamErrorBody);
      c.expires_after(net::step_timeout(provider.timeouts.idle, a.deadline));
      const auto bec = co_await c.read_message();
      reusable = !bec && response.keep_alive;
      has_body = true;
    }
    fail_status(rc, a, status, has_body ? std::string_view(response.body) : std::string_view());
    give_back(a, reusable);
    co_return;
  }
  if (!rc.chat.stream) {
    c.expires_after(net::step_timeout(provider.timeouts.idle, a.deadline));
    const auto bec = c.result(co_await c.read_message());
    if (a.cancel.client_gone) {
      give_back(a, false);
      fail_cancelled(rc, a);
      co_return;
    }
    if (bec) {
      give_back(a, false);
      fail_io(rc, a, "reading the answer", bec);
      co_return;
    }
    a.answer = std::move(response.body);
    give_back(a, response.keep_alive);
    take_answer(rc, a);
    co_return;
  }
  // FastChat's workers send their NUL-framed streams without a Content-Type.
  if (!a.nul && response.content_type.find("text/event-stream") == std::string::npos) {
    fail_not_a_stream(rc, a, response.content_type);
    give_back(a, false);
    co_return;
  }
  // Read until there is something to send beyond the role chunk: the first token commits.
  while (!a.substantive && !a.failure && !parser.is_done()) {
    c.expires_after(net::step_timeout(provider.timeouts.first_byte, a.deadline));
    const auto ec = c.result(co_await c.read_some_body());
    if (a.cancel.client_gone) {
      give_back(a, false);
      fail_cancelled(rc, a);
      co_return;
    }
    take_stream_bytes(rc, a, response.body);
    if (!ec && parser.is_done()) end_stream_body(rc, a);
    if (ec && !a.failure && !a.substantive) {
      a.failure = net::upstream_io_error(provider, "waiting for the first token", ec);
    }
  }
  if (a.failure && a.substantive) {
    // The failure came in the same bytes as the first real event: it belongs after the commit
    // point, where the client gets the events before it and then an error event.
    a.after_commit = std::move(a.failure);
    a.failure.reset();
  }
  if (!a.substantive && !a.failure) {
    a.failure = stream_ended_early(provider, "stream ended before its first event");
  }
  if (a.failure) {
    // Not committed yet: whatever was read is dropped and the request may go elsewhere.
    give_back(a, false);
    finish_attempt(rc, a, AttemptResult::kFailure);
    co_return;
  }
  a.first_byte = Clock::now();  // streams: the first event, not the headers
}

}  // namespace shepherd::pipeline
