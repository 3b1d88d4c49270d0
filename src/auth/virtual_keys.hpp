// Virtual keys: secrets Shepherd issues itself, each with its own models, limits and budget.
// A key is stored only as HMAC-SHA256(keys.secret, token) and a short display prefix; every token
// a client presents is hashed the same way before it is looked up, whatever its shape, so the
// store never holds a usable secret and a stolen database does not let anyone in.
//
// KeyTable is the in-memory view the event loops consult: immutable, rebuilt by the store thread
// whenever the stored keys change, and handed to each loop whole (no lock on the hot path).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "auth/keys.hpp"
#include "limits/limiter.hpp"
#include "storage/records.hpp"

namespace shepherd::auth {

// HMAC-SHA256 (RFC 2104) under one secret. The secret's inner and outer pads are hashed once
// here, so each token costs the hash of the token and one more block. Thread-safe.
class KeyHasher {
 public:
  explicit KeyHasher(std::string_view secret);
  ~KeyHasher();
  KeyHasher(const KeyHasher&) = delete;
  KeyHasher& operator=(const KeyHasher&) = delete;

  Digest hash(std::string_view token) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// A new secret: "sk-shep-" and 43 base62 characters (256 bits from the system's CSPRNG).
std::string new_key_secret();
// A new key id: "key_" and 16 hex digits (not secret; names the key in records and routes).
std::string new_key_id();
// What lists show of a secret: its first 12 characters ("sk-shep-3fA9").
std::string display_prefix(std::string_view secret);

// A key as the loops see it.
struct VirtualKey {
  std::string id;
  std::string name;
  std::vector<std::string> models;  // empty: every model
  std::string models_text;          // "a, b" for error messages
  limits::KeyLimits limits;
  std::optional<storage::Millis> expires_at;
  bool revoked = false;
  bool log_bodies = false;
  std::size_t metric_slot = 0;  // in base::key_slots(): its per-key metrics

  bool allows(std::string_view model) const;
};

class KeyTable {
 public:
  KeyTable() = default;
  explicit KeyTable(const std::vector<storage::KeyRecord>& records);

  // The key whose stored hash is `hash`, revoked and expired ones included (the caller says
  // which of those it is), or nullptr.
  const VirtualKey* find(const Digest& hash) const;
  const VirtualKey* by_id(std::string_view id) const;
  std::size_t size() const { return keys_.size(); }

 private:
  struct DigestHash {
    std::size_t operator()(const Digest& d) const;
  };
  std::unordered_map<Digest, VirtualKey, DigestHash> keys_;
  std::unordered_map<std::string, const VirtualKey*> by_id_;
};

}  // namespace shepherd::auth
