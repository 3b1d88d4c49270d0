#include "storage/audit_writer.hpp"

#include <pthread.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <stdexcept>
#include <utility>

#include "storage/audit_spool.hpp"

namespace shepherd::storage {
namespace {

using SteadyClock = std::chrono::steady_clock;

Millis system_now() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// An error for the log: the message, and the detail when there is one.
std::string describe(const base::Error& error) {
  if (error.detail.empty()) return error.message;
  return error.message + " (" + error.detail + ")";
}

}  // namespace

AuditWriter::AuditWriter(AuditWriterOptions options) : options_(std::move(options)) {
  if (!options_.open_store) throw std::invalid_argument("AuditWriter: open_store is required");
  if (options_.queue_capacity == 0 || options_.max_batch == 0 ||
      options_.flush_interval.count() <= 0 || options_.reopen_backoff.count() <= 0) {
    throw std::invalid_argument("AuditWriter: sizes and intervals must be positive");
  }
  options_.reopen_backoff_max = std::max(options_.reopen_backoff_max, options_.reopen_backoff);
  if (!options_.wall_clock) options_.wall_clock = system_now;
  backoff_ = options_.reopen_backoff;
  queue_.reserve(std::min(options_.queue_capacity, options_.max_batch));
  // Read here, so that stats() counts a spool left by an earlier run from the start.
  if (!options_.spool_path.empty()) {
    spool_ = std::make_unique<AuditSpool>(options_.spool_path);
    if (auto opened = spool_->open(); !opened) {
      spdlog::error("audit spool: {}", describe(opened.error()));
    } else if (spool_->records() > 0) {
      spdlog::info("audit spool {} holds {} records from an earlier run", spool_->path(),
                   spool_->records());
    }
    spooled_.store(spool_->records(), std::memory_order_relaxed);
  }
  thread_ = std::thread([this] { run(); });
}

AuditWriter::~AuditWriter() { stop(); }

bool AuditWriter::submit(AuditRecord&& record) {
  bool full_batch = false;
  {
    std::lock_guard lock(mutex_);
    if (stopping_) {
      dropped_other_.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
    if (queued_ >= options_.queue_capacity) {
      dropped_queue_.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
    if (queued_ < queue_.size()) {
      queue_[queued_] = std::move(record);
    } else {
      queue_.push_back(std::move(record));
    }
    ++queued_;
    depth_.store(queued_, std::memory_order_relaxed);
    // Wake the writer once, when the queue reaches a batch; it takes everything when it wakes,
    // and checks again before it waits, so a wake-up missed while it writes costs nothing.
    full_batch = queued_ == options_.max_batch;
  }
  if (full_batch) wake_.notify_one();
  return true;
}

void AuditWriter::stop() {
  std::lock_guard stop_lock(stop_mutex_);
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

AuditWriterStats AuditWriter::stats() const {
  AuditWriterStats s;
  s.queue_depth = depth_.load(std::memory_order_relaxed);
  s.written_total = written_.load(std::memory_order_relaxed);
  s.dropped_total = dropped_queue_.load(std::memory_order_relaxed) +
                    dropped_other_.load(std::memory_order_relaxed);
  s.spooled = spooled_.load(std::memory_order_relaxed);
  s.store_errors_total = store_errors_.load(std::memory_order_relaxed);
  s.store_failing = store_failing_.load(std::memory_order_relaxed);
  return s;
}

void AuditWriter::run() {
  pthread_setname_np(pthread_self(), "audit-writer");
  ensure_store(false);
  prune_if_due();

  std::vector<AuditRecord> batch;
  std::size_t taken = 0;
  auto next = SteadyClock::now() + options_.flush_interval;
  for (;;) {
    const bool stopping = take(next, batch, taken);
    // Woken by a full batch, the deadline stays: records that arrive meanwhile still wait one
    // interval at most. Woken by the deadline, the next one is an interval after this take.
    if (const auto now = SteadyClock::now(); now >= next) next = now + options_.flush_interval;
    note_drops();
    ensure_store(stopping);
    write(std::span(batch).first(taken));
    // Kept for submit() to reuse, up to a few batches: a backlog's records are freed here, and
    // so are bodies (up to a MiB each when audited), which no record should hold while it waits.
    if (batch.size() > 4 * options_.max_batch) batch.resize(4 * options_.max_batch);
    for (auto& r : std::span(batch).first(std::min(taken, batch.size()))) {
      r.request_body.reset();
      r.response_body.reset();
    }
    prune_if_due();
    if (stopping) break;
  }
  // Closed on the thread that used it, as Store requires.
  store_.reset();
}

bool AuditWriter::take(SteadyClock::time_point deadline, std::vector<AuditRecord>& batch,
                       std::size_t& taken) {
  std::unique_lock lock(mutex_);
  wake_.wait_until(lock, deadline, [&] { return stopping_ || queued_ >= options_.max_batch; });
  // The queue gets the records written last, and their storage: after the first batches,
  // submit() neither reallocates nor frees another thread's strings.
  batch.swap(queue_);
  taken = queued_;
  queued_ = 0;
  depth_.store(0, std::memory_order_relaxed);
  // Once stopping_ is seen here, submit() refuses everything: this take is the last.
  return stopping_;
}

void AuditWriter::write(std::span<const AuditRecord> all) {
  for (std::size_t i = 0; i < all.size();) {
    const auto chunk = all.subspan(i, std::min(options_.max_batch, all.size() - i));
    i += chunk.size();
    // Each request's record is submitted once, so a live batch holds nothing stored already.
    if (!store_ || !append(chunk, Store::Stored::kNone, "append failed")) spool(chunk);
  }
}

bool AuditWriter::append(std::span<const AuditRecord> records, Store::Stored stored,
                         const char* what) {
  const auto count = [this](std::int64_t written) {
    written_.fetch_add(static_cast<std::uint64_t>(written), std::memory_order_relaxed);
  };
  auto appended = store_->append(records, stored);
  if (appended) {
    count(*appended);
    return true;
  }
  // kUnavailable: the store is down, busy or full. Any other error may be one record the store
  // will never take; left in the batch, it would hold every later record in the spool for good.
  if (appended.error().code == base::ErrorCode::kUnavailable || records.size() == 1) {
    store_failed(appended.error(), what);
    return false;
  }
  std::size_t taken = 0, refused = 0;
  const AuditRecord* first_refused = nullptr;
  base::Error refusal;
  for (std::size_t i = 0; i < records.size(); ++i) {
    auto one = store_->append(records.subspan(i, 1), stored);
    if (one) {
      count(*one);
      ++taken;
    } else if (one.error().code == base::ErrorCode::kUnavailable) {
      // The records taken alone are spooled too; the replay skips them by request id.
      store_failed(one.error(), what);
      return false;
    } else if (refused++ == 0) {
      first_refused = &records[i];
      refusal = std::move(one).error();
    }
  }
  if (taken == 0) {
    // Not one record goes in: the store, not the data, is broken.
    store_failed(appended.error(), what);
    return false;
  }
  dropped_other_.fetch_add(refused, std::memory_order_relaxed);
  if (refused > 0) {
    spdlog::error("audit store refused {} of {} records, dropped (the first, request {}): {}",
                  refused, records.size(), first_refused->request_id, describe(refusal));
  }
  return true;
}

void AuditWriter::spool(std::span<const AuditRecord> records) {
  if (!spool_) {
    dropped_other_.fetch_add(records.size(), std::memory_order_relaxed);
    if (!spool_failing_) {
      spdlog::error("audit records are dropped while the store is failing: no spool file is set");
      spool_failing_ = true;
    }
    return;
  }
  if (auto appended = spool_->append(records); !appended) {
    dropped_other_.fetch_add(records.size(), std::memory_order_relaxed);
    if (!spool_failing_) {
      spdlog::error("audit records are dropped until the spool can be written: {}",
                    describe(appended.error()));
      spool_failing_ = true;
    }
  } else if (spool_failing_) {
    spdlog::info("audit spool {} written again", spool_->path());
    spool_failing_ = false;
  }
  spooled_.store(spool_->records(), std::memory_order_relaxed);
}

void AuditWriter::ensure_store(bool stopping) {
  if (store_) return;
  const auto now = SteadyClock::now();
  // When stopping, a store that failed is not tried again: opening may block for as long as a
  // connect timeout, and the spool keeps the records for the next start.
  if (now < reopen_at_ || (stopping && store_failing_.load(std::memory_order_relaxed))) return;
  auto opened = options_.open_store();
  if (!opened) {
    store_failed(opened.error(), "cannot be opened");
    return;
  }
  store_ = std::move(opened).value();
  if (!store_) {
    store_failed(base::make_error(base::ErrorCode::kInternal, "the opener returned no store"),
                 "cannot be opened");
    return;
  }
  replay_spool();
  if (!store_) return;
  backoff_ = options_.reopen_backoff;
  if (store_failing_.exchange(false, std::memory_order_relaxed)) {
    spdlog::info("audit store works again");
  }
  failing_logged_ = false;
}

void AuditWriter::replay_spool() {
  if (!spool_ || spool_->empty()) return;
  const auto sink = [&](std::span<const AuditRecord> records) -> base::Status {
    // A spool may hold records stored already (those that went in before a crash).
    if (append(records, Store::Stored::kMaybe, "append failed while replaying the spool")) {
      return base::Ok{};
    }
    // append() has closed the store; this only stops the replay.
    return base::make_error(base::ErrorCode::kUnavailable, "the audit store failed");
  };
  AuditSpool::ReplayReport report;
  if (auto replayed = spool_->replay(options_.max_batch, sink, report); !replayed) {
    // What went in stays in the spool too; the next replay skips it by request id.
    if (store_) spdlog::error("audit spool replay stopped: {}", describe(replayed.error()));
    return;
  }
  if (auto cleared = spool_->clear(); !cleared) {
    // The records are stored; replaying them again later writes nothing twice.
    spdlog::error("audit spool replayed but not emptied: {}", describe(cleared.error()));
  }
  spooled_.store(spool_->records(), std::memory_order_relaxed);
  spdlog::info("audit spool replayed: {} records{}{}", report.replayed,
               report.unreadable > 0
                   ? fmt::format(", {} unreadable lines skipped", report.unreadable)
                   : std::string(),
               report.torn_tail ? ", a torn last line skipped" : "");
}

void AuditWriter::store_failed(const base::Error& error, const char* what) {
  store_errors_.fetch_add(1, std::memory_order_relaxed);
  store_.reset();
  store_failing_.store(true, std::memory_order_relaxed);
  reopen_at_ = SteadyClock::now() + backoff_;
  backoff_ = std::min(backoff_ * 2, options_.reopen_backoff_max);
  if (failing_logged_) {
    spdlog::debug("audit store {}: {}", what, describe(error));
    return;
  }
  failing_logged_ = true;
  spdlog::error(
      "audit store {}: {}; {} until it works again", what, describe(error),
      spool_ ? "records go to the spool " + spool_->path() : std::string("records are dropped"));
}

void AuditWriter::prune_if_due() {
  if (!store_ || options_.retention.count() <= 0) return;
  const auto now = SteadyClock::now();
  if (now < prune_at_) return;
  prune_at_ = now + options_.prune_interval;
  const Millis before = options_.wall_clock() - options_.retention.count();
  auto pruned = store_->prune(before);
  if (!pruned) {
    store_errors_.fetch_add(1, std::memory_order_relaxed);
    spdlog::warn("audit records could not be pruned: {}", describe(pruned.error()));
  } else if (*pruned > 0) {
    spdlog::info("pruned {} audit records past the retention", *pruned);
  }
}

void AuditWriter::note_drops() {
  const std::uint64_t dropped = dropped_queue_.load(std::memory_order_relaxed);
  if (dropped != drops_seen_) {
    if (!overflowing_) {
      spdlog::warn("audit queue full ({} records): new records are dropped",
                   options_.queue_capacity);
      overflowing_ = true;
    }
  } else if (overflowing_) {
    spdlog::info("audit queue no longer full; {} records dropped in all", dropped);
    overflowing_ = false;
  }
  drops_seen_ = dropped;
}

}  // namespace shepherd::storage
