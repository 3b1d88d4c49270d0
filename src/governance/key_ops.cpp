#include "governance/key_ops.hpp"

#include "base/clock.hpp"
#include "base/text.hpp"
#include "limits/limiter.hpp"

namespace shepherd::governance {

base::Result<CreatedKey> create_key(storage::Store& store, const auth::KeyHasher& hasher,
                                    const storage::KeyChanges& changes) {
  CreatedKey out;
  out.secret = auth::new_key_secret();
  auto& key = out.key;
  key.id = auth::new_key_id();
  key.prefix = auth::display_prefix(out.secret);
  key.hash = hasher.hash(out.secret);
  key.created_at = key.updated_at = base::unix_ms();
  changes.apply(key);
  if (auto s = store.insert_key(key); !s) return std::move(s).error();
  return out;
}

base::Result<storage::KeyRecord> find_key(storage::Store& store, const std::string& id) {
  auto found = store.find_key(id);
  if (!found) return std::move(found).error();
  if (!*found) {
    return base::make_error(base::ErrorCode::kNotFound,
                            "no key '" + base::utf8_safe(id) + "'; GET /admin/keys lists them");
  }
  return std::move(**found);
}

base::Result<storage::KeyRecord> change_key(storage::Store& store, const std::string& id,
                                            const std::optional<storage::KeyChanges>& changes) {
  auto key = find_key(store, id);
  if (!key) return key;
  const auto now = base::unix_ms();
  if (changes) {
    changes->apply(*key);
  } else if (!key->revoked_at) {
    key->revoked_at = now;
  }
  key->updated_at = now;
  if (auto s = store.update_key(*key); !s) return std::move(s).error();
  return key;
}

std::optional<double> period_spend(storage::Store& store, const storage::KeyRecord& key) {
  if (!key.budget) return std::nullopt;
  auto spent = store.key_spend(key.id, limits::period_start(key.budget->period, base::unix_ms()));
  if (!spent) return std::nullopt;
  return *spent;
}

}  // namespace shepherd::governance
