// The audit writer: takes the AuditRecord of every request from the event loops, which must
// never wait for a disk or a database, and writes the records to the durable Store from a thread
// of its own, in batches of one transaction each.
//
// Durability. The writer thread takes everything queued every flush interval, or as soon as a
// full batch is waiting, and appends it. A record submitted more than one flush interval (plus
// the time one commit takes) before a crash is in the store or in the spool; a `kill -9` loses
// at most the records of the last flush interval and never corrupts the store (given a store
// whose commits survive a crash of the process, as SQLite's and PostgreSQL's do). stop() writes
// everything queued, so a graceful stop loses nothing accepted.
//
// When the store fails (an append error, or no store can be opened), the writer closes it,
// writes each batch to the spool file instead (audit_spool.hpp), and opens the store again after
// a backoff (100 ms, doubling up to 5 s). Once a store opens, the spool is replayed into it and
// emptied; a spool left by an earlier run is replayed the same way at start. Store::append skips
// request ids it holds already, so a replay never writes a record twice. When the spool cannot
// be written either (a full disk), those records are dropped and counted.
//
// Audit records older than the retention are pruned through Store::prune once the store first
// opens, then every prune interval.
//
// Logs (spdlog): the store's error when it starts failing and a line when it works again, the
// first spool failure and the first queue overflow of each incident; never one line per record
// or batch.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "base/result.hpp"
#include "storage/records.hpp"
#include "storage/store.hpp"

namespace shepherd::storage {

class AuditSpool;

struct AuditWriterOptions {
  using Opener = std::function<base::Result<std::unique_ptr<Store>>()>;

  // Opens the store; required. Called on the writer thread only: when it starts, and again
  // after a store error, once the backoff has passed. The store it returns is used on that
  // thread only and closed there.
  Opener open_store;
  // Records waiting to be taken by the writer thread; submit() refuses more.
  std::size_t queue_capacity = 100'000;
  // How often the writer thread takes what is queued: the most a `kill -9` may lose.
  std::chrono::milliseconds flush_interval{200};
  // Records per Store::append (one transaction).
  std::size_t max_batch = 512;
  // The spool file (created when first needed, e.g. beside the SQLite file). Empty: no spool;
  // records the store cannot take are dropped and counted.
  std::string spool_path;
  // Audit records older than this are pruned; zero keeps them forever.
  std::chrono::milliseconds retention = std::chrono::hours(24 * 30);
  std::chrono::milliseconds prune_interval = std::chrono::hours(1);
  // The wait before the store is opened again after an error, doubling after each failed
  // attempt up to reopen_backoff_max.
  std::chrono::milliseconds reopen_backoff{100};
  std::chrono::milliseconds reopen_backoff_max{5000};
  // Now, as Unix milliseconds, for the retention cut-off; empty: the system clock.
  std::function<Millis()> wall_clock;
};

// For /metrics. Each value is read on its own (not a snapshot of all of them at one instant).
struct AuditWriterStats {
  std::uint64_t queue_depth = 0;         // records submitted and not yet taken by the writer
  std::uint64_t written_total = 0;       // records the store took (a replayed one only once)
  std::uint64_t dropped_total = 0;       // lost: queue full, after stop(), spool failed, refused
  std::uint64_t spooled = 0;             // records in the spool file, waiting for the store
  std::uint64_t store_errors_total = 0;  // failed opens, appends and prunes
  bool store_failing = false;            // no working store at the moment
};

class AuditWriter {
 public:
  // Reads the spool left by an earlier run, if any, and starts the writer thread, which opens the
  // store and replays that spool.
  // Throws std::invalid_argument when open_store is empty or a size or an interval is not
  // positive (a start-up bug).
  explicit AuditWriter(AuditWriterOptions options);
  // stop().
  ~AuditWriter();
  AuditWriter(const AuditWriter&) = delete;
  AuditWriter& operator=(const AuditWriter&) = delete;

  // Queues `record` for writing. Any thread; never waits for I/O: it holds a mutex for one
  // move, and the writer thread holds it only to swap the queue for the batch it has written.
  // Returns false, counting the record as dropped, when the queue is full or stop() was called.
  bool submit(AuditRecord&& record);

  // Writes everything queued (to the store, else to the spool) and joins the writer thread.
  // Called once the event loops have drained (SIGTERM), and by the destructor; later calls and
  // concurrent calls return when the first one has finished. Never from the opener (it runs on
  // the writer thread, which stop() joins).
  void stop();

  // Any thread.
  AuditWriterStats stats() const;

 private:
  void run();
  // Swaps the queue for `batch` (the records written last) and sets `taken` to how many of its
  // first records are new; waits first, until `deadline` or a full batch, unless stopping.
  // Returns whether stop() was called.
  bool take(std::chrono::steady_clock::time_point deadline, std::vector<AuditRecord>& batch,
            std::size_t& taken);
  void write(std::span<const AuditRecord> all);
  // Appends `records` to the open store; false when the store failed (and was closed). A batch
  // refused with an error other than kUnavailable is tried one record at a time: the records
  // the store refuses alone while it takes others are dropped and counted; when it takes none,
  // the store is failing.
  bool append(std::span<const AuditRecord> records, Store::Stored stored, const char* what);
  void spool(std::span<const AuditRecord> records);
  // Opens the store when none is open and the backoff has passed; then replays the spool.
  void ensure_store(bool stopping);
  void replay_spool();
  void store_failed(const base::Error& error, const char* what);
  void prune_if_due();
  void note_drops();

  AuditWriterOptions options_;

  // Shared with submit().
  std::mutex mutex_;
  std::condition_variable wake_;
  // The first queued_ records are queued. The rest are records written earlier, kept so that
  // submit() moves each new record into one: their strings are freed by the thread that made
  // them, not the writer (a free from another thread misses the allocator's thread cache and
  // takes its arena's lock, on both threads: docs/benchmarks.md, "Governance's cost").
  std::vector<AuditRecord> queue_;
  std::size_t queued_ = 0;
  bool stopping_ = false;

  // Writer thread only.
  std::unique_ptr<Store> store_;
  std::unique_ptr<AuditSpool> spool_;
  std::chrono::steady_clock::time_point reopen_at_{};
  std::chrono::milliseconds backoff_{};
  std::chrono::steady_clock::time_point prune_at_{};
  bool failing_logged_ = false;
  bool spool_failing_ = false;
  std::uint64_t drops_seen_ = 0;  // dropped_queue_ when last looked: new drops, a new incident
  bool overflowing_ = false;

  std::atomic<std::uint64_t> depth_{0};
  std::atomic<std::uint64_t> written_{0};
  std::atomic<std::uint64_t> dropped_queue_{0};
  std::atomic<std::uint64_t> dropped_other_{0};
  std::atomic<std::uint64_t> spooled_{0};
  std::atomic<std::uint64_t> store_errors_{0};
  std::atomic<bool> store_failing_{false};

  std::mutex stop_mutex_;  // serialises stop()
  std::thread thread_;     // last: starts once everything above is built
};

}  // namespace shepherd::storage
