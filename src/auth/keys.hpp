// Who is calling: bearer tokens checked against the digests of configured keys. Tokens are hashed
// before any comparison and digests compared in constant time, so timing reveals nothing about
// keys. Pure (OpenSSL's hash only); safe on any thread. Virtual keys with budgets and limits
// extend this module.
#pragma once

#include <array>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace shepherd::auth {

using Digest = std::array<unsigned char, 32>;  // SHA-256

Digest sha256(std::string_view text);

// The token of an `Authorization: Bearer <token>` value (scheme case-insensitive), or nullopt.
std::optional<std::string_view> bearer_token(std::string_view authorization);

// Which of `digests` is the digest of the token in `authorization` ("Bearer <token>"), or
// nullopt. Every digest is compared, in constant time: timing reveals nothing about which one
// matched, or how closely another did.
std::optional<std::size_t> matching_key(std::string_view authorization,
                                        std::span<const Digest> digests);
// The same for a bare token (an `x-api-key` header's value).
std::optional<std::size_t> matching_token(std::string_view token, std::span<const Digest> digests);
inline bool bearer_matches(std::string_view authorization, std::span<const Digest> digests) {
  return matching_key(authorization, digests).has_value();
}

class KeyHasher;

// The keys of one config snapshot, hashed once when the snapshot is installed. With keys.secret
// set, the static keys are hashed under it like virtual keys are, so that one HMAC of a
// presented token serves both lookups.
struct KeyDigests {
  std::vector<Digest> api_keys;  // the static keys (server.api_keys)
  std::optional<Digest> master;  // SHA-256; absent: the admin API is disabled
  // SHA-256 of the tokens that may read /metrics and /stats (the master key, a metrics token);
  // metrics_open: anyone may.
  std::vector<Digest> metrics;
  bool metrics_open = true;
  std::shared_ptr<const KeyHasher> hasher;  // null: virtual keys are off, api_keys are SHA-256

  // Open mode: no static keys and no virtual keys; anyone may call.
  bool open() const { return api_keys.empty() && !hasher; }
  // A presented token as the key lists store it.
  Digest digest(std::string_view token) const;
  // Which static key `digest` is, comparing every one in constant time.
  std::optional<std::size_t> static_key(const Digest& digest) const;

  static KeyDigests of(const std::vector<std::string>& api_keys, const std::string& master_key,
                       std::shared_ptr<const KeyHasher> hasher = nullptr);
};

}  // namespace shepherd::auth
