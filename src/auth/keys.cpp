#include "auth/keys.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <strings.h>

#include <memory>
#include <stdexcept>

#include "auth/virtual_keys.hpp"

namespace shepherd::auth {

namespace {

// OpenSSL 3's one-shot SHA256() looks the algorithm up in its provider table on every call,
// which cost more than hashing a key. The algorithm is fetched once per process and each
// thread keeps one digest context.
const EVP_MD* sha256_md() {
  static const std::unique_ptr<EVP_MD, decltype(&EVP_MD_free)> md(
      EVP_MD_fetch(nullptr, "SHA256", nullptr), &EVP_MD_free);
  if (!md) throw std::runtime_error("OpenSSL has no SHA-256");
  return md.get();
}

}  // namespace

Digest sha256(std::string_view text) {
  static_assert(std::tuple_size_v<Digest> == SHA256_DIGEST_LENGTH);
  thread_local const std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(),
                                                                                 &EVP_MD_CTX_free);
  Digest d;
  unsigned int size = 0;
  if (!ctx || EVP_DigestInit_ex2(ctx.get(), sha256_md(), nullptr) != 1 ||
      EVP_DigestUpdate(ctx.get(), text.data(), text.size()) != 1 ||
      EVP_DigestFinal_ex(ctx.get(), d.data(), &size) != 1 || size != d.size()) {
    throw std::runtime_error("SHA-256 failed");
  }
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

std::optional<std::size_t> matching_key(std::string_view authorization,
                                        std::span<const Digest> digests) {
  const auto token = bearer_token(authorization);
  if (!token) return std::nullopt;
  return matching_token(*token, digests);
}

std::optional<std::size_t> matching_token(std::string_view token, std::span<const Digest> digests) {
  const auto d = sha256(token);
  std::optional<std::size_t> found;
  for (std::size_t i = 0; i < digests.size(); ++i) {
    if (CRYPTO_memcmp(d.data(), digests[i].data(), d.size()) == 0) found = i;
  }
  return found;
}

Digest KeyDigests::digest(std::string_view token) const {
  return hasher ? hasher->hash(token) : sha256(token);
}

std::optional<std::size_t> KeyDigests::static_key(const Digest& d) const {
  std::optional<std::size_t> found;
  for (std::size_t i = 0; i < api_keys.size(); ++i) {
    if (CRYPTO_memcmp(d.data(), api_keys[i].data(), d.size()) == 0) found = i;
  }
  return found;
}

KeyDigests KeyDigests::of(const std::vector<std::string>& api_keys, const std::string& master_key,
                          std::shared_ptr<const KeyHasher> hasher) {
  KeyDigests out;
  out.hasher = std::move(hasher);
  for (const auto& k : api_keys) out.api_keys.push_back(out.digest(k));
  if (!master_key.empty()) out.master = sha256(master_key);
  return out;
}

}  // namespace shepherd::auth
