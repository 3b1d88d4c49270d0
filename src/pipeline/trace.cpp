// A request's spans: the request's own (kind server) and one per upstream attempt (kind client),
// with the OpenTelemetry GenAI semantic conventions' attributes; and the traceparent each attempt
// sends upstream, naming its span.
#include <chrono>

#include "pipeline/attempt.hpp"
#include "pipeline/stages.hpp"

namespace shepherd::pipeline {

namespace {

using observability::Span;

template <std::size_t N>
std::array<std::uint8_t, N> random_id(base::Random& random) {
  std::array<std::uint8_t, N> id{};
  do {
    for (std::size_t i = 0; i < N; i += 8) {
      auto v = random.next();
      for (std::size_t j = i; j < std::min(N, i + 8); ++j, v >>= 8) {
        id[j] = static_cast<std::uint8_t>(v);
      }
    }
  } while (std::all_of(id.begin(), id.end(), [](std::uint8_t b) { return b == 0; }));
  return id;
}

// A steady-clock time as Unix nanoseconds.
std::int64_t unix_ns(Clock::time_point t) {
  const auto now_unix = std::chrono::system_clock::now().time_since_epoch();
  const auto ago = Clock::now() - t;
  return std::chrono::duration_cast<std::chrono::nanoseconds>(now_unix - ago).count();
}

}  // namespace

void begin_trace(RequestContext& rc, const net::Request& request) {
  auto& loop = rc.loop;
  std::optional<observability::TraceParent> client;
  if (!request.traceparent.empty()) client = observability::parse_traceparent(request.traceparent);
  if (!client && !loop.spans) return;  // nothing to pass on, nothing to export
  RequestTrace t;
  if (client) {
    t.trace_id = client->trace_id;
    t.parent = client->span_id;
    t.flags = client->flags;
  } else {
    t.trace_id = random_id<16>(loop.random);
    t.flags = loop.random.uniform() < loop.trace_sample_ratio ? 1 : 0;
  }
  t.span_id = random_id<8>(loop.random);
  t.exported = loop.spans && (t.flags & 1);
  rc.trace = std::move(t);
}

void trace_attempt_start(RequestContext& rc, Attempt& a) {
  if (!rc.trace) return;
  a.span_id = random_id<8>(rc.loop.random);
  a.traceparent = "traceparent: ";
  a.traceparent.append(
      observability::format_traceparent(rc.trace->trace_id, a.span_id, rc.trace->flags));
  a.traceparent.append("\r\n");
}

void trace_attempt_end(RequestContext& rc, const Attempt& a) {
  if (!rc.trace || !rc.trace->exported || !a.deployment) return;
  Span s;
  s.trace_id = rc.trace->trace_id;
  s.span_id = a.span_id;
  s.parent = rc.trace->span_id;
  s.kind = Span::Kind::kClient;
  s.name = "chat " + a.deployment->model;
  s.start_unix_ns = unix_ns(a.started);
  s.end_unix_ns = unix_ns(Clock::now());
  const auto& provider = a.provider_config();
  s.attributes = {
      {"gen_ai.operation.name", std::string("chat")},
      {"gen_ai.provider.name", provider.kind},
      {"gen_ai.request.model", a.deployment->model},
      {"server.address", provider.endpoint.host},
      {"server.port", std::int64_t{provider.endpoint.port}},
      {"shepherd.deployment", a.deployment->id},
  };
  if (a.usage) {
    s.attributes.emplace_back("gen_ai.usage.input_tokens", a.usage->prompt_tokens);
    s.attributes.emplace_back("gen_ai.usage.output_tokens", a.usage->completion_tokens);
  }
  if (a.failure) {
    s.error = true;
    s.error_message = a.failure->message;
    s.attributes.emplace_back("error.type", std::string(base::code_name(a.failure->code)));
  }
  rc.trace->attempts.push_back(std::move(s));
}

void end_trace(RequestContext& rc, double cost_usd) {
  if (!rc.trace || !rc.trace->exported) return;
  auto& t = *rc.trace;
  const auto& out = rc.outcome;
  Span s;
  s.trace_id = t.trace_id;
  s.span_id = t.span_id;
  s.parent = t.parent;
  s.kind = Span::Kind::kServer;
  s.name = rc.chat.model.empty() ? std::string("chat") : "chat " + rc.chat.model;
  s.start_unix_ns = unix_ns(rc.started);
  s.end_unix_ns = unix_ns(Clock::now());
  s.attributes = {
      {"gen_ai.operation.name", std::string("chat")},
      {"gen_ai.request.model", rc.chat.model},
      {"http.response.status_code", std::int64_t{out.status}},
      {"shepherd.request_id", rc.request_id},
      {"shepherd.dialect", std::string(rc.dialect.name())},
      {"shepherd.attempts", std::int64_t{out.attempts}},
      {"shepherd.streamed", rc.chat.stream},
  };
  if (rc.chat.max_tokens) {
    s.attributes.emplace_back("gen_ai.request.max_tokens",
                              static_cast<std::int64_t>(*rc.chat.max_tokens));
  }
  if (rc.served) {
    s.attributes.emplace_back("gen_ai.response.model", rc.served->model);
    s.attributes.emplace_back("shepherd.deployment", rc.served->id);
  }
  if (out.usage) {
    s.attributes.emplace_back("gen_ai.usage.input_tokens", out.usage->prompt_tokens);
    s.attributes.emplace_back("gen_ai.usage.output_tokens", out.usage->completion_tokens);
    s.attributes.emplace_back("shepherd.cost_usd", cost_usd);
  }
  if (!out.ok) {
    s.error = true;
    const std::string error_class = rc.error_class ? rc.error_class : "";
    s.error_message = error_class;
    if (!error_class.empty()) s.attributes.emplace_back("error.type", error_class);
  }
  std::vector<Span> spans;
  spans.reserve(t.attempts.size() + 1);
  spans.push_back(std::move(s));
  for (auto& a : t.attempts) spans.push_back(std::move(a));
  rc.loop.spans->submit(std::move(spans));
}

}  // namespace shepherd::pipeline
