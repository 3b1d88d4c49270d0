// The SSE parser fed the same bytes whole and split at a point chosen by the input must yield
// the same events, each piece freed once fed; chunk inspection must never crash.
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "api/openai.hpp"
#include "api/sse.hpp"

namespace {

std::vector<std::string> events(std::string_view bytes, std::size_t split) {
  shepherd::api::SseParser parser(1 << 16);
  std::vector<std::string> out;
  auto on_event = [&](const shepherd::api::SseEvent& e) {
    out.emplace_back(std::string(e.event) + '\0' + std::string(e.data));
    (void)shepherd::api::inspect_chunk(e.data);
  };
  // Each piece in a buffer of its own, freed once fed, as a read buffer is reused: a view the
  // parser kept past its piece is a use after free.
  for (auto piece : {bytes.substr(0, split), bytes.substr(split)}) {
    const auto buffer = std::make_unique<std::string>(piece);
    if (!parser.feed(*buffer, on_event).ok()) return {"<error>"};
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string_view bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
  const std::size_t split = bytes.empty() ? 0 : data[0] % (bytes.size() + 1);
  auto whole = events(bytes, bytes.size());
  auto parts = events(bytes, split);
  // A size-limit error can only differ in when it is noticed, never in the events before it.
  if (whole != parts && whole != std::vector<std::string>{"<error>"} &&
      parts != std::vector<std::string>{"<error>"}) {
    std::abort();
  }
  return 0;
}
