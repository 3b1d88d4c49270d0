// The seam between the HTTP shell and a provider's API shape. The shell owns HTTP, bytes, timing
// and faults; a Dialect owns the JSON: it reads a chat request's body and renders the answers,
// error bodies and stream events. A dialect is chosen per request by its chat paths (OpenAI
// POST /v1/chat/completions; a later Anthropic one would claim POST /v1/messages).
//
// A Dialect is a table of plain functions, constant-initialized, with no state: the shell calls it
// from any thread. The functions append to strings the shell owns and reuses, so rendering
// allocates nothing once those strings have grown. The shell decides what is said (ChatAnswer);
// the dialect only decides how.
#pragma once

#include <array>
#include <boost/json/fwd.hpp>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.hpp"

namespace shepherd::mock::detail {

// What a chat request asks for, whatever the dialect.
struct ChatRequest {
  std::string_view model;  // into the parsed body, valid while the shell keeps it
  bool stream = false;
  bool include_usage = false;              // the request asks for usage in a stream
  std::optional<std::int64_t> max_tokens;  // the smallest output cap the request sets
  std::int64_t prompt_tokens = 0;          // words over the prompt's text
};

// What the mock answers to one chat request, decided by the shell.
struct ChatAnswer {
  ChatRequest request;
  std::int64_t tokens = 0;      // content tokens to send
  bool truncated = false;       // `tokens` was capped by request.max_tokens
  std::uint64_t id = 0;         // unique per process
  std::int64_t created = 0;     // Unix time
  std::int64_t big_chunk = -1;  // big-chunk fault: token 0 is this many 'x'; -1: not set
  bool no_usage = false;        // no-usage fault: no usage anywhere in the answer
};

// Completion token i: the mock's words, the same in every dialect (see mock_upstream.hpp). None
// needs JSON escaping.
inline std::string_view token_text(std::int64_t i) {
  static constexpr std::array<std::string_view, 6> kCycle = {" from",     " the", " mock",
                                                             " upstream", ".",    " Hello"};
  if (i == 0) return "Hello";
  return kCycle[static_cast<std::size_t>((i - 1) % static_cast<std::int64_t>(kCycle.size()))];
}

// Content token i of `answer`, as JSON string content.
inline void append_content(std::string& out, const ChatAnswer& answer, std::int64_t i) {
  if (i == 0 && answer.big_chunk >= 0) {
    out.append(static_cast<std::size_t>(answer.big_chunk), 'x');
  } else {
    out.append(token_text(i));
  }
}

struct Dialect {
  // The paths of this dialect's chat requests (POST only).
  std::span<const std::string_view> chat_paths;

  // Validates a chat request's parsed body (loosely: the fields the mock uses must be present and
  // well-typed) and reads it. An error's message is answered with 400.
  base::Result<ChatRequest> (*interpret)(const boost::json::value& body);
  // The 400 message for a chat body that is not JSON.
  std::string_view invalid_json_message;
  // An error body for `status` (400..599); `code` empty: none.
  void (*append_error)(std::string& out, int status, std::string_view message,
                       std::string_view code);
  // The 400 body for a prompt over MockOptions::max_context.
  void (*append_context_length_error)(std::string& out, std::int64_t max_context,
                                      std::int64_t prompt_tokens);
  // The body of a non-streaming answer.
  void (*append_completion)(std::string& out, const ChatAnswer& answer);

  // A stream is its opening events (sent together with the headers), one event per content
  // token, then stream_tail_events() closing events. The shell frames and writes each of these
  // appends as it falls due, one write each, so an event must be complete SSE text
  // (`event: ...\n` if any, `data: ...\n\n`). The last tail event completes the stream.
  // `scratch` is per-stream text the dialect keeps between calls (set by append_stream_open).
  void (*append_stream_open)(std::string& out, std::string& scratch, const ChatAnswer& answer);
  void (*append_stream_token)(std::string& out, const std::string& scratch,
                              const ChatAnswer& answer, std::int64_t i);
  int (*stream_tail_events)(const ChatAnswer& answer);
  void (*append_stream_tail)(std::string& out, const std::string& scratch, const ChatAnswer& answer,
                             int k);
  // The malformed-after and error-event-after fault events, complete SSE text.
  std::string_view malformed_event;
  std::string_view error_event;

  // GET /v1/models (the list, rendered once at start) and GET /v1/models/{id} of a listed model.
  // Providers share that path, so the shell serves it in the default dialect only.
  std::string (*render_model_list)(const std::vector<std::string>& models);
  void (*append_model)(std::string& out, std::string_view id);
};

}  // namespace shepherd::mock::detail
