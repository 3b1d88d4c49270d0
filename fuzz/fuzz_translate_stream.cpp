// A provider's event stream in one provider format (the first byte picks it and where the bytes
// split), parsed as SSE, decoded delta by delta and encoded for every client format, as the
// pipeline does. Nothing may crash, and a stream once failed is not fed again.
#include <array>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "api/sse.hpp"
#include "translate/anthropic.hpp"
#include "translate/gemini.hpp"
#include "translate/openai_chat.hpp"
#include "translate/openai_responses.hpp"

namespace t = shepherd::translate;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string_view bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
  const std::array<const t::Codec*, 3> providers = {&t::openai_chat_codec(), &t::anthropic_codec(),
                                                    &t::gemini_codec()};
  const std::array<const t::Codec*, 3> clients = {&t::openai_chat_codec(), &t::anthropic_codec(),
                                                  &t::openai_responses_codec()};
  t::Request request;
  request.model = "client-model";
  request.stream = true;
  request.include_usage = (data[0] & 0x10) != 0;
  auto decoder = providers[data[0] % 3]->stream_decoder();
  std::array<std::unique_ptr<t::StreamEncoder>, 3> encoders;
  for (std::size_t i = 0; i < clients.size(); ++i) {
    encoders[i] = clients[i]->stream_encoder(request, "client-model");
  }
  std::vector<t::Delta> deltas;
  std::string out;
  bool failed = false;
  auto on_event = [&](const shepherd::api::SseEvent& e) {
    if (failed) return;
    if (!decoder->feed(e.event, e.data, deltas).ok()) {
      failed = true;
      for (auto& enc : encoders) {
        enc->error(shepherd::base::make_error(shepherd::base::ErrorCode::kUpstreamUnreachable, "x"),
                   out);
      }
      return;
    }
    for (const auto& d : deltas) {
      for (auto& enc : encoders) enc->encode(d, out);
    }
    deltas.clear();
    if (out.size() > (1u << 20)) out.clear();
  };
  shepherd::api::SseParser parser(1 << 16);
  const std::size_t split = bytes.empty() ? 0 : (data[0] >> 5) * bytes.size() / 8;
  if (parser.feed(bytes.substr(0, split), on_event).ok() &&
      parser.feed(bytes.substr(split), on_event).ok() && !failed) {
    decoder->end(deltas);
    for (const auto& d : deltas) {
      for (auto& enc : encoders) enc->encode(d, out);
    }
  }
  return 0;
}
