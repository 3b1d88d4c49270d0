// What the files of the OpenAI Responses codec (translate/openai_responses.hpp) share: the
// request decoding split between the input items (request_decode.cpp) and the tools and options
// (request_options.cpp), the builders of answer objects (response.cpp) that the final answer and
// the stream encoder (stream_encode.cpp) both write.
//
// For this codec only: not part of the translation interface.
#pragma once

#include <boost/json.hpp>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "base/result.hpp"
#include "translate/canonical.hpp"
#include "translate/codec.hpp"
#include "translate/json_util.hpp"

namespace shepherd::translate::openai_responses {

namespace json = boost::json;

// The shared JSON helpers (translate/json_util.hpp) this codec's files use.
using detail::append_int;
using detail::append_quoted;
using detail::bad_request;
using detail::cat;
using detail::member;
using detail::string_member;
using detail::sv;

// The opaque `encrypted_content` of a reasoning item Shepherd writes for an Anthropic
// redacted_thinking block, so the block goes back upstream as it came when the client returns
// the item on its next turn. Clients treat encrypted_content as opaque (responses/object).
inline constexpr std::string_view kRedactedPrefix = "shepherd.redacted_thinking:";

// ---------------------------------------------------------------------------------------------
// Request decoding (https://platform.openai.com/docs/api-reference/responses/create)

// The request whose body is `root`.
base::Result<Request> decode(const json::object& root);
// `tools`, `tool_choice` and `parallel_tool_calls` of `root` into `request`.
base::Status decode_tools(const json::object& root, Request& request);
// `max_output_tokens`, `temperature`, `top_p`, `text` and `reasoning` of `root` into `request`.
base::Status decode_options(const json::object& root, Request& request);

// ---------------------------------------------------------------------------------------------
// Answers (https://platform.openai.com/docs/api-reference/responses/object)

// `id` with "resp_" in front unless it has it.
std::string response_id(std::string_view id);

// Item ids derive from the response id, so a stream and its final response agree: "msg_<id>_1"
// for output index 1 of response "resp_<id>".
std::string item_id(std::string_view prefix, std::string_view response, std::size_t index);

// The incomplete_details.reason for `reason`; nullptr when the response is complete.
const char* incomplete_reason(StopReason reason);

json::object output_text(std::string_view text, const json::storage_ptr& sp);
// A message item; `text` null for the empty item of response.output_item.added.
json::object message_item(std::string_view id, std::string_view status, const std::string* text,
                          const json::storage_ptr& sp);
json::object summary_text(std::string_view text, const json::storage_ptr& sp);
// A reasoning item; an empty summary for the item of response.output_item.added and for
// redacted thinking, whose data travels in encrypted_content.
json::object reasoning_item(std::string_view id, const std::string* text,
                            std::string_view encrypted, bool redacted, const json::storage_ptr& sp);
json::object function_call_item(std::string_view id, std::string_view status,
                                std::string_view call_id, std::string_view name,
                                std::string_view arguments, const json::storage_ptr& sp);

// The request settings a response object repeats (responses/object), copied from the request.
struct Echo {
  std::optional<double> temperature;
  std::optional<double> top_p;
  std::optional<std::int64_t> max_output_tokens;
  bool parallel_tool_calls = true;
  std::optional<ToolChoice> tool_choice;
  std::string reasoning_effort;
  ResponseFormat format;
  std::string instructions;  // the request's instructions and system/developer messages
  std::vector<Tool> tools;
};
Echo echo_of(const Request& request);

struct Head {
  std::string_view id;  // already "resp_"-prefixed
  std::int64_t created = 0;
  std::string_view model;
  const Echo* echo = nullptr;
};

// The response object with every field the API reference lists as always present.
json::object response_object(const Head& head, std::string_view status, const char* incomplete,
                             json::array output, const std::optional<Usage>& usage,
                             const json::storage_ptr& sp);

// The answer to `request` for `response`, naming `model`.
void encode_response(const Request& request, const Response& response, std::string_view model,
                     std::string& out);

// ---------------------------------------------------------------------------------------------
// Streams (https://platform.openai.com/docs/api-reference/responses-streaming)

std::unique_ptr<StreamEncoder> make_stream_encoder(const Request& request, std::string_view model);

}  // namespace shepherd::translate::openai_responses
