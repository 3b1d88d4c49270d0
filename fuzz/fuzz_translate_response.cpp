// Complete provider answers in each provider format (the first byte picks it), decoded into the
// common form and written out for every client format; Gemini embeddings answers turned into
// OpenAI's. Nothing may crash; a malformed answer is a retryable upstream error.
#include <array>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "translate/anthropic.hpp"
#include "translate/gemini.hpp"
#include "translate/openai_chat.hpp"
#include "translate/openai_responses.hpp"

namespace t = shepherd::translate;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string_view body(reinterpret_cast<const char*>(data) + 1, size - 1);
  const std::array<const t::Codec*, 3> providers = {&t::openai_chat_codec(), &t::anthropic_codec(),
                                                    &t::gemini_codec()};
  const std::array<const t::Codec*, 3> clients = {&t::openai_chat_codec(), &t::anthropic_codec(),
                                                  &t::openai_responses_codec()};
  if (data[0] % 4 == 3) {
    (void)t::decode_embeddings(body, "m", 3);
    return 0;
  }
  auto response = providers[data[0] % 4]->decode_response(body);
  if (!response) {
    if (!response.error().retryable) std::abort();
    return 0;
  }
  t::Request request;
  request.model = "client-model";
  for (const auto* c : clients) {
    std::string out;
    c->encode_response(request, *response, "client-model", out);
    if (out.empty()) std::abort();
  }
  (void)providers[data[0] % 4]->error_message(body);
  return 0;
}
