// Changes to virtual keys, as the admin API and the `shepherd keys` command make them: blocking
// calls on a Store (a store thread, or the CLI's own connection).
#pragma once

#include <optional>
#include <string>
#include <utility>

#include "auth/virtual_keys.hpp"
#include "base/result.hpp"
#include "storage/store.hpp"

namespace shepherd::governance {

struct CreatedKey {
  storage::KeyRecord key;
  std::string secret;  // shown once, to whoever created the key
};

// A new key with `changes` applied, stored under `hasher`'s HMAC of a fresh secret.
base::Result<CreatedKey> create_key(storage::Store& store, const auth::KeyHasher& hasher,
                                    const storage::KeyChanges& changes);
// The key `id` with `changes` applied, or revoked when `changes` is absent (revoking twice keeps
// the first time). kNotFound when there is no such key.
base::Result<storage::KeyRecord> change_key(storage::Store& store, const std::string& id,
                                            const std::optional<storage::KeyChanges>& changes);
// The key `id`; kNotFound when there is none.
base::Result<storage::KeyRecord> find_key(storage::Store& store, const std::string& id);
// What the current budget period of `key` has spent, per the store (nullopt: no budget).
std::optional<double> period_spend(storage::Store& store, const storage::KeyRecord& key);

}  // namespace shepherd::governance
