#include "storage/sqlite/audit_block.hpp"

#include <algorithm>
#include <array>
#include <cstring>

#include "storage/sql_common.hpp"

namespace shepherd::storage::sqlite {

namespace {

constexpr char kMagic = 'B';
constexpr std::uint8_t kFormat = 1;

enum Flag : std::uint8_t {
  kUsageEstimated = 1,
  kStreamed = 2,
  kTtft = 4,
  kRequestBody = 8,
  kResponseBody = 16,
  kClientRequestId = 32,
};

// The short text fields that repeat from record to record, in their order in a record.
constexpr std::size_t kRepeated = AuditBlockReader::kRepeatedFields;
using Repeated = std::array<const std::string*, kRepeated>;
Repeated repeated_fields(const AuditRecord& r) {
  return {&r.key_id,      &r.model,          &r.deployment, &r.provider,
          &r.error_class, &r.client_address, &r.dialect};
}
std::array<std::string*, kRepeated> repeated_fields(AuditRecord& r) {
  return {&r.key_id,      &r.model,          &r.deployment, &r.provider,
          &r.error_class, &r.client_address, &r.dialect};
}

// Writes a block straight into room made at the end of the output (a byte-at-a-time append
// costs a capacity check per byte; the audit writer encodes every record it stores).
class Writer {
 public:
  explicit Writer(std::string& out) : out_(out) {}
  ~Writer() { out_.resize(at_); }

  // Makes room for `n` more bytes.
  void reserve(std::size_t n) {
    if (out_.size() - at_ >= n) return;
    out_.resize(std::max(at_ + n, out_.size() * 2));
  }
  // Room for a record: fixed fields, and texts that cleaning may triple (each byte replaced).
  void reserve_record(const AuditRecord& r) {
    std::size_t text = r.request_id.size() + r.key_id.size() + r.model.size() +
                       r.deployment.size() + r.provider.size() + r.error_class.size() +
                       r.client_address.size() + r.dialect.size();
    for (const auto* o : {&r.request_body, &r.response_body, &r.client_request_id}) {
      if (*o) text += (*o)->size();
    }
    reserve(3 * text + 256);
  }

  void byte(std::uint8_t b) { out_[at_++] = static_cast<char>(b); }
  void varint(std::uint64_t v) {
    while (v >= 0x80) {
      byte(static_cast<std::uint8_t>(v | 0x80));
      v >>= 7;
    }
    byte(static_cast<std::uint8_t>(v));
  }
  void signed_varint(std::int64_t v) {
    // Zig-zag: small magnitudes of either sign stay short.
    varint((static_cast<std::uint64_t>(v) << 1) ^ static_cast<std::uint64_t>(v >> 63));
  }
  void text(std::string_view raw) { bytes(sql::clean_text(raw, scratch_), 0); }
  // 0 for "as the previous record", else the length plus one and the text.
  void repeated_text(std::string_view raw, const std::string* previous) {
    if (previous && *previous == raw) {
      byte(0);
      return;
    }
    bytes(sql::clean_text(raw, scratch_), 1);
  }
  void real(double v) {
    v = sql::finite_or_zero(v);
    std::memcpy(out_.data() + at_, &v, sizeof v);
    at_ += sizeof v;
  }

 private:
  // The length plus `bias`, then the text.
  void bytes(std::string_view text, std::uint64_t bias) {
    varint(text.size() + bias);
    std::memcpy(out_.data() + at_, text.data(), text.size());
    at_ += text.size();
  }

  std::string& out_;
  std::size_t at_ = out_.size();
  std::string scratch_;
};

}  // namespace

void encode_audit_block(std::span<const AuditRecord> records, std::string& out,
                        BlockBounds& bounds) {
  Writer w(out);
  w.reserve(16);
  w.byte(static_cast<std::uint8_t>(kMagic));
  w.byte(kFormat);
  w.varint(records.size());
  bounds.records = static_cast<std::int64_t>(records.size());
  const AuditRecord* previous = nullptr;
  const std::string* first_id = nullptr;
  const std::string* last_id = nullptr;
  Millis time = 0;
  for (const auto& r : records) {
    if (!first_id || r.request_id < *first_id) first_id = &r.request_id;
    if (!last_id || r.request_id > *last_id) last_id = &r.request_id;
    if (!previous || r.time < bounds.min_time) bounds.min_time = r.time;
    if (!previous || r.time > bounds.max_time) bounds.max_time = r.time;

    w.reserve_record(r);
    w.text(r.request_id);
    w.signed_varint(static_cast<std::int64_t>(static_cast<std::uint64_t>(r.time) -
                                              static_cast<std::uint64_t>(time)));
    time = r.time;
    const auto fields = repeated_fields(r);
    const auto before = previous ? repeated_fields(*previous) : Repeated{};
    for (std::size_t i = 0; i < kRepeated; ++i) w.repeated_text(*fields[i], before[i]);
    w.signed_varint(r.attempts);
    w.signed_varint(r.status);
    w.signed_varint(r.prompt_tokens);
    w.signed_varint(r.completion_tokens);
    w.signed_varint(r.cached_tokens);
    w.signed_varint(r.reasoning_tokens);
    w.real(r.cost_usd);
    w.real(r.list_cost_usd);
    w.signed_varint(r.latency_us);
    std::uint8_t flags = 0;
    if (r.usage_estimated) flags |= kUsageEstimated;
    if (r.streamed) flags |= kStreamed;
    if (r.ttft_us) flags |= kTtft;
    if (r.request_body) flags |= kRequestBody;
    if (r.response_body) flags |= kResponseBody;
    if (r.client_request_id) flags |= kClientRequestId;
    w.byte(flags);
    if (r.ttft_us) w.signed_varint(*r.ttft_us);
    if (r.request_body) w.text(*r.request_body);
    if (r.response_body) w.text(*r.response_body);
    if (r.client_request_id) w.text(*r.client_request_id);
    previous = &r;
  }
  // The bounds are the ids as stored (cleaned), which is how queries compare them.
  std::string scratch;
  bounds.first_id = first_id ? sql::clean_text(*first_id, scratch) : std::string_view();
  bounds.last_id = last_id ? sql::clean_text(*last_id, scratch) : std::string_view();
}

AuditBlockReader::AuditBlockReader(std::string_view data) : data_(data) {
  std::uint64_t count = 0;
  if (data_.size() < 2 || data_[0] != kMagic || static_cast<std::uint8_t>(data_[1]) != kFormat) {
    fail();
    return;
  }
  pos_ = 2;
  // Every record takes more than 16 bytes, so a larger count is a malformed block.
  if (!varint(count) || count > data_.size() / 16) {
    fail();
    return;
  }
  count_ = static_cast<std::int64_t>(count);
}

bool AuditBlockReader::fail() {
  ok_ = false;
  count_ = 0;
  return false;
}

bool AuditBlockReader::varint(std::uint64_t& v) {
  v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (pos_ >= data_.size()) return fail();
    const auto b = static_cast<std::uint8_t>(data_[pos_++]);
    v |= static_cast<std::uint64_t>(b & 0x7F) << shift;
    if (!(b & 0x80)) return true;
  }
  return fail();
}

bool AuditBlockReader::signed_varint(std::int64_t& v) {
  std::uint64_t u = 0;
  if (!varint(u)) return false;
  v = static_cast<std::int64_t>((u >> 1) ^ (~(u & 1) + 1));
  return true;
}

bool AuditBlockReader::text(std::string& out) {
  std::uint64_t n = 0;
  if (!varint(n) || n > data_.size() - pos_) return fail();
  out.assign(data_.substr(pos_, n));
  pos_ += n;
  return true;
}

bool AuditBlockReader::repeated_text(std::string& out) {
  std::uint64_t n = 0;
  if (!varint(n)) return false;
  if (n == 0) return read_ > 0 || fail();  // the first record repeats nothing
  if (--n > data_.size() - pos_) return fail();
  out.assign(data_.substr(pos_, n));
  pos_ += n;
  return true;
}

bool AuditBlockReader::real(double& v) {
  if (data_.size() - pos_ < sizeof v) return fail();
  std::memcpy(&v, data_.data() + pos_, sizeof v);
  pos_ += sizeof v;
  return true;
}

bool AuditBlockReader::next(AuditRecord& r) {
  if (!ok_ || read_ >= count_) return false;
  std::int64_t delta = 0, attempts = 0, status = 0;
  if (!text(r.request_id) || !signed_varint(delta)) return false;
  time_ =
      static_cast<Millis>(static_cast<std::uint64_t>(time_) + static_cast<std::uint64_t>(delta));
  r.time = time_;
  // A repeated field keeps the previous record's value: kept here, as `r` may be a new record.
  const auto fields = repeated_fields(r);
  for (std::size_t i = 0; i < kRepeated; ++i) {
    if (!repeated_text(previous_[i])) return false;
    *fields[i] = previous_[i];
  }
  if (!signed_varint(attempts) || !signed_varint(status) || !signed_varint(r.prompt_tokens) ||
      !signed_varint(r.completion_tokens) || !signed_varint(r.cached_tokens) ||
      !signed_varint(r.reasoning_tokens) || !real(r.cost_usd) || !real(r.list_cost_usd) ||
      !signed_varint(r.latency_us)) {
    return false;
  }
  r.attempts = static_cast<std::int32_t>(attempts);
  r.status = static_cast<std::int32_t>(status);
  if (pos_ >= data_.size()) return fail();
  const auto flags = static_cast<std::uint8_t>(data_[pos_++]);
  r.usage_estimated = flags & kUsageEstimated;
  r.streamed = flags & kStreamed;
  r.ttft_us.reset();
  if (flags & kTtft) {
    std::int64_t ttft = 0;
    if (!signed_varint(ttft)) return false;
    r.ttft_us = ttft;
  }
  const auto optional_text = [&](std::uint8_t flag, std::optional<std::string>& field) {
    if (!(flags & flag)) {
      field.reset();
      return true;
    }
    if (!field) field.emplace();
    return text(*field);
  };
  if (!optional_text(kRequestBody, r.request_body) ||
      !optional_text(kResponseBody, r.response_body) ||
      !optional_text(kClientRequestId, r.client_request_id)) {
    return false;
  }
  ++read_;
  return true;
}

}  // namespace shepherd::storage::sqlite
