// FastChat's conversation templates (fastchat/conversation.py, fschat 0.2.36 and HEAD): the
// separator styles, the built-in templates by FastChat's names, the prompt FastChat's OpenAI API
// server builds from a chat request, the `/worker_get_conv_template` answer read and written, and
// the way back from a templated prompt to a chat request (for a worker that relays FastChat's
// prompts to an OpenAI chat API).
//
// Pure values and functions: no I/O, no state; every function may be called from any thread.
// Prompts are rendered byte for byte as FastChat's Conversation.get_prompt() renders them,
// including its quirks (an empty message renders like the pending assistant slot, LLAMA3 strips
// each message, YUAN2 strips trailing '<', 'n' and '>' characters). FastChat's numbering of the
// styles changed after 0.2.36 (see SepNumbering); a worker and the API server must agree on it.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/result.hpp"
#include "translate/canonical.hpp"

namespace shepherd::fastchat {

// FastChat's SeparatorStyle, in HEAD's declaration order. kLlama3, kGemma, kCllm and kDefault
// exist only after 0.2.36 (the tag has no number for them).
enum class SepStyle {
  kAddColonSingle,       // ADD_COLON_SINGLE
  kAddColonTwo,          // ADD_COLON_TWO
  kAddColonSpaceSingle,  // ADD_COLON_SPACE_SINGLE
  kNoColonSingle,        // NO_COLON_SINGLE
  kNoColonTwo,           // NO_COLON_TWO
  kAddNewLineSingle,     // ADD_NEW_LINE_SINGLE
  kLlama2,               // LLAMA2
  kLlama3,               // LLAMA3 [HEAD]
  kChatGlm,              // CHATGLM
  kChatMl,               // CHATML
  kChatIntern,           // CHATINTERN
  kDolly,                // DOLLY
  kRwkv,                 // RWKV
  kPhoenix,              // PHOENIX
  kRobin,                // ROBIN
  kFalconChat,           // FALCON_CHAT
  kChatGlm3,             // CHATGLM3
  kDeepseekChat,         // DEEPSEEK_CHAT
  kMetaMath,             // METAMATH
  kYuan2,                // YUAN2
  kGemma,                // GEMMA [HEAD]
  kCllm,                 // CLLM [HEAD]
  kDefault,              // DEFAULT [HEAD]
};

// FastChat's name of a style ("ADD_COLON_TWO").
std::string_view sep_style_name(SepStyle style);

// How `sep_style` is numbered on the wire (an IntEnum with auto() values, so the numbers follow
// the declaration order of the FastChat version that sends them).
enum class SepNumbering {
  // fschat 0.2.36 (tag v0.2.36): 1 ADD_COLON_SINGLE ... 7 LLAMA2, 8 CHATGLM, 9 CHATML ...
  // 19 YUAN2. LLAMA3, GEMMA, CLLM and DEFAULT have no number.
  kTag0236,
  // FastChat HEAD: LLAMA3 = 8, CHATGLM ... YUAN2 = 9 ... 20, GEMMA = 21, CLLM = 22, DEFAULT = 23.
  kHead,
};

// The numbering of a FastChat version as the config names it: "head", else fschat 0.2.36's.
inline SepNumbering sep_numbering(std::string_view fastchat_version) {
  return fastchat_version == "head" ? SepNumbering::kHead : SepNumbering::kTag0236;
}

// The wire number of `style`; nullopt when that numbering has none for it.
std::optional<int> sep_style_number(SepStyle style, SepNumbering numbering);
// The style a wire number stands for; nullopt when the number is unknown to that numbering.
std::optional<SepStyle> sep_style_from_number(std::int64_t number, SepNumbering numbering);

// A conversation template: FastChat's Conversation without the vision fields.
struct Conversation {
  std::string name;
  // Python format string: "{system_message}" is replaced, "{{" and "}}" stand for braces.
  std::string system_template = "{system_message}";
  std::string system_message;
  std::array<std::string, 2> roles = {"USER", "ASSISTANT"};  // user's, assistant's
  // Few-shot turns kept at the head of every prompt: (role, text); a null text is a pending slot.
  std::vector<std::pair<std::string, std::optional<std::string>>> messages;
  int offset = 0;  // how many of `messages` are few-shot examples (not rendered differently)
  SepStyle sep_style = SepStyle::kAddColonSingle;
  std::string sep = "\n";
  std::optional<std::string> sep2;  // FastChat's None is nullopt
  std::vector<std::string> stop_str;
  std::vector<std::int64_t> stop_token_ids;
};

// The built-in template FastChat registers under `name` (case-sensitive, as FastChat), nullptr
// when there is none. The pointer stays valid for the life of the process.
const Conversation* find_template(std::string_view name);
// The names of the built-in templates, in registration order.
std::vector<std::string_view> template_names();

// FastChat's Conversation.get_prompt() on `conv` as it stands (its `messages` being the whole
// conversation). kBadRequest when FastChat would raise: system_template is not a format string
// with only {system_message}, or the style needs sep2 and it is null.
base::Result<std::string> get_prompt(const Conversation& conv);

// The prompt FastChat's API server builds for a chat request (openai_api_server.py
// get_gen_params): a non-empty request.system replaces the template's system message; each
// message is appended after the template's few-shot turns (roles[0] for a user message, roles[1]
// for an assistant one) with its kText parts joined by "\n"; then the assistant slot (roles[1],
// null); then get_prompt(). Thinking parts (kThinking, kRedactedThinking) are skipped. Errors,
// all kBadRequest: no messages; an image, tool call or tool result part (templates carry text
// only); what get_prompt() refuses. Tools, tool_choice and response_format are not looked at.
base::Result<std::string> render_prompt(const Conversation& conv,
                                        const translate::Request& request);

// FastChat's `/worker_get_conv_template` answer, `{"conv": {...}}`, read. Every field the API
// server reads must be present: name, system_template, system_message (strings), roles (a list of
// at least two strings; the first two are kept), messages (a list of [role, text or null]), offset
// (an integer), sep_style (an integer in `numbering`), sep (a string; null reads as ""), sep2 (a
// string or null), stop_str (null, a string or a list of strings), stop_token_ids (null or a list
// of integers). Other fields (HEAD's system_message_vision, max_image_size_mb) are ignored.
// kBadRequest, naming the field, when the body is not JSON or a field is missing or mistyped, and
// for a sep_style number `numbering` does not know.
base::Result<Conversation> parse_conv_template(std::string_view body,
                                               SepNumbering numbering = SepNumbering::kTag0236);

// The `/worker_get_conv_template` answer for `conv`: {"conv": {...}} with the eleven fields above
// (with kHead also system_message_vision "" and max_image_size_mb null, as HEAD's workers send).
// Empty stop_str and stop_token_ids are written as null, a single stop string as a string; a null
// sep2 as null. A style `numbering` has no number for (LLAMA3, GEMMA, CLLM, DEFAULT under
// kTag0236) is written as "sep_style": null: a 0.2.36 API server then fails on the template
// instead of rendering it with whatever style shares the number. Check sep_style_number() first.
std::string conv_template_json(const Conversation& conv,
                               SepNumbering numbering = SepNumbering::kTag0236);

// A templated prompt read back into a chat request.
struct ParsedPrompt {
  // The system message the prompt carries; empty when it is the template's own system_message
  // (render_prompt puts that back for an empty request.system; a relay that wants to send the
  // template's default upstream takes it from the template).
  std::string system;
  // The turns after the template's few-shot ones, each one kText part (possibly empty), the
  // trailing empty assistant slot removed.
  std::vector<translate::Message> messages;
};

// The inverse of render_prompt for a worker that receives FastChat's prompt and calls a chat API.
// Supported for CHATML and LLAMA3 (their markers delimit every turn) and for ADD_COLON_TWO and
// ADD_COLON_SINGLE, whose turns are found by the markers sep + "ROLE:"; a message text that itself
// contains a marker is split there (the prompt is ambiguous). The prompt must begin with the
// template's system part and few-shot turns and end with the assistant slot. kBadRequest for
// other styles, for two equal roles, and for a prompt not of the template's shape.
// For text-only requests whose texts contain no markers (and, for LLAMA3, have no surrounding
// whitespace), parse_prompt(conv, render_prompt(conv, r)) gives back r's system and messages.
base::Result<ParsedPrompt> parse_prompt(const Conversation& conv, std::string_view prompt);

}  // namespace shepherd::fastchat
