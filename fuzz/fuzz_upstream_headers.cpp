// An upstream's response head, as Shepherd reads it: the bytes are parsed by the response parser
// (fed in two pieces at a point the input chooses), then each adapter scans the headers for an
// exhausted rate limit (OpenAI's x-ratelimit-remaining-* / -reset-*, Anthropic's
// anthropic-ratelimit-*-remaining / -reset) and turns the status, body and Retry-After (or
// Gemini's retryDelay) into the client's error. Properties: no input crashes either; a wait is
// only reported when a matching remaining header is "0", and is never negative; the error the
// client sees never contains the provider's key; its verdict is the status's.
#include <cstdint>
#include <cstdlib>
#include <ctime>
#include <string>
#include <string_view>
#include <vector>

#include "net/http_message.hpp"
#include "providers/registry.hpp"

namespace {

namespace sp = shepherd::providers;

bool iequals_prefix(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(s[i])) != prefix[i]) return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string_view bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
  const std::size_t split = bytes.empty() ? 0 : data[0] % (bytes.size() + 1);

  shepherd::net::HttpResponse response;
  shepherd::net::ResponseParser parser(response);
  parser.header_limit(64 * 1024);
  parser.body_limit(64 * 1024);
  parser.eager(true);
  boost::system::error_code ec;
  std::size_t used = parser.put(boost::asio::buffer(bytes.data(), split), ec);
  if (!ec || ec == boost::beast::http::error::need_more) {
    ec = {};
    const auto rest = bytes.substr(used);
    parser.put(boost::asio::buffer(rest.data(), rest.size()), ec);
  }
  if (!parser.is_header_done()) return 0;

  std::vector<sp::Header> headers;
  bool openai_exhausted = false, anthropic_exhausted = false;
  for (std::size_t i = 0; i < response.field_count; ++i) {
    const auto& [name, value] = response.fields[i];
    headers.push_back({name, value});
    if (value != "0") continue;
    if (iequals_prefix(name, "x-ratelimit-remaining-")) openai_exhausted = true;
    if (iequals_prefix(name, "anthropic-ratelimit-")) anthropic_exhausted = true;
  }
  constexpr std::time_t kNow = 1'700'000'000;

  shepherd::config::ProviderConfig provider;
  provider.name = "relay";
  provider.api_key = "sk-canary-7f3a";
  // The key may appear anywhere in what the upstream sent back; it must not reach the client.
  const std::string body = response.body + " sk-canary-7f3a";
  for (const auto* adapter : sp::adapters()) {
    const auto wait = adapter->exhausted_for(headers, kNow);
    const bool may_wait = adapter->kind() == "openai"      ? openai_exhausted
                          : adapter->kind() == "anthropic" ? anthropic_exhausted
                                                           : false;
    if (wait && (!may_wait || wait->count() < 0)) std::abort();
    const auto failure =
        adapter->read_status(provider, response.status, body, response.retry_after, kNow);
    if (failure.error.message.find(provider.api_key) != std::string::npos) std::abort();
    if (failure.verdict != sp::status_verdict(response.status)) std::abort();
    if (failure.error.retry_after && *failure.error.retry_after < 0) std::abort();
  }
  return 0;
}
