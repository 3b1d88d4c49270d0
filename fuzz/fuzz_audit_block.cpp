// The SQLite store's audit blocks (storage/sqlite/audit_block.hpp): whatever bytes a block row
// holds, reading never crashes or reads past them, and records that read back whole encode to a
// block that reads back whole, and then unchanged.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "storage/sqlite/audit_block.hpp"

using shepherd::storage::AuditRecord;
using shepherd::storage::sqlite::AuditBlockReader;

namespace {

std::vector<AuditRecord> read_all(std::string_view data, bool& ok) {
  AuditBlockReader reader(data);
  std::vector<AuditRecord> out;
  AuditRecord r;
  while (reader.next(r)) out.push_back(r);
  ok = reader.ok() && static_cast<std::int64_t>(out.size()) == reader.size();
  return out;
}

}  // namespace

// Encodes `records` and reads them back; aborts if the block does not read back whole.
std::vector<AuditRecord> round_trip(const std::vector<AuditRecord>& records) {
  std::string block;
  shepherd::storage::sqlite::BlockBounds bounds;
  shepherd::storage::sqlite::encode_audit_block(records, block, bounds);
  bool ok = false;
  auto back = read_all(block, ok);
  if (!ok || back.size() != records.size() ||
      bounds.records != static_cast<std::int64_t>(back.size())) {
    std::abort();
  }
  return back;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  bool ok = false;
  const auto records = read_all(std::string_view(reinterpret_cast<const char*>(data), size), ok);
  if (!ok || records.empty()) return 0;
  // Encoding cleans text (bytes that are not UTF-8 become U+FFFD), so the first round trip may
  // change what an arbitrary block held; a second one must change nothing.
  const auto once = round_trip(records);
  const auto twice = round_trip(once);
  for (std::size_t i = 0; i < once.size(); ++i) {
    const auto& a = once[i];
    const auto& b = twice[i];
    if (a.request_id != b.request_id || a.time != b.time || a.key_id != b.key_id ||
        a.model != b.model || a.deployment != b.deployment || a.status != b.status ||
        a.prompt_tokens != b.prompt_tokens || a.latency_us != b.latency_us ||
        a.ttft_us != b.ttft_us || a.request_body != b.request_body ||
        a.client_request_id != b.client_request_id) {
      std::abort();
    }
  }
  return 0;
}
