// The codec object: parses a client's body and hands each task to its part of this folder.
#include <algorithm>
#include <string>

#include "api/openai.hpp"
#include "translate/json_util.hpp"
#include "translate/openai_responses.hpp"
#include "translate/openai_responses/internal.hpp"

namespace shepherd::translate {

namespace json = boost::json;
using detail::bad_request;
using detail::cat;

base::Result<Request> OpenAiResponsesCodec::decode_request(std::string_view body,
                                                           int max_depth) const {
  unsigned char buffer[4096];
  json::monotonic_resource mr(buffer);
  json::parse_options opts;
  opts.max_depth = static_cast<std::size_t>(std::max(max_depth, 1));
  boost::system::error_code ec;
  const json::value root =
      json::parse(json::string_view(body.data(), body.size()), ec, json::storage_ptr(&mr), opts);
  if (ec == json::error::too_deep) {
    return bad_request(cat("the request body nests deeper than ", max_depth, " levels"), "");
  }
  if (ec) return bad_request(cat("the request body is not valid JSON: ", ec.message()), "");
  if (!root.is_object()) return bad_request("the request body must be a JSON object", "");
  return openai_responses::decode(root.get_object());
}

void OpenAiResponsesCodec::encode_response(const Request& request, const Response& response,
                                           std::string_view model, std::string& out) const {
  openai_responses::encode_response(request, response, model, out);
}

std::unique_ptr<StreamEncoder> OpenAiResponsesCodec::stream_encoder(const Request& request,
                                                                    std::string_view model) const {
  return openai_responses::make_stream_encoder(request, model);
}

std::string OpenAiResponsesCodec::error_body(const base::Error& error) const {
  return api::error_body(error);
}

const Codec& openai_responses_codec() {
  static const OpenAiResponsesCodec codec;
  return codec;
}

}  // namespace shepherd::translate
