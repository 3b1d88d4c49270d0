// Small, stable numbers for names (virtual key ids): per-name counters become arrays indexed
// without a lookup on the hot path. Numbers are handed out off the hot path (when a key table is
// built) and never reused, so a number names the same key for the life of the process.
#pragma once

#include <cstddef>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace shepherd::base {

class SlotTable {
 public:
  // Names get 1..capacity; once those are taken, every further name gets overflow().
  explicit SlotTable(std::size_t capacity) : capacity_(capacity) { names_.emplace_back(); }

  std::size_t capacity() const { return capacity_; }
  std::size_t overflow() const { return capacity_ + 1; }

  // Thread-safe.
  std::size_t slot(std::string_view name) {
    std::lock_guard lock(mu_);
    if (auto it = slots_.find(std::string(name)); it != slots_.end()) return it->second;
    if (names_.size() > capacity_) return overflow();
    slots_.emplace(std::string(name), names_.size());
    names_.emplace_back(name);
    return names_.size() - 1;
  }
  // The name of `slot` ("" for 0 and overflow()). Thread-safe.
  std::string name(std::size_t slot) const {
    std::lock_guard lock(mu_);
    return slot < names_.size() ? names_[slot] : std::string();
  }

 private:
  const std::size_t capacity_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, std::size_t> slots_;
  std::vector<std::string> names_;  // by slot; [0] unused
};

// Virtual key ids, for the per-key metrics (observability/metrics.hpp).
inline SlotTable& key_slots() {
  static SlotTable table(4096);
  return table;
}

}  // namespace shepherd::base
