#include "auth/keys.hpp"

#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <strings.h>

namespace shepherd::auth {

Digest sha256(std::string_view text) {
  static_assert(std::tuple_size_v<Digest> == SHA256_DIGEST_LENGTH);
  Digest d;
  SHA256(reinterpret_cast<const unsigned char*>(text.data()), text.size(), d.data());
  return d;
}

std::optional<std::string_view> bearer_token(std::string_view authorization) {
  constexpr std::string_view kBearer = "Bearer ";
  if (authorization.size() <= kBearer.size() ||
      ::strncasecmp(authorization.data(), kBearer.data(), kBearer.size()) != 0) {
    return std::nullopt;
  }
  return authorization.substr(kBearer.size());
}

bool bearer_matches(std::string_view authorization, std::span<const Digest> digests) {
  const auto token = bearer_token(authorization);
  if (!token) return false;
  const auto d = sha256(*token);
  bool ok = false;
  for (const auto& k : digests) ok |= CRYPTO_memcmp(d.data(), k.data(), d.size()) == 0;
  return ok;
}

KeyDigests KeyDigests::of(const std::vector<std::string>& api_keys, const std::string& master_key) {
  KeyDigests out;
  for (const auto& k : api_keys) out.api_keys.push_back(sha256(k));
  if (!master_key.empty()) out.master = sha256(master_key);
  return out;
}

}  // namespace shepherd::auth
