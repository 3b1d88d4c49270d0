// What the files of the Gemini codec share (translate/gemini/*): tool call ids, and reading a
// GenerateContentResponse (candidates, parts, finish reasons, usage), which whole answers and
// stream events have in common. Private to the codec.
#pragma once

#include <boost/json.hpp>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "base/result.hpp"
#include "translate/canonical.hpp"
#include "translate/json_util.hpp"

namespace shepherd::translate::detail::gemini {

// Nesting limit for what the codec parses on its own: provider answers, and the tool arguments
// and results inside a request (the request itself was depth-checked by its decoder).
inline constexpr std::size_t kMaxDepth = 128;
// Longest provider message passed on to clients and logs.
inline constexpr std::size_t kMaxMessage = 500;
// Stack space for the JSON trees built per call; larger documents continue on the heap.
inline constexpr std::size_t kArena = 4096;

// --- tool call ids (call_ids.cpp) --------------------------------------------------------------

// The id for the `index`-th function call of an answer: `part` holds `call` (a functionCall).
std::string call_id(int index, const json::object& part, const json::object& call,
                    std::string_view response_id);

struct CallId {
  std::string_view base;                 // the id Gemini knows the call by (or Shepherd's)
  std::optional<std::string> signature;  // the thoughtSignature, standard base64
};

// A call id made by call_id() taken apart again; the whole id as `base` for any other id.
CallId split_call_id(std::string_view id);

// Whether `base` is an id Shepherd made up ("call_<k>_<tag>"), which Gemini never saw.
bool generated_id(std::string_view base);

// --- reading answers (response.cpp) ------------------------------------------------------------

enum class Finish { kNone, kStop, kMaxTokens, kFiltered, kBadCall };

// A candidate's finishReason (https://ai.google.dev/api/generate-content#FinishReason).
Finish classify(std::string_view reason);
StopReason stop_reason(Finish finish, bool has_calls);

// The answer's usageMetadata; nullopt when it carries no count (stream chunks may carry only
// trafficType).
std::optional<Usage> read_usage(const json::object& root);

const json::object* first_candidate(const json::object& root);
const json::array* candidate_parts(const json::object& candidate);

// Whether an answer without candidates is a blocked prompt (promptFeedback.blockReason set,
// https://ai.google.dev/api/generate-content#PromptFeedback).
bool prompt_blocked(const json::object& root);

// One part of a candidate's content, read into the common form.
struct ReadPart {
  enum class Kind { kSkip, kText, kThinking, kCall } kind = Kind::kSkip;
  std::string_view text;  // kText, kThinking
  std::string_view name;  // kCall
  std::string arguments;  // kCall: compact JSON
};

base::Result<ReadPart> read_part(const json::value& value);

// The message of a Google API error object ({"code","message","status"}, AIP-193), cut to
// kMaxMessage; empty when it has none.
std::string error_object_message(const json::object& error);

}  // namespace shepherd::translate::detail::gemini
