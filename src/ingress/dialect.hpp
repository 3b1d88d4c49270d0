// Ingress dialects: the APIs clients speak to Shepherd. A Dialect validates a client's request
// into the canonical chat request the pipeline routes, renders errors in the client's shape, and
// passes answers and stream events of an upstream that speaks the same wire format back with the
// client's model name (the fast path: bytes, not documents). Dialects that differ from the
// upstream's wire format translate (the translation seam is the Wire pair).
//
// Pure: no I/O, no clocks, no state; one instance per dialect in find_dialect()'s table, shared
// by every thread.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "api/openai.hpp"
#include "base/result.hpp"
#include "providers/provider.hpp"

namespace shepherd::ingress {

class Dialect {
 public:
  virtual ~Dialect() = default;

  virtual std::string_view name() const = 0;
  virtual providers::Wire wire() const = 0;

  // Validates a request body (JSON nesting at most `max_depth`). Errors are 400s naming the
  // offending field.
  virtual base::Result<api::ChatRequest> parse(std::string_view body, int max_depth) const = 0;
  // The body of an error answer in this dialect's shape.
  virtual std::string error_body(const base::Error& error) const = 0;

  // A complete answer of a same-wire upstream, for the client: `answer` with its model set to
  // `served` (the name the client used) when the upstream's `upstream_model` differs.
  virtual void pass_answer(std::string& answer, std::string_view upstream_model,
                           std::string_view served) const = 0;
  // One same-wire stream event for the client, appended to `out` as an SSE event framed as an
  // HTTP/1.1 chunk; nothing when the client must not see it (a usage-only chunk it did not ask
  // for).
  virtual void pass_event(std::string& out, std::string_view data, const providers::Event& event,
                          const api::ChatRequest& request, std::string_view upstream_model,
                          std::string_view served) const = 0;
  // The error event that ends a stream after its commit point.
  virtual void error_event(std::string& out, const base::Error& error) const = 0;
};

// The dialect served at `path` (without the query), or null when none is.
const Dialect* find_dialect(std::string_view path);

// The dialect of every route that has no dialect of its own (health, admin, unknown routes):
// OpenAI's error shape.
const Dialect& default_dialect();

// One SSE event (`data: <data>`) framed as an HTTP/1.1 chunk, appended to `out`.
void append_event_chunk(std::string& out, std::string_view data);

}  // namespace shepherd::ingress
