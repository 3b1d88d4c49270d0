// Ingress dialects: the APIs clients speak to Shepherd. A Dialect validates a client's request
// just enough to route it (the model, whether it streams, its output cap), renders errors in the
// client's shape, and passes answers and stream events of an upstream that speaks the same wire
// format back with the client's model name (the fast path: bytes, not documents). When the
// upstream speaks another wire format, the pipeline translates through the dialect's codec
// (translate/codec.hpp).
//
// Pure: no I/O, no clocks, no state; one instance per endpoint in find_dialect()'s table, shared
// by every thread.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "api/openai.hpp"
#include "api/sse.hpp"
#include "base/result.hpp"
#include "providers/provider.hpp"

namespace shepherd::ingress {

class Dialect {
 public:
  virtual ~Dialect() = default;

  virtual std::string_view name() const = 0;
  // The codec of the client's wire format: translation and error bodies.
  virtual const translate::Codec& codec() const = 0;
  translate::Wire wire() const { return codec().wire(); }
  virtual providers::Operation operation() const { return providers::Operation::kChat; }

  // Validates a request body (JSON nesting at most `max_depth`) as far as routing needs it.
  // Errors are 400s naming the offending field. A translated request is decoded in full later,
  // by the codec.
  virtual base::Result<api::ChatRequest> parse(std::string_view body, int max_depth) const = 0;
  // The body of an error answer in this dialect's shape, and its HTTP status (the error's, except
  // for dialects whose clients read errors from the body alone).
  virtual std::string error_body(const base::Error& error) const {
    return codec().error_body(error);
  }
  virtual int error_status(const base::Error& error) const { return base::http_status(error); }
  // The Content-Type of a streamed answer.
  virtual std::string_view stream_content_type() const { return "text/event-stream"; }

  // A complete answer of a same-wire upstream, for the client: `answer` with its model set to
  // `served` (the name the client used) when the upstream's `upstream_model` differs.
  virtual void pass_answer(std::string& answer, std::string_view upstream_model,
                           std::string_view served) const = 0;
  // One same-wire stream event for the client, appended to `out` framed as an HTTP/1.1 chunk;
  // nothing when the client must not see it (a usage-only chunk it did not ask for).
  virtual void pass_event(std::string& out, const api::SseEvent& data,
                          const providers::Event& event, const api::ChatRequest& request,
                          std::string_view upstream_model, std::string_view served) const = 0;
  // The error event that ends a same-wire stream after its commit point.
  virtual void error_event(std::string& out, const base::Error& error) const = 0;
};

// The dialect served at `path` (without the query), or null when none is.
const Dialect* find_dialect(std::string_view path);

// The dialect of every route that has no dialect of its own (health, admin, unknown routes):
// OpenAI's error shape.
const Dialect& default_dialect();

// Anthropic's dialect, for the routes Anthropic clients share with OpenAI ones (errors of
// GET /v1/models and /v1/messages/count_tokens).
const Dialect& anthropic_dialect();

// `event` (a JSON object with a top-level "usage" object) with "cost" (US dollars) added to its
// usage, as OpenAI-compatible routers report it; unchanged when it has no usage object.
std::string with_cost(std::string_view event, double cost);

}  // namespace shepherd::ingress
