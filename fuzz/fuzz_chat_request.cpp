// Request validation and the rewrites of forwarded bodies: no input may crash them, and a body
// that validates must still validate, with the new model, after the rewrite.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "api/json_scan.hpp"
#include "api/openai.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  auto parsed = shepherd::api::parse_chat_request(body, 64);
  (void)shepherd::api::find_top_level_value(body, "model");
  (void)shepherd::api::inspect_completion(body);
  if (!parsed) return 0;
  const auto rewritten = shepherd::api::upstream_chat_body(body, *parsed, "upstream-\"id\"");
  auto again = shepherd::api::parse_chat_request(rewritten, 64);
  if (!again || again->model != "upstream-\"id\"") std::abort();
  if (parsed->stream && !again->client_wants_usage) std::abort();
  return 0;
}
