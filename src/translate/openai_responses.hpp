// OpenAI's Responses API (POST /v1/responses) for clients, served by any provider through the
// common form (https://platform.openai.com/docs/api-reference/responses). Stateless: Shepherd
// stores no responses (`store: false` semantics), so `previous_response_id` is refused with a 400
// that says to send the whole conversation as `input` items.
//
// Requests: `input` as a string or as items (messages with input_text / input_image parts,
// function_call and function_call_output items, reasoning items), `instructions`, function
// `tools`, `tool_choice`, `max_output_tokens`, `temperature`, `top_p`, `text.format`
// (json_object, json_schema), `reasoning.effort`, `stream`. Answers: a `response` object with
// message, function_call and reasoning output items and usage; streams: response.created,
// response.in_progress, response.output_item.added / .done, response.content_part.added / .done,
// response.output_text.delta / .done, response.function_call_arguments.delta / .done,
// response.reasoning_summary_text.delta, response.completed (or response.incomplete), each with
// its sequence_number.
#pragma once

#include "translate/codec.hpp"

namespace shepherd::translate {

class OpenAiResponsesCodec final : public Codec {
 public:
  Wire wire() const override { return Wire::kOpenAiResponses; }
  base::Result<Request> decode_request(std::string_view body, int max_depth) const override;
  void encode_response(const Request& request, const Response& response, std::string_view model,
                       std::string& out) const override;
  std::unique_ptr<StreamEncoder> stream_encoder(const Request& request,
                                                std::string_view model) const override;
  std::string error_body(const base::Error& error) const override;
};

const Codec& openai_responses_codec();

}  // namespace shepherd::translate
