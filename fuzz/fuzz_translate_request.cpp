// Client request bodies in each ingress format (the first byte picks it), decoded into the common
// form and written out for every provider format; OpenAI embeddings bodies translated for Gemini.
// Nothing may crash, and what a decoder accepts every encoder must take or refuse with a 400.
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
  const std::array<const t::Codec*, 3> clients = {&t::openai_chat_codec(), &t::anthropic_codec(),
                                                  &t::openai_responses_codec()};
  const std::array<const t::Codec*, 3> providers = {&t::openai_chat_codec(), &t::anthropic_codec(),
                                                    &t::gemini_codec()};
  std::string out;
  if (data[0] % 4 == 3) {
    if (t::encode_embeddings(body, 32, "text-embedding-004", out).ok() && out.empty()) {
      std::abort();
    }
    return 0;
  }
  auto request = clients[data[0] % 4]->decode_request(body, 32);
  if (!request) {
    if (request.error().code != shepherd::base::ErrorCode::kBadRequest) std::abort();
    return 0;
  }
  for (const auto* p : providers) {
    out.clear();
    auto s = p->encode_request(*request, "upstream-model", out);
    if (s.ok() ? out.empty() : s.error().code != shepherd::base::ErrorCode::kBadRequest) {
      std::abort();
    }
  }
  (void)t::estimate_tokens(*request);
  return 0;
}
