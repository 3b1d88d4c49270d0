#include "auth/virtual_keys.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>

#include "base/slots.hpp"

namespace shepherd::auth {

namespace {

using EvpCtx = std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)>;

EvpCtx new_ctx() {
  EvpCtx ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  if (!ctx) throw std::runtime_error("OpenSSL: cannot allocate a digest context");
  return ctx;
}

void random_bytes(unsigned char* out, std::size_t n) {
  if (RAND_bytes(out, static_cast<int>(n)) != 1) {
    throw std::runtime_error("OpenSSL: the system's random source failed");
  }
}

constexpr std::size_t kBlock = 64;  // SHA-256's block size

}  // namespace

struct KeyHasher::Impl {
  EvpCtx inner = new_ctx();  // state after hashing key ^ ipad
  EvpCtx outer = new_ctx();  // state after hashing key ^ opad
};

KeyHasher::KeyHasher(std::string_view secret) : impl_(std::make_unique<Impl>()) {
  std::array<unsigned char, kBlock> key{};
  if (secret.size() > kBlock) {
    const auto d = sha256(secret);
    std::memcpy(key.data(), d.data(), d.size());
  } else {
    std::memcpy(key.data(), secret.data(), secret.size());
  }
  std::array<unsigned char, kBlock> ipad, opad;
  for (std::size_t i = 0; i < kBlock; ++i) {
    ipad[i] = key[i] ^ 0x36;
    opad[i] = key[i] ^ 0x5c;
  }
  const EVP_MD* md = EVP_sha256();
  if (EVP_DigestInit_ex2(impl_->inner.get(), md, nullptr) != 1 ||
      EVP_DigestUpdate(impl_->inner.get(), ipad.data(), ipad.size()) != 1 ||
      EVP_DigestInit_ex2(impl_->outer.get(), md, nullptr) != 1 ||
      EVP_DigestUpdate(impl_->outer.get(), opad.data(), opad.size()) != 1) {
    throw std::runtime_error("OpenSSL: HMAC set-up failed");
  }
  OPENSSL_cleanse(key.data(), key.size());
  OPENSSL_cleanse(ipad.data(), ipad.size());
  OPENSSL_cleanse(opad.data(), opad.size());
}

KeyHasher::~KeyHasher() = default;

Digest KeyHasher::hash(std::string_view token) const {
  // Each thread works on its own copy of the prepared states.
  thread_local const EvpCtx work = new_ctx();
  Digest inner_digest;
  Digest out;
  unsigned int n = 0;
  if (EVP_MD_CTX_copy_ex(work.get(), impl_->inner.get()) != 1 ||
      EVP_DigestUpdate(work.get(), token.data(), token.size()) != 1 ||
      EVP_DigestFinal_ex(work.get(), inner_digest.data(), &n) != 1 ||
      EVP_MD_CTX_copy_ex(work.get(), impl_->outer.get()) != 1 ||
      EVP_DigestUpdate(work.get(), inner_digest.data(), inner_digest.size()) != 1 ||
      EVP_DigestFinal_ex(work.get(), out.data(), &n) != 1) {
    throw std::runtime_error("OpenSSL: HMAC failed");
  }
  return out;
}

std::string new_key_secret() {
  static constexpr char kAlphabet[] =
      "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  std::string s = "sk-shep-";
  // 43 characters of 62 carry 256 bits; rejection sampling keeps each character uniform.
  while (s.size() < 8 + 43) {
    unsigned char buf[64];
    random_bytes(buf, sizeof buf);
    for (unsigned char b : buf) {
      if (b < 248 && s.size() < 8 + 43) s += kAlphabet[b % 62];
    }
  }
  return s;
}

std::string new_key_id() {
  unsigned char buf[8];
  random_bytes(buf, sizeof buf);
  std::string id = "key_";
  for (unsigned char b : buf) {
    id += "0123456789abcdef"[b >> 4];
    id += "0123456789abcdef"[b & 0xf];
  }
  return id;
}

std::string display_prefix(std::string_view secret) { return std::string(secret.substr(0, 12)); }

bool VirtualKey::allows(std::string_view model) const {
  return models.empty() || std::find(models.begin(), models.end(), model) != models.end();
}

std::size_t KeyTable::DigestHash::operator()(const Digest& d) const {
  // The digest is already uniformly distributed: its first bytes are a good hash.
  std::size_t h;
  std::memcpy(&h, d.data(), sizeof h);
  return h;
}

KeyTable::KeyTable(const std::vector<storage::KeyRecord>& records) {
  keys_.reserve(records.size());
  for (const auto& r : records) {
    VirtualKey k;
    k.id = r.id;
    k.name = r.name;
    k.models = r.models;
    for (const auto& m : r.models) k.models_text += (k.models_text.empty() ? "" : ", ") + m;
    k.limits.rpm = r.rpm;
    k.limits.tpm = r.tpm;
    k.limits.max_parallel = r.max_parallel;
    k.limits.budget = r.budget;
    k.expires_at = r.expires_at;
    k.revoked = r.revoked_at.has_value();
    k.log_bodies = r.log_bodies;
    k.metric_slot = base::key_slots().slot(r.id);
    keys_.emplace(r.hash, std::move(k));
  }
  by_id_.reserve(keys_.size());
  for (const auto& [hash, key] : keys_) by_id_.emplace(key.id, &key);
}

const VirtualKey* KeyTable::find(const Digest& hash) const {
  const auto it = keys_.find(hash);
  if (it == keys_.end()) return nullptr;
  // The map compared the digests already; compare again in constant time so that no shortcut
  // of the map's equality can leak how much of a digest matched.
  if (CRYPTO_memcmp(it->first.data(), hash.data(), hash.size()) != 0) return nullptr;
  return &it->second;
}

const VirtualKey* KeyTable::by_id(std::string_view id) const {
  const auto it = by_id_.find(std::string(id));
  return it == by_id_.end() ? nullptr : it->second;
}

}  // namespace shepherd::auth
