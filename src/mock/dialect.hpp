// The seam between the HTTP shell and a provider's API shape. The shell owns HTTP, bytes, timing
// and faults; a Dialect owns the paths and the JSON: it claims a request by its path, reads its
// body and renders the answers, error bodies, stream events and rate-limit headers. The dialects
// are OpenAI chat completions, OpenAI legacy completions, the Anthropic Messages API and the
// Gemini API (openai_dialect.hpp, anthropic_dialect.hpp, gemini_dialect.hpp); the shell tries them
// in the order of kDialects (http_shell.hpp).
//
// A Dialect is a table of plain functions, constant-initialized, with no state: the shell calls it
// from any thread. The functions append to strings the shell owns and reuses, so rendering
// allocates nothing once those strings have grown. The shell decides what is said (ChatAnswer);
// the dialect only decides how. What the dialects share besides this seam is in common.hpp.
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
#include "mock/text.hpp"

namespace shepherd::mock::detail {

// What a request asks of a dialect.
enum class Operation : std::uint8_t {
  kNone,         // not this dialect's path
  kReject,       // this dialect's path, answered with Endpoint::status and Endpoint::message
  kChat,         // POST: generate (chat, messages, generateContent, legacy completions)
  kEmbed,        // POST: embeddings, answered at once
  kCountTokens,  // POST: a token count, answered at once
  kModelList,    // GET: the model list
  kModel,        // GET: one model, Endpoint::model
};

// A request's path as a dialect reads it.
struct Endpoint {
  Operation op = Operation::kNone;
  std::string_view model{};    // a model named by the path (Gemini, the one-model route)
  std::string_view method{};   // the method a path names after its ':' (Gemini)
  bool stream = false;         // the path asks for a stream (Gemini's streamGenerateContent)
  int status = 0;              // kReject
  std::string_view message{};  // kReject
};

// What a chat request asks for, whatever the dialect. The views point into the parsed body or the
// request target, valid while the shell keeps them (until the answer is sent).
struct ChatRequest {
  std::string_view model;
  bool stream = false;
  bool include_usage = false;              // the request asks for usage in a stream (OpenAI)
  std::optional<std::int64_t> max_tokens;  // the smallest output cap the request sets
  std::int64_t prompt_tokens = 0;          // words over the prompt's text
  // Non-empty: answer with one call of this tool, whose arguments are {"query": tool_query}. The
  // dialect sets it only when the request allows it (see mock_upstream.hpp, "Tools").
  std::string_view tool_name;
  std::string_view tool_query;  // at most kMaxQueryBytes, never ending inside a UTF-8 sequence
  bool thinking = false;        // the request asks for the model's thinking (Anthropic, Gemini)
};

// What the mock answers to one chat request, decided by the shell.
struct ChatAnswer {
  ChatRequest request;
  std::int64_t tokens = 0;           // content tokens to send; kToolCallTokens for a tool call
  bool truncated = false;            // `tokens` was capped by request.max_tokens
  bool tool_call = false;            // the content is a call of request.tool_name
  std::int64_t thinking_tokens = 0;  // kThinkingTokens when request.thinking, else 0
  std::uint64_t id = 0;              // unique per process
  std::int64_t created = 0;          // Unix time
  std::int64_t big_chunk = -1;       // big-chunk fault: token 0 is this many 'x'; -1: not set
  bool no_usage = false;             // no-usage fault: no usage anywhere in the answer
  // MockOptions::content's words (JSON-escaped), used instead of token_text(); null: not set.
  const std::vector<std::string>* words = nullptr;
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
  } else if (answer.words) {
    out.append((*answer.words)[static_cast<std::size_t>(i) % answer.words->size()]);
  } else {
    out.append(token_text(i));
  }
}

// All the content tokens of `answer`, as JSON string content (a non-streaming answer's text).
inline void append_all_content(std::string& out, const ChatAnswer& answer) {
  for (std::int64_t i = 0; i < answer.tokens; ++i) append_content(out, answer, i);
}

// Dialect::stream_content_events of a dialect that sends one content event per token.
inline std::int64_t one_event_per_token(const ChatAnswer& answer) { return answer.tokens; }

// The thinking the mock shows when asked, and its honest count (its words).
inline constexpr std::string_view kThinkingText = "Thinking about the question.";
inline constexpr std::int64_t kThinkingTokens = 4;

// A tool call's arguments are {"query":"<text>"}, sent in three pieces (the opening, the escaped
// text, the closing) so that no piece splits an escape or a UTF-8 sequence; it counts as one
// completion token per piece.
inline constexpr std::int64_t kToolCallTokens = 3;
inline constexpr std::size_t kMaxQueryBytes = 40;

// `text` cut to at most kMaxQueryBytes bytes, backing off to the start of a UTF-8 sequence.
inline std::string_view tool_query(std::string_view text) {
  if (text.size() <= kMaxQueryBytes) return text;
  std::size_t n = kMaxQueryBytes;
  while (n > 0 && (static_cast<unsigned char>(text[n]) & 0xC0) == 0x80) --n;
  return text.substr(0, n);
}

// Offers the tool call a request allows: `tool`, the tool the request lets the mock call (empty:
// none), with the query cut from `text`, the text of the user turn it answers.
inline void offer_tool_call(ChatRequest& chat, std::string_view tool, std::string_view text) {
  chat.tool_name = tool;
  if (!tool.empty()) chat.tool_query = tool_query(text);
}

// Piece k (0..2) of the arguments of a tool call with `query`, as JSON text; `in_string`: escaped
// once more, for a dialect that sends the arguments as a JSON string.
inline void append_arguments_piece(std::string& out, std::string_view query, std::int64_t k,
                                   bool in_string) {
  if (k == 0) {
    out.append(in_string ? R"({\"query\":\")" : R"({"query":")");
  } else if (k == 1) {
    if (in_string) {
      append_json_escaped_twice(out, query);
    } else {
      append_json_escaped(out, query);
    }
  } else {
    out.append(in_string ? R"(\"})" : R"("})");
  }
}

inline void append_arguments(std::string& out, std::string_view query, bool in_string) {
  for (std::int64_t k = 0; k < kToolCallTokens; ++k)
    append_arguments_piece(out, query, k, in_string);
}

struct Dialect {
  // Routing. A request carrying `marker_header` (lowercase; empty: none) is `marked`: that is how
  // Anthropic claims GET /v1/models, a path it shares with OpenAI. match() returns what the path
  // asks of this dialect, kNone when it is not this dialect's; `query` is the target after '?'.
  std::string_view marker_header;
  Endpoint (*match)(std::string_view path, std::string_view query, bool marked);
  // API requests (kChat, kEmbed, kCountTokens) without this header (lowercase; empty: none) get
  // 400 with `missing_header_message`, as the provider answers.
  std::string_view required_header;
  std::string_view missing_header_message;

  // Validates a chat request's parsed body (loosely: the fields the mock uses must be present and
  // well-typed) and reads it. An error's message is answered with 400.
  base::Result<ChatRequest> (*interpret)(const boost::json::value& body, const Endpoint& endpoint);
  // kEmbed and kCountTokens: validates the body and appends the whole answer; an error's message
  // is answered with 400 (so is an operation the dialect does not serve).
  base::Status (*append_answer_now)(std::string& out, const boost::json::value& body,
                                    const Endpoint& endpoint);
  // The 400 message for a body that is not JSON.
  std::string_view invalid_json_message;
  // An error body for `status` (400..599); `code` empty: none.
  void (*append_error)(std::string& out, int status, std::string_view message,
                       std::string_view code);
  // The 400 body for a prompt over MockOptions::max_context.
  void (*append_context_length_error)(std::string& out, std::int64_t max_context,
                                      std::int64_t prompt_tokens);
  // The body of a non-streaming answer.
  void (*append_completion)(std::string& out, const ChatAnswer& answer);

  // A stream is its opening events (sent together with the headers; possibly none), then
  // stream_content_events() content events, then stream_tail_events() closing events. The shell
  // frames and writes each of these appends as it falls due, one write each, so an append must be
  // complete SSE text (`event: ...\n` if any, `data: ...\n\n`) and must not be empty, except the
  // opening one. Stream faults count content events. The last tail event completes the stream.
  // `scratch` is per-stream text the dialect keeps between calls (set by append_stream_open).
  void (*append_stream_open)(std::string& out, std::string& scratch, const ChatAnswer& answer);
  std::int64_t (*stream_content_events)(const ChatAnswer& answer);
  void (*append_stream_token)(std::string& out, const std::string& scratch,
                              const ChatAnswer& answer, std::int64_t i);
  int (*stream_tail_events)(const ChatAnswer& answer);
  void (*append_stream_tail)(std::string& out, const std::string& scratch, const ChatAnswer& answer,
                             int k);
  // The malformed-after and error-event-after fault events, complete SSE text.
  std::string_view malformed_event;
  std::string_view error_event;

  // The ratelimit= fault's header lines (CRLFs included) in this provider's names; reset_ms is
  // RESET as a duration in milliseconds, -1 when RESET is not one.
  void (*append_ratelimit_headers)(std::string& out, std::int64_t remaining, std::string_view reset,
                                   std::int64_t reset_ms);

  // The model list (rendered once at start; null: the dialect claims no model routes) and one
  // listed model.
  std::string (*render_model_list)(const std::vector<std::string>& models);
  void (*append_model)(std::string& out, std::string_view id);
};

}  // namespace shepherd::mock::detail
