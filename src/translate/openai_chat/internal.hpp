// What the files of the OpenAI chat codec share: the vocabulary both directions speak (parts,
// deltas, finish reasons, usage), parsing, and the pieces each file hands the codec.
//
// For translate/openai_chat/* only.
#pragma once

#include <boost/json.hpp>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "translate/canonical.hpp"
#include "translate/codec.hpp"
#include "translate/json_util.hpp"

namespace shepherd::translate::openai_chat {

namespace json = boost::json;
using detail::append_double;
using detail::append_escaped;
using detail::append_int;
using detail::append_quoted;
using detail::append_value;
using detail::array_member;
using detail::bad_request;
using detail::cat;
using detail::count;
using detail::excerpt;
using detail::integer;
using detail::member;
using detail::Members;
using detail::number;
using detail::object_member;
using detail::string_member;
using detail::string_or_empty;
using detail::sv;
using detail::unreadable;
using detail::utf8_prefix;
using detail::with_prefix;

// Provider answers nest shallowly (tool arguments travel as strings); deeper is not an answer.
inline constexpr std::size_t kUpstreamMaxDepth = 64;
// Small requests and stream chunks parse without touching the heap.
inline constexpr std::size_t kParseBuffer = 4096;
// The prefix of a completion's and a chunk's id.
inline constexpr std::string_view kIdPrefix = "chatcmpl-";

// Parses `text` into `storage` (a stack buffer's resource keeps small bodies off the heap);
// nullopt with `ec` set when it is not JSON or nests deeper than `max_depth`.
std::optional<json::value> parse(std::string_view text, std::size_t max_depth,
                                 json::storage_ptr storage, boost::system::error_code& ec);

// ---------------------------------------------------------------------------------------------
// Parts and deltas

Part text_part(std::string_view text);
Part thinking_part(std::string_view text, std::string_view signature = {});
Part redacted_part(std::string_view data);
// An empty `arguments` becomes "{}": other formats need a JSON object.
Part call_part(std::string_view id, std::string_view name, std::string_view arguments);
Delta make_delta(Delta::Kind kind, std::string_view text = {}, int index = 0);

// ---------------------------------------------------------------------------------------------
// Shared vocabulary

std::string_view finish_reason(StopReason r);
// finish_reason as the chat completion object documents it; a turn that called tools ends in
// tool use whatever it says.
StopReason stop_reason(std::string_view r, bool called_tools);
void append_usage(std::string& out, const Usage& u);
Usage read_usage(const json::object& u);

// A message's reasoning text: DeepSeek and vLLM name it reasoning_content; OpenRouter and newer
// vLLM name it reasoning.
std::string_view reasoning_text(const json::object& message);

// Calls `on_block(type, block)` for each object in `message`'s thinking_blocks, when it has them.
template <typename F>
void for_each_thinking_block(const json::object& message, F&& on_block) {
  if (const auto* blocks = array_member(message, "thinking_blocks")) {
    for (const auto& v : *blocks) {
      if (const auto* b = v.if_object()) on_block(string_or_empty(*b, "type"), *b);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Writing

bool has_part(const std::vector<Part>& parts, Part::Kind kind);
// The texts of `parts` of `kind`, joined, as one JSON string.
void append_joined(std::string& out, const std::vector<Part>& parts, Part::Kind kind);
// {"type":"text","text":...}
void append_text_item(std::string& out, std::string_view text);
// "id":...,"type":"function","function":{"name":...,"arguments":...}: a tool call's members.
void append_call_members(std::string& out, std::string_view id, std::string_view name,
                         std::string_view arguments);
// The tool calls among `parts` as a tool_calls array; `empty_arguments` stands for a call's
// arguments when it has none.
void append_tool_calls(std::string& out, const std::vector<Part>& parts,
                       std::string_view empty_arguments);

// ---------------------------------------------------------------------------------------------
// decode_request (request_decode.cpp, request_messages.cpp)

// Reads messages[i] into `r`: its role's parts, or the system prompt.
base::Status read_message(Request& r, const json::value& v, std::size_t i);

// ---------------------------------------------------------------------------------------------
// Streams (stream_decode.cpp, stream_encode.cpp)

std::unique_ptr<StreamDecoder> make_stream_decoder();
std::unique_ptr<StreamEncoder> make_stream_encoder(const Request& request, std::string_view model);

}  // namespace shepherd::translate::openai_chat
