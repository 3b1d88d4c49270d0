#include "translate/codec.hpp"

#include <boost/json/serialize.hpp>
#include <charconv>

namespace shepherd::translate {

namespace {

base::Error unsupported(Wire wire, std::string_view what) {
  return base::make_error(base::ErrorCode::kBadRequest,
                          std::string(wire_name(wire)) + " cannot " + std::string(what));
}

}  // namespace

base::Result<Request> Codec::decode_request(std::string_view, int) const {
  return unsupported(wire(), "be spoken by clients");
}

void Codec::encode_response(const Request&, const Response&, std::string_view, std::string&) const {
}

std::unique_ptr<StreamEncoder> Codec::stream_encoder(const Request&, std::string_view) const {
  return nullptr;
}

std::string Codec::error_body(const base::Error& error) const { return error.message; }

base::Status Codec::encode_request(const Request&, std::string_view, std::string&) const {
  return unsupported(wire(), "be spoken to providers");
}

base::Result<Response> Codec::decode_response(std::string_view) const {
  return unsupported(wire(), "be spoken to providers");
}

std::unique_ptr<StreamDecoder> Codec::stream_decoder() const { return nullptr; }

std::string Codec::error_message(std::string_view body) const {
  return std::string(body.substr(0, 500));
}

void append_sse_chunk(std::string& out, std::string_view event, std::string_view data) {
  // "event: " + event + "\n" when set, "data: " + data + "\n\n".
  const std::size_t size = (event.empty() ? 0 : event.size() + 8) + data.size() + 8;
  char hex[16];
  auto [p, ec] = std::to_chars(hex, hex + sizeof hex, size, 16);
  out.append(hex, p).append("\r\n");
  if (!event.empty()) out.append("event: ").append(event).append("\n");
  out.append("data: ").append(data).append("\n\n\r\n");
}

namespace {

std::size_t part_bytes(const Part& part) {
  std::size_t n = part.text.size() + part.arguments.size() + part.name.size();
  for (const auto& p : part.content) n += part_bytes(p);
  return n;
}

}  // namespace

std::size_t text_bytes(const Request& request) {
  std::size_t n = request.system.size();
  for (const auto& m : request.messages) {
    for (const auto& p : m.parts) n += part_bytes(p);
  }
  for (const auto& t : request.tools) {
    n += t.name.size() + t.description.size();
    if (!t.parameters.is_null()) n += boost::json::serialize(t.parameters).size();
  }
  return n;
}

std::int64_t estimate_tokens(const Request& request) {
  // Four bytes per token is the usual English figure; every message costs a few tokens of
  // framing as well.
  return static_cast<std::int64_t>((text_bytes(request) + 3) / 4) +
         3 * static_cast<std::int64_t>(request.messages.size()) + 1;
}

std::string_view wire_name(Wire wire) {
  switch (wire) {
    case Wire::kOpenAiChat:
      return "the OpenAI chat completions API";
    case Wire::kAnthropic:
      return "the Anthropic Messages API";
    case Wire::kGemini:
      return "the Gemini API";
    case Wire::kOpenAiResponses:
      return "the OpenAI Responses API";
    case Wire::kFastChatWorker:
    case Wire::kFastChatGenerate:
      return "FastChat's worker API";
  }
  return "this API";
}

}  // namespace shepherd::translate
