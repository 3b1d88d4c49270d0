// How the SQLite store keeps audit records: many records to a row, each row a block of records in
// a compact binary form, so that appending a batch costs one row insert and a copy of bytes rather
// than a B-tree insert of a 24-column row per record (about 2 µs each; docs/decisions/
// audit-blocks.md). Pure: no I/O.
//
// A block is written once and read many times. Its encoding: the byte 'B', a format version, the
// record count, then each record. Within a record, integers are LEB128 varints (zig-zag for
// signed ones), times are deltas from the previous record's, costs are 8 bytes each, and a short
// text field the previous record had too (key, model, deployment, provider, error class, client
// address, dialect) is one byte: steady traffic repeats them.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "base/result.hpp"
#include "storage/records.hpp"

namespace shepherd::storage::sqlite {

// What a block's row keeps beside its bytes, so that queries pick blocks without reading them.
struct BlockBounds {
  std::string first_id;  // the smallest request id in the block
  std::string last_id;   // the largest
  Millis min_time = 0;   // the earliest arrival
  Millis max_time = 0;   // the latest
  std::int64_t records = 0;
};

// Appends the block of `records` (at least one) to `out`, and sets `bounds`. Text is stored as
// sql::clean_text() leaves it and numbers that are not finite as 0, as the SQL backends store
// them.
void encode_audit_block(std::span<const AuditRecord> records, std::string& out,
                        BlockBounds& bounds);

// Reads a block's records in order. `data` must outlive the reader.
class AuditBlockReader {
 public:
  explicit AuditBlockReader(std::string_view data);

  // Reads the next record into `record` (reusing its strings' storage); false at the end or when
  // the block is malformed (then ok() is false).
  bool next(AuditRecord& record);
  bool ok() const { return ok_; }
  // The record count the block declares (0 when it is malformed).
  std::int64_t size() const { return count_; }

  // Key, model, deployment, provider, error class, client address and dialect.
  static constexpr std::size_t kRepeatedFields = 7;

 private:
  bool fail();
  bool varint(std::uint64_t& v);
  bool signed_varint(std::int64_t& v);
  bool text(std::string& out);
  bool repeated_text(std::string& out);
  bool real(double& v);

  std::string_view data_;
  std::size_t pos_ = 0;
  std::int64_t count_ = 0;
  std::int64_t read_ = 0;
  Millis time_ = 0;
  std::array<std::string, kRepeatedFields> previous_;
  bool ok_ = true;
};

}  // namespace shepherd::storage::sqlite
