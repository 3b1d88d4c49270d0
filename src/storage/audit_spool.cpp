#include "storage/audit_spool.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cerrno>
#include <optional>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "storage/record_json.hpp"

namespace shepherd::storage {
namespace {

constexpr std::size_t kReadChunk = 64 * 1024;

base::Error system_error(const std::string& path, std::string_view what, int err) {
  std::string message = "audit spool ";
  message += path;
  message += ": ";
  message += what;
  message += ": ";
  message += std::generic_category().message(err);
  return base::make_error(base::ErrorCode::kInternal, std::move(message));
}

// The record on one line of the spool; nullopt when the line is not one (a torn write).
std::optional<AuditRecord> parse_line(std::string_view line) {
  boost::json::parse_options options;
  // to_json writes valid UTF-8 only; a spool written by another build may not, and a record
  // with a stray byte is still worth keeping.
  options.allow_invalid_utf8 = true;
  boost::system::error_code ec;
  boost::json::value value = boost::json::parse(line, ec, {}, options);
  if (ec) return std::nullopt;
  auto record = audit_from_json(value);
  if (!record) return std::nullopt;
  return std::move(record).value();
}

}  // namespace

AuditSpool::AuditSpool(std::string path) : path_(std::move(path)) {}

AuditSpool::~AuditSpool() {
  if (fd_ >= 0) ::close(fd_);
}

base::Status AuditSpool::open() {
  if (fd_ >= 0) return base::Ok{};
  fd_ = ::open(path_.c_str(), O_RDWR | O_APPEND | O_CLOEXEC);
  if (fd_ < 0) {
    if (errno == ENOENT) return base::Ok{};
    return system_error(path_, "cannot open", errno);
  }
  struct stat st {};
  if (::fstat(fd_, &st) != 0) return system_error(path_, "cannot stat", errno);
  bytes_ = st.st_size;
  std::uint64_t count = 0;
  auto torn = for_each_line([&](std::string_view line) -> base::Status {
    if (!line.empty() && parse_line(line)) ++count;
    return base::Ok{};
  });
  if (!torn) return std::move(torn).error();
  records_ = count;
  ends_torn_ = *torn;
  return base::Ok{};
}

base::Status AuditSpool::create() {
  fd_ = ::open(path_.c_str(), O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (fd_ < 0) return system_error(path_, "cannot create", errno);
  resync();
  // The new directory entry must survive a power cut as the records in the file do. Best
  // effort: a file system without directory fsync still has the file.
  const auto slash = path_.rfind('/');
  const std::string dir = slash == std::string::npos ? "." : path_.substr(0, slash + 1);
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return base::Ok{};
}

void AuditSpool::resync() {
  // Until known otherwise, assume a torn end: an extra '\n' makes only an empty line.
  ends_torn_ = true;
  resync_ = true;
  struct stat st {};
  if (::fstat(fd_, &st) != 0) return;
  bytes_ = st.st_size;
  if (bytes_ > 0) {
    char last = 0;
    if (::pread(fd_, &last, 1, bytes_ - 1) != 1) return;
    ends_torn_ = last != '\n';
  } else {
    ends_torn_ = false;
  }
  resync_ = false;
}

base::Status AuditSpool::append(std::span<const AuditRecord> records) {
  if (records.empty()) return base::Ok{};
  if (fd_ < 0) {
    if (auto created = create(); !created) return created;
  }
  if (resync_) resync();

  buffer_.clear();
  if (ends_torn_) buffer_ += '\n';
  for (const auto& record : records) {
    buffer_ += boost::json::serialize(to_json(record));
    buffer_ += '\n';
  }

  std::size_t done = 0;
  int err = 0;
  while (done < buffer_.size()) {
    const ssize_t n = ::write(fd_, buffer_.data() + done, buffer_.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      err = errno;
      break;
    }
    done += static_cast<std::size_t>(n);
  }
  if (err == 0 && ::fdatasync(fd_) != 0) err = errno;
  if (err != 0) {
    // Cut the partial lines back off, so that the file holds whole records only; when even
    // that fails, the next append finds out where the file ends.
    if (::ftruncate(fd_, bytes_) != 0) resync_ = true;
    return system_error(path_, done < buffer_.size() ? "cannot write" : "cannot sync", err);
  }
  bytes_ += static_cast<off_t>(buffer_.size());
  ends_torn_ = false;
  records_ += records.size();
  // A burst of large bodies must not pin its memory for the life of the process.
  if (buffer_.capacity() > 4 * 1024 * 1024) std::string().swap(buffer_);
  return base::Ok{};
}

base::Result<bool> AuditSpool::for_each_line(
    const std::function<base::Status(std::string_view)>& line) {
  std::vector<char> chunk(kReadChunk);
  std::string partial;  // a line that runs over the end of a chunk
  off_t offset = 0;
  // Up to the size known: a device that never ends (a test's /dev/full) reads as empty.
  while (offset < bytes_) {
    const auto want =
        std::min<std::size_t>(chunk.size(), static_cast<std::size_t>(bytes_ - offset));
    const ssize_t n = ::pread(fd_, chunk.data(), want, offset);
    if (n < 0) {
      if (errno == EINTR) continue;
      return system_error(path_, "cannot read", errno);
    }
    if (n == 0) break;
    offset += n;
    std::string_view rest(chunk.data(), static_cast<std::size_t>(n));
    for (auto nl = rest.find('\n'); nl != std::string_view::npos; nl = rest.find('\n')) {
      base::Status st = base::Ok{};
      if (partial.empty()) {
        st = line(rest.substr(0, nl));
      } else {
        partial.append(rest.substr(0, nl));
        st = line(partial);
        partial.clear();
      }
      if (!st) return std::move(st).error();
      rest.remove_prefix(nl + 1);
    }
    partial.append(rest);
  }
  return !partial.empty();
}

base::Status AuditSpool::replay(std::size_t max_batch, const Sink& sink, ReplayReport& report) {
  report = {};
  if (fd_ < 0) return base::Ok{};
  if (resync_) resync();
  if (max_batch == 0) max_batch = 1;
  std::vector<AuditRecord> batch;
  batch.reserve(std::min<std::size_t>(max_batch, 4096));
  const auto flush = [&]() -> base::Status {
    if (batch.empty()) return base::Ok{};
    base::Status st = sink(batch);
    if (st) report.replayed += batch.size();
    batch.clear();
    return st;
  };
  auto torn = for_each_line([&](std::string_view line) -> base::Status {
    if (line.empty()) return base::Ok{};
    auto record = parse_line(line);
    if (!record) {
      ++report.unreadable;
      return base::Ok{};
    }
    batch.push_back(std::move(*record));
    if (batch.size() >= max_batch) return flush();
    return base::Ok{};
  });
  if (!torn) return std::move(torn).error();
  report.torn_tail = *torn;
  return flush();
}

base::Status AuditSpool::clear() {
  if (fd_ < 0) return base::Ok{};
  if (::ftruncate(fd_, 0) != 0) {
    resync_ = true;
    return system_error(path_, "cannot truncate", errno);
  }
  bytes_ = 0;
  ends_torn_ = false;
  resync_ = false;
  records_ = 0;
  return base::Ok{};
}

}  // namespace shepherd::storage
