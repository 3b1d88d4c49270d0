// The audit spool: a file of audit records, one JSON object per line (record_json.hpp), that
// holds what the store could not take while it was down, until the store works again.
//
// Appends are one write(2) of whole lines followed by fdatasync, on a descriptor opened
// O_APPEND|O_CLOEXEC with mode 0600 (records may hold request bodies). A crash in the middle of
// an append leaves at most one torn line at the end of the file; reading skips it, and the next
// append starts on a new line, so it never spoils a record written after it. An append that
// fails (a full disk) is cut back off the file.
//
// Not thread-safe: the audit writer uses it on its own thread only.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <span>
#include <string>

#include "base/result.hpp"
#include "storage/records.hpp"

namespace shepherd::storage {

class AuditSpool {
 public:
  // Nothing is opened or created until open() or append().
  explicit AuditSpool(std::string path);
  ~AuditSpool();
  AuditSpool(const AuditSpool&) = delete;
  AuditSpool& operator=(const AuditSpool&) = delete;

  const std::string& path() const { return path_; }

  // Opens the file if it exists and counts the records it holds (a file left by an earlier run).
  // A missing file is no error: the spool is empty. Errors: kInternal naming the system error.
  base::Status open();

  // Whole records in the file: those read by open(), plus those appended, until clear().
  std::uint64_t records() const { return records_; }
  bool empty() const { return records_ == 0 && bytes_ == 0; }

  // Appends `records` and waits for them to reach the disk; creates the file (and makes its
  // directory entry durable) the first time. On error the file holds what it held before, as
  // far as the system lets it be cut back. Errors: kInternal naming the system error.
  base::Status append(std::span<const AuditRecord> records);

  // What replay() found besides records.
  struct ReplayReport {
    std::uint64_t replayed = 0;    // records passed to the sink
    std::uint64_t unreadable = 0;  // whole lines that are not an audit record, skipped
    bool torn_tail = false;        // the file ended inside a line (a crash mid-append), skipped
  };
  using Sink = std::function<base::Status(std::span<const AuditRecord>)>;

  // Reads the file from the start and passes its records to `sink` in order, at most
  // `max_batch` at a time. Stops at the first error `sink` returns and returns it (the file is
  // left as it is). Errors also: kInternal when the file cannot be read.
  base::Status replay(std::size_t max_batch, const Sink& sink, ReplayReport& report);

  // Empties the file (after a successful replay). Errors: kInternal naming the system error.
  base::Status clear();

 private:
  // Calls `line` with each '\n'-terminated line of the first bytes_ of the file (without the
  // '\n'); returns whether they end inside a line. Stops at the first error `line` returns.
  base::Result<bool> for_each_line(const std::function<base::Status(std::string_view)>& line);
  base::Status create();
  // Re-reads the size and whether the file ends inside a line, after a failed append.
  void resync();

  std::string path_;
  int fd_ = -1;
  off_t bytes_ = 0;         // the file's size as last known
  bool ends_torn_ = false;  // the last byte is not '\n': the next append starts a new line
  bool resync_ = false;     // bytes_ and ends_torn_ are not known after a failed append
  std::uint64_t records_ = 0;
  std::string buffer_;  // the lines of one append; kept to reuse its capacity
};

}  // namespace shepherd::storage
