// The settings of governance's stores (docs/config.md "storage", "keys", "audit", "redis"). Part
// of the immutable Config (config.hpp).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

namespace shepherd::config {

using Millis = std::chrono::milliseconds;

// Where virtual keys and audit records are kept (docs/config.md "Storage").
struct StorageConfig {
  // "sqlite://PATH" (relative to base_dir), "sqlite::memory:", or a PostgreSQL URL (resolved
  // when given as env:/file:, since it may carry a password).
  std::string url = "sqlite://shepherd.db";
  // The config file's folder; the working directory for a config without a file.
  std::string base_dir;
};

// Virtual keys (docs/config.md "Keys, limits and budgets").
struct KeysConfig {
  // Resolved HMAC secret the stored keys are hashed under; empty: virtual keys are off.
  std::string secret;
  // How often each instance looks for key changes made elsewhere (another instance, the CLI).
  Millis refresh{500};
  // Completion tokens a budget reserves for a request that names no max_tokens.
  std::uint64_t reserve_completion_tokens = 4096;
};

// The audit log (docs/config.md "Audit log").
struct AuditConfig {
  bool enabled = true;
  bool bodies = false;                  // every request's bodies (keys may ask for theirs alone)
  Millis retention{30LL * 86'400'000};  // never below 24 h
  Millis flush_interval{200};           // what a kill -9 may lose at most
  std::size_t queue = 100'000;          // records waiting for the writer; beyond: dropped, counted
  std::string spool;  // records waiting for a store that is down; default beside the store
};

// Shared limits across instances (docs/config.md "Several instances").
struct RedisConfig {
  std::string url;  // empty: limits are counted in this process only
  Millis timeout{50};
};

}  // namespace shepherd::config
