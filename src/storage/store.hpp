// The durable store: SQLite (the default, a file beside the config) or PostgreSQL (when
// storage.url is postgres://...). One schema for both, created and upgraded by versioned
// migrations when a store is opened; every statement is prepared, and every value a client or
// an admin gives reaches SQL as a bound parameter, never as SQL text.
//
// A Store is one connection. It blocks, so it is only ever used on a store thread (the audit
// writer's, or the query thread behind the admin API), never on an event loop; it is not safe
// to share between threads: open one per thread.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "base/result.hpp"
#include "storage/records.hpp"

namespace shepherd::storage {

class Store {
 public:
  virtual ~Store() = default;

  // "sqlite" or "postgres".
  virtual const char* backend() const = 0;
  // The schema version after migrations (the number of the last migration applied).
  virtual int schema_version() = 0;

  // --- Virtual keys. Every change also advances keys_version() in the same transaction.

  // kConflict when the id (or the hash) exists already.
  virtual base::Status insert_key(const KeyRecord& key) = 0;
  // Replaces every field of the key with `key.id`; kNotFound when there is none.
  virtual base::Status update_key(const KeyRecord& key) = 0;
  virtual base::Result<std::optional<KeyRecord>> find_key(const std::string& id) = 0;
  // Every key, revoked ones included, oldest first.
  virtual base::Result<std::vector<KeyRecord>> keys() = 0;
  // A number that changes whenever any key changes (for cheap polling by other instances).
  virtual base::Result<std::int64_t> keys_version() = 0;

  // --- Audit records.

  // Whether records given to append() may be stored already.
  enum class Stored {
    kMaybe,  // some may be (a replayed spool): each is looked up, and repeats are skipped
    kNone,   // the caller vouches that none is, nor repeats in the batch (the audit writer's
             // live batches: each request's record is submitted once); nothing is looked up
  };
  // Writes `records` in one transaction: all or none. With Stored::kMaybe a record whose
  // request_id is stored already, or earlier in the batch, is skipped (a replayed spool writes
  // nothing twice). Only records written count towards key_spend(). Returns how many were written.
  virtual base::Result<std::int64_t> append(std::span<const AuditRecord> records,
                                            Stored stored) = 0;
  base::Result<std::int64_t> append(std::span<const AuditRecord> records) {
    return append(records, Stored::kMaybe);
  }
  // Newest first, at most filter.limit.
  virtual base::Result<std::vector<AuditRecord>> requests(const AuditFilter& filter) = 0;
  // Totals per group over [since, until), ordered by cost descending (kDay: by day ascending).
  virtual base::Result<std::vector<SpendRow>> spend(SpendBy by, std::optional<Millis> since,
                                                    std::optional<Millis> until) = 0;
  // What `key_id` has spent on requests since `since` (the start of a budget period; a day
  // boundary in UTC, or 0 for all time). Kept per key and day apart from the audit records, so
  // the audit retention never shortens a budget's memory.
  virtual base::Result<double> key_spend(const std::string& key_id, Millis since) = 0;
  // Deletes audit records older than `before`; returns how many went.
  virtual base::Result<std::int64_t> prune(Millis before) = 0;
};

// Opens (creating it if needed) and migrates the store at `url`: "sqlite://PATH" (relative paths
// are relative to `base_dir`, the config file's folder), "sqlite::memory:" for tests, or a
// PostgreSQL connection URI ("postgres://user:pass@host:port/db?..." or "postgresql://...").
// Errors name the problem without the URL's password.
base::Result<std::unique_ptr<Store>> open_store(const std::string& url,
                                                const std::string& base_dir = {});

// `url` with any password replaced by "***", for logs and errors.
std::string redact_url(const std::string& url);

}  // namespace shepherd::storage
