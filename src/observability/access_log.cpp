#include "observability/access_log.hpp"

#include <unistd.h>

#include <cerrno>

namespace shepherd::observability {

namespace {

// Writes all of `text` to `fd`, retrying interrupted and partial writes; drops it on an error
// (a closed stderr must not stop the writer).
void write_all(int fd, const std::string& text) {
  std::size_t done = 0;
  while (done < text.size()) {
    const auto n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    done += static_cast<std::size_t>(n);
  }
}

}  // namespace

AccessLog::AccessLog(int threads, int fd)
    : fd_(fd), buffers_(static_cast<std::size_t>(threads)), writer_([this] { run(); }) {}

AccessLog::~AccessLog() { stop(); }

void AccessLog::flush(int thread) {
  auto& b = buffers_[static_cast<std::size_t>(thread)].lines;
  if (b.empty()) return;
  {
    std::lock_guard lock(mu_);
    // A writer stuck on a blocked stderr must not make the log grow without bound: past
    // kMaxPending buffers (about a minute of sweeps) new lines are dropped.
    if (pending_.size() < kMaxPending) pending_.push_back(std::move(b));
  }
  b = std::string();
  b.reserve(16 * 1024);  // the next sweep's lines, without regrowing from empty
  wake_.notify_one();
}

void AccessLog::stop() {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    for (auto& b : buffers_) {
      if (!b.lines.empty()) pending_.push_back(std::move(b.lines));
    }
    stopping_ = true;
  }
  wake_.notify_one();
  writer_.join();
}

void AccessLog::run() {
  std::vector<std::string> batch;
  for (;;) {
    bool last = false;
    {
      std::unique_lock lock(mu_);
      wake_.wait(lock, [this] { return stopping_ || !pending_.empty(); });
      batch.swap(pending_);
      last = stopping_;
    }
    for (const auto& lines : batch) write_all(fd_, lines);
    batch.clear();
    if (last) {
      std::lock_guard lock(mu_);
      if (pending_.empty()) return;
    }
  }
}

}  // namespace shepherd::observability
