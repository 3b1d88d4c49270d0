// The common form translation goes through. A request, an answer and a stream read in one wire
// format (OpenAI chat, Anthropic Messages, Gemini, OpenAI Responses) become these values, and are
// written out in another. Same-wire traffic never comes here (the byte-forwarding fast path).
//
// The form keeps what any one of the dialects can express and another needs back on a later turn:
// thinking blocks with their signatures, cache token counts, tool call ids. What a dialect cannot
// express is dropped by its encoder, never invented.
//
// Pure values: no I/O, no state.
#pragma once

#include <boost/json/value.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/error.hpp"

namespace shepherd::translate {

// One piece of a message.
struct Part {
  enum class Kind {
    kText,              // text
    kImage,             // url, or media_type + data (base64, no "data:" prefix)
    kToolCall,          // id, name, arguments (a JSON object's text); assistant messages
    kToolResult,        // id (of the call), content (text and image parts), is_error; user
    kThinking,          // text (the reasoning), signature (Anthropic's, may be empty); assistant
    kRedactedThinking,  // text holds Anthropic's opaque `data`; assistant
  };
  Kind kind = Kind::kText;
  std::string text;
  std::string signature;
  std::string url;
  std::string media_type;
  std::string data;
  std::string id;
  std::string name;
  std::string arguments;
  std::vector<Part> content;
  bool is_error = false;
};

enum class Role { kUser, kAssistant };

// A turn. Tool results travel as kToolResult parts of user messages (Anthropic's form): OpenAI's
// `tool` messages are read into them and written back out from them. A role may repeat in a row
// (decoders keep the client's turns as sent); encoders for formats that need alternating roles
// merge consecutive messages of one role.
struct Message {
  Role role = Role::kUser;
  std::vector<Part> parts;
};

struct Tool {
  std::string name;
  std::string description;
  boost::json::value parameters;  // a JSON Schema object; null when the tool declares none
};

struct ToolChoice {
  enum class Mode { kAuto, kNone, kRequired, kTool };
  Mode mode = Mode::kAuto;
  std::string name;            // kTool: the tool to call
  bool parallel_calls = true;  // false: at most one call per turn
};

struct ResponseFormat {
  enum class Kind { kText, kJsonObject, kJsonSchema };
  Kind kind = Kind::kText;
  std::string name;           // kJsonSchema: the schema's name
  boost::json::value schema;  // kJsonSchema: the schema
  bool strict = false;
};

// A chat request in the common form. Unset optionals were not sent by the client; encoders then
// send nothing (or the provider's documented required default, e.g. Anthropic's max_tokens).
struct Request {
  std::string model;   // as the client named it
  std::string system;  // system and developer messages / instructions, joined with "\n\n"
  std::vector<Message> messages;
  std::vector<Tool> tools;
  std::optional<ToolChoice> tool_choice;
  std::optional<std::int64_t> max_tokens;  // output cap, reasoning included
  std::optional<double> temperature;
  std::optional<double> top_p;
  std::optional<std::int64_t> top_k;
  std::optional<double> presence_penalty;
  std::optional<double> frequency_penalty;
  // vLLM's and llama.cpp's extension of OpenAI's API; only OpenAI-compatible encoders send it.
  std::optional<double> repetition_penalty;
  std::optional<std::int64_t> seed;
  std::vector<std::string> stop;
  ResponseFormat response_format;
  // Extended thinking / reasoning: a token budget (Anthropic, Gemini) or an effort
  // ("low" | "medium" | "high", OpenAI); either may be set, encoders map one to the other.
  std::optional<std::int64_t> thinking_budget;
  std::string reasoning_effort;
  bool stream = false;
  bool include_usage = false;  // OpenAI stream_options.include_usage as the client sent it
  std::string user;            // an end-user id, when the client sent one
};

enum class StopReason {
  kEndTurn,        // OpenAI "stop", Anthropic "end_turn", Gemini STOP
  kMaxTokens,      // "length", "max_tokens", MAX_TOKENS
  kStopSequence,   // Anthropic "stop_sequence" (OpenAI: "stop")
  kToolUse,        // "tool_calls", "tool_use", Gemini STOP with function calls
  kContentFilter,  // "content_filter", "refusal", SAFETY / RECITATION / BLOCKLIST / ...
  kPauseTurn,      // Anthropic "pause_turn" (OpenAI: "stop")
};

// Token counts. prompt_tokens counts every input token, cached ones included (OpenAI's sense);
// Anthropic's input_tokens is prompt_tokens - cache_read_tokens - cache_creation_tokens.
// completion_tokens includes reasoning_tokens.
struct Usage {
  std::int64_t prompt_tokens = 0;
  std::int64_t completion_tokens = 0;
  std::int64_t cache_read_tokens = 0;
  std::int64_t cache_creation_tokens = 0;
  std::int64_t reasoning_tokens = 0;
  // Set by the pipeline on the stream's final usage: the request's cost in US dollars at the
  // served deployment's prices (nullopt when it has none). Encoders whose format has a place
  // for it write it (OpenAI chat: usage.cost).
  std::optional<double> cost_usd;
  std::int64_t total() const { return prompt_tokens + completion_tokens; }
};

// A complete answer: one assistant turn.
struct Response {
  // The upstream's id, as it sent it. Encoders prefix it with their format's prefix ("chatcmpl-",
  // "msg_", "resp_") unless it already has that prefix.
  std::string id;
  std::string model;          // the upstream's model name (encoders write the one they are given)
  std::vector<Part> content;  // kText, kThinking, kRedactedThinking and kToolCall parts
  StopReason stop_reason = StopReason::kEndTurn;
  std::string stop_sequence;  // kStopSequence: which one, when known
  std::optional<Usage> usage;
  // Unix seconds; the pipeline sets it (codecs read no clock) when the upstream did not say.
  std::int64_t created = 0;
};

// One step of a streamed answer. Decoders produce them in this order: kStart; content deltas
// (each kind of block may repeat; a block ends where a delta of another block begins); kFinish;
// kUsage (always, when the upstream reported any); kDone. kError may come at any point instead
// of the rest.
struct Delta {
  enum class Kind {
    kStart,             // id, model, created (set by the pipeline when the upstream gave none)
    kText,              // text
    kThinking,          // text
    kSignature,         // text: the signature of the current thinking block
    kRedactedThinking,  // text: the opaque data (a block of its own)
    kToolCall,          // index (0-based among this answer's tool calls), id, name: a new call
    kToolArguments,     // index, text: a piece of the call's arguments JSON
    kFinish,            // stop_reason, text: the stop sequence when known
    kUsage,             // usage
    kError,             // error: the upstream reported a failure inside the stream
    kDone,              // the stream is complete
  };
  Kind kind = Kind::kText;
  std::string text;
  std::string id;
  std::string name;
  std::string model;
  int index = 0;
  std::int64_t created = 0;
  StopReason stop_reason = StopReason::kEndTurn;
  Usage usage;
  base::Error error;
};

}  // namespace shepherd::translate
