// FastChat's bodies as a controller or worker receives them: every parser must refuse bad input
// with an error, never crash; a NUL-framed stream split at a point the input chooses must give
// the frames it gives whole; a conversation template read from a worker must render and read
// back prompts without crashing; a generate request read by `shepherd worker` and a worker's
// answer read by the `kind: fastchat` provider must do the same.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "fastchat/conversation.hpp"
#include "fastchat/protocol.hpp"
#include "fastchat/worker_request.hpp"
#include "providers/fastchat/generate_codec.hpp"
#include "translate/openai_chat.hpp"

namespace {

using namespace shepherd::fastchat;

std::vector<std::string> frames(std::string_view bytes, std::size_t split) {
  NulFrameReader reader(1 << 12);
  std::vector<std::string> out;
  reader.feed(bytes.substr(0, split), out);
  reader.feed(bytes.substr(split), out);
  if (reader.failed()) out.emplace_back("<failed>");
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string_view body(reinterpret_cast<const char*>(data) + 1, size - 1);
  (void)parse_worker_status(body);
  (void)parse_register_worker(body);
  (void)parse_heart_beat(body);
  (void)parse_heart_beat_answer(body);
  (void)parse_model_list(body);
  (void)parse_model_request(body);
  (void)parse_worker_address(body);
  (void)parse_count_token_request(body);
  (void)parse_count_token_answer(body);
  (void)parse_model_details(body);
  (void)parse_embeddings_request(body);
  (void)parse_embeddings_answer(body);
  if (auto params = parse_generate_params(body)) {
    (void)write_generate_params(*params);
    for (const char* name : {"chatml", "vicuna_v1.1", "llama-3", "zero_shot"}) {
      // What the worker relays: the request in the common form, written for an OpenAI upstream.
      if (auto request = chat_request(*params, *find_template(name), data[0] & 2)) {
        std::string upstream;
        (void)shepherd::translate::openai_chat_codec().encode_request(*request, "up", upstream);
      }
    }
  }
  // The provider's side: the body as a whole answer, and its frames as a stream.
  const auto& codec = shepherd::providers::fastchat::generate_codec();
  (void)codec.decode_response(body);
  (void)codec.error_message(body);
  auto decoder = codec.stream_decoder();
  std::vector<shepherd::translate::Delta> deltas;
  for (const auto& f : frames(body, body.size())) {
    if (!decoder->feed({}, f, deltas)) break;
  }
  if (auto chunk = parse_generate_chunk(body)) (void)write_generate_chunk(*chunk);
  // The first byte picks the split point and the numbering.
  const std::size_t split = body.empty() ? 0 : data[0] % (body.size() + 1);
  const auto whole = frames(body, body.size());
  const auto parts = frames(body, split);
  if (whole != parts) std::abort();
  const auto numbering = data[0] & 1 ? SepNumbering::kHead : SepNumbering::kTag0236;
  if (auto conv = parse_conv_template(body, numbering)) {
    shepherd::translate::Request request;
    request.system = "Be brief.";
    shepherd::translate::Message m;
    m.parts.push_back({});
    m.parts.back().text = "Hi {system_message} </s> <|im_end|>";
    request.messages.push_back(m);
    if (auto prompt = render_prompt(*conv, request)) (void)parse_prompt(*conv, *prompt);
    (void)conv_template_json(*conv, numbering);
    (void)parse_prompt(*conv, body);
  }
  return 0;
}
