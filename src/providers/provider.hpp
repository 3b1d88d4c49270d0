// The seam for upstream dialects. An Adapter turns a chat request into what one kind of provider
// expects on the wire (request head and body), and turns what the provider sends back (a complete
// answer, stream events, an error status and its headers) into what the pipeline needs: usage,
// the kind of each event, errors in Shepherd's terms and what they say about the deployment.
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
#include "base/result.hpp"
#include "config/config.hpp"
#include "routing/state.hpp"

namespace shepherd::providers {

// The wire format a provider speaks. When the client's dialect speaks the same, the pipeline
// forwards bytes (the fast path); otherwise it translates.
enum class Wire { kOpenAiChat };

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
  std::optional<api::Usage> usage;
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
  virtual Wire wire() const = 0;

  // The head of a chat request to `provider`: request line, Host, the provider's credentials,
  // Accept and Content-Type. The caller appends Content-Length and the blank line. Built once per
  // provider and event loop (it carries the key, nothing of the request).
  virtual std::string chat_head(const config::ProviderConfig& provider, bool stream) const = 0;
  // The complete request of an active health check, which spends no tokens.
  virtual std::string probe_request(const config::ProviderConfig& provider) const = 0;

  // The body sent upstream for `request` (whose bytes are `body`) to deployment model
  // `upstream_model`: `body` itself when nothing has to change, else `scratch` filled in.
  // `request` must have been validated by the ingress dialect.
  virtual std::string_view chat_body(const api::ChatRequest& request, std::string_view body,
                                     std::string_view upstream_model,
                                     std::string& scratch) const = 0;

  // A complete answer. An error (kUpstreamUnreachable, retryable) when it is malformed.
  virtual base::Result<Answer> read_answer(std::string_view body) const = 0;
  // The data of one stream event. An error when it is malformed.
  virtual base::Result<Event> read_event(std::string_view data) const = 0;
  // Whether an ordinary event only opens the answer (the role chunk): the pipeline holds such
  // events back until the first real one, so a slow first token can still be retried or hedged.
  // Asked only until the first real event.
  virtual bool is_preamble(std::string_view data) const = 0;

  // A non-2xx status with its (bounded) body and Retry-After value, at wall-clock `now`.
  virtual StatusFailure read_status(const config::ProviderConfig& provider, int status,
                                    std::string_view body, std::string_view retry_after,
                                    std::time_t now) const = 0;
  // How long the upstream says its quota is spent (from rate-limit headers), or nullopt. Called
  // on every answer: must not allocate unless such a header is present.
  virtual std::optional<std::chrono::milliseconds> exhausted_for(
      std::span<const Header> headers) const = 0;
};

// What an upstream status says about the deployment's health (RELIABILITY.md): 408, 429 and 5xx
// count against it, 401/403 mean its credentials are bad; other 4xx are the request's fault.
routing::AttemptResult status_verdict(int status);

}  // namespace shepherd::providers
