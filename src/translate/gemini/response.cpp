// Reading Gemini's answers: a GenerateContentResponse
// (https://ai.google.dev/api/generate-content#generatecontentresponse) into the common form, and
// the message of an error body.
#include <utility>

#include "translate/gemini.hpp"
#include "translate/gemini/internal.hpp"

namespace shepherd::translate {
namespace detail::gemini {

Finish classify(std::string_view reason) {
  if (reason.empty() || reason == "FINISH_REASON_UNSPECIFIED") return Finish::kNone;
  if (reason == "MAX_TOKENS") return Finish::kMaxTokens;
  // OTHER is documented as "all other reasons that stopped the token generation": not the
  // natural end STOP stands for, and in practice an unexplained block; it reads as a filter so
  // clients do not take a cut answer for a complete one.
  if (reason == "SAFETY" || reason == "RECITATION" || reason == "BLOCKLIST" ||
      reason == "PROHIBITED_CONTENT" || reason == "SPII" || reason == "IMAGE_SAFETY" ||
      reason == "IMAGE_PROHIBITED_CONTENT" || reason == "IMAGE_RECITATION" ||
      reason == "LANGUAGE" || reason == "MODEL_ARMOR" || reason == "OTHER") {
    return Finish::kFiltered;
  }
  // The model produced a call that could not be parsed or was not allowed: the answer holds
  // nothing usable.
  if (reason == "MALFORMED_FUNCTION_CALL" || reason == "UNEXPECTED_TOOL_CALL") {
    return Finish::kBadCall;
  }
  return Finish::kStop;
}

StopReason stop_reason(Finish finish, bool has_calls) {
  switch (finish) {
    case Finish::kMaxTokens:
      return StopReason::kMaxTokens;
    case Finish::kFiltered:
      return StopReason::kContentFilter;
    case Finish::kBadCall:
      return StopReason::kEndTurn;
    case Finish::kNone:
    case Finish::kStop:
      break;
  }
  return has_calls ? StopReason::kToolUse : StopReason::kEndTurn;
}

// usageMetadata (https://ai.google.dev/api/generate-content#UsageMetadata): promptTokenCount
// already counts cachedContentTokenCount; thoughtsTokenCount is not in candidatesTokenCount.
std::optional<Usage> read_usage(const json::object& root) {
  const json::object* m = object_member(root, "usageMetadata");
  if (!m) return std::nullopt;
  if (!m->contains("promptTokenCount") && !m->contains("candidatesTokenCount") &&
      !m->contains("thoughtsTokenCount") && !m->contains("totalTokenCount")) {
    return std::nullopt;
  }
  Usage u;
  u.prompt_tokens = count(*m, "promptTokenCount") + count(*m, "toolUsePromptTokenCount");
  u.cache_read_tokens = count(*m, "cachedContentTokenCount");
  u.reasoning_tokens = count(*m, "thoughtsTokenCount");
  u.completion_tokens = count(*m, "candidatesTokenCount") + u.reasoning_tokens;
  return u;
}

const json::object* first_candidate(const json::object& root) {
  const json::array* a = array_member(root, "candidates");
  return a && !a->empty() ? a->front().if_object() : nullptr;
}

const json::array* candidate_parts(const json::object& candidate) {
  const json::object* content = object_member(candidate, "content");
  return content ? array_member(*content, "parts") : nullptr;
}

bool prompt_blocked(const json::object& root) {
  const json::object* feedback = object_member(root, "promptFeedback");
  return feedback && string_member(*feedback, "blockReason");
}

base::Result<ReadPart> read_part(const json::value& value) {
  ReadPart out;
  const json::object* part = value.if_object();
  if (!part) return unreadable("a content part is not an object");
  if (const json::value* call = part->if_contains("functionCall")) {
    const json::object* c = call->if_object();
    const json::string* name = c ? string_member(*c, "name") : nullptr;
    if (!name) return unreadable("a functionCall has no name");
    out.kind = ReadPart::Kind::kCall;
    out.name = sv(*name);
    if (const json::object* args = object_member(*c, "args")) {
      out.arguments = json::serialize(*args);
    } else {
      out.arguments = "{}";
    }
    return out;
  }
  if (const json::string* text = string_member(*part, "text")) {
    if (text->empty()) return out;  // e.g. the empty part that carries a final signature
    const json::value* thought = member(*part, "thought");
    out.kind = thought && thought->is_bool() && thought->get_bool() ? ReadPart::Kind::kThinking
                                                                    : ReadPart::Kind::kText;
    out.text = sv(*text);
  }
  return out;
}

std::string error_object_message(const json::object& error) {
  const json::string* m = string_member(error, "message");
  return m ? excerpt(sv(*m), kMaxMessage) : std::string();
}

}  // namespace detail::gemini

using namespace detail;
using namespace detail::gemini;

base::Result<Response> GeminiCodec::decode_response(std::string_view body) const {
  json::value storage;
  std::string why;
  const json::object* root = parse_object(body, kMaxDepth, storage, why);
  if (!root) return unreadable(why, body);
  if (const json::value* e = root->if_contains("error")) {
    const json::object* eo = e->if_object();
    const std::string message = eo ? error_object_message(*eo) : std::string();
    return unreadable(message.empty() ? "it is an error" : cat("it is an error: ", message));
  }

  Response response;
  response.id = string_or_empty(*root, "responseId");
  response.model = string_or_empty(*root, "modelVersion");
  response.usage = read_usage(*root);

  const json::object* candidate = first_candidate(*root);
  if (!candidate) {
    if (prompt_blocked(*root)) {
      response.stop_reason = StopReason::kContentFilter;
      return response;
    }
    return unreadable("it has no candidates");
  }

  const Finish finish = classify(string_or_empty(*candidate, "finishReason"));
  int calls = 0;
  if (const json::array* parts = candidate_parts(*candidate); parts && finish != Finish::kBadCall) {
    const std::string_view response_id = string_or_empty(*root, "responseId");
    for (const json::value& p : *parts) {
      auto read = read_part(p);
      if (!read) return std::move(read).error();
      if (read->kind == ReadPart::Kind::kSkip) continue;
      if (read->kind == ReadPart::Kind::kCall) {
        Part& call = response.content.emplace_back();
        call.kind = Part::Kind::kToolCall;
        call.id = call_id(calls, p.get_object(), p.at("functionCall").get_object(), response_id);
        call.name = read->name;
        call.arguments = std::move(read->arguments);
        ++calls;
        continue;
      }
      const Part::Kind kind =
          read->kind == ReadPart::Kind::kText ? Part::Kind::kText : Part::Kind::kThinking;
      // Gemini may split one text over several parts; the common form keeps one block.
      if (!response.content.empty() && response.content.back().kind == kind) {
        response.content.back().text.append(read->text);
      } else {
        Part& part = response.content.emplace_back();
        part.kind = kind;
        part.text = read->text;
      }
    }
  }
  response.stop_reason = stop_reason(finish, calls > 0);
  return response;
}

std::string GeminiCodec::error_message(std::string_view body) const {
  unsigned char arena[kArena];
  json::monotonic_resource resource(arena, sizeof arena);
  json::parse_options opts;
  opts.max_depth = kMaxDepth;
  boost::system::error_code ec;
  const json::value v = json::parse(body, ec, &resource, opts);
  if (!ec) {
    // {"error":{"code","message","status"}}; streamGenerateContent without alt=sse wraps it in
    // an array.
    const json::value* root = &v;
    if (const json::array* a = v.if_array(); a && !a->empty()) root = &a->front();
    if (const json::object* o = root->if_object()) {
      if (const json::object* e = object_member(*o, "error")) {
        std::string message = error_object_message(*e);
        if (!message.empty()) return message;
      }
    }
  }
  return excerpt(body, kMaxMessage);
}

const Codec& gemini_codec() {
  static const GeminiCodec codec;
  return codec;
}

}  // namespace shepherd::translate
