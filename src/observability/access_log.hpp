// The access log: one line per request (docs/config.md "log"). Event loops write finished lines
// to a buffer of their own (no lock, no system call); every sweep (50 ms) a loop hands its buffer
// to the writer thread, which writes whole lines to stderr. A loop never waits on a terminal, a
// pipe or journald, and a line appears within about 50 ms of its request's end.
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace shepherd::observability {

class AccessLog {
 public:
  // `fd`: where lines go (2: stderr).
  explicit AccessLog(int threads, int fd = 2);
  ~AccessLog();  // stop()
  AccessLog(const AccessLog&) = delete;
  AccessLog& operator=(const AccessLog&) = delete;

  // On loop `thread` only: its buffer, for writing whole lines (newline included) in place.
  std::string& buffer(int thread) { return buffers_[static_cast<std::size_t>(thread)].lines; }
  // On loop `thread` only: hands what it appended to the writer.
  void flush(int thread);
  // Writes every line handed over and ends the writer; the loops must have stopped (their
  // buffers are flushed here). Idempotent.
  void stop();

 private:
  void run();
  static constexpr std::size_t kMaxPending = 1024;

  const int fd_;
  // Padded so that two loops' buffers never share a cache line.
  struct alignas(64) Buffer {
    std::string lines;
  };
  std::vector<Buffer> buffers_;
  std::mutex mu_;
  std::condition_variable wake_;
  std::vector<std::string> pending_;
  bool stopping_ = false;
  std::thread writer_;
};

}  // namespace shepherd::observability
