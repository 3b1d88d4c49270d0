// The audit record of a request: what the record stage hands to the audit writer, and the line
// the access log writes of it.
#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>

#include "base/json_escape.hpp"
#include "pipeline/stages.hpp"

namespace shepherd::pipeline {

namespace {

constexpr std::string_view kRedacted = "[REDACTED]";
constexpr std::string_view kVirtualKeyPrefix = "sk-shep-";

bool key_char(char c) {
  return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

std::int64_t micros(Clock::duration d) {
  return std::chrono::duration_cast<std::chrono::microseconds>(d).count();
}

}  // namespace

std::string redact(std::string_view text, const std::vector<std::string>& secrets) {
  std::string out(text);
  // Longest first (the caller sorts them), so a secret containing another goes whole.
  for (const auto& s : secrets) {
    if (s.empty()) continue;
    for (auto at = out.find(s); at != std::string::npos; at = out.find(s, at + kRedacted.size())) {
      out.replace(at, s.size(), kRedacted);
    }
  }
  for (auto at = out.find(kVirtualKeyPrefix); at != std::string::npos;
       at = out.find(kVirtualKeyPrefix, at + kRedacted.size())) {
    auto end = at + kVirtualKeyPrefix.size();
    while (end < out.size() && key_char(out[end])) ++end;
    out.replace(at, end - at, kRedacted);
  }
  return out;
}

storage::AuditRecord audit_record(const RequestContext& rc, double cost_usd, double list_cost_usd) {
  const auto& out = rc.outcome;
  storage::AuditRecord r;
  r.request_id = rc.request_id;
  if (!rc.client_request_id.empty()) r.client_request_id = rc.client_request_id;
  r.time = rc.arrived_ms;
  if (rc.caller.key) {
    r.key_id = rc.caller.key->id;
  } else if (rc.caller.key_index >= 0) {
    r.key_id = "static:" + std::to_string(rc.caller.key_index);
  }
  r.model = rc.chat.model;
  if (rc.served) {
    r.deployment = rc.served->id;
    r.provider = rc.served->provider;
  } else if (rc.tried) {
    // No attempt committed: the deployment of the last one.
    r.deployment = rc.tried->id;
    r.provider = rc.tried->provider;
  }
  r.attempts = out.attempts;
  r.status = out.status;
  r.error_class = rc.error_class;
  if (out.usage) {
    r.prompt_tokens = out.usage->prompt_tokens;
    r.completion_tokens = out.usage->completion_tokens;
    r.cached_tokens = out.usage->cached_tokens;
    r.reasoning_tokens = out.usage->reasoning_tokens;
  }
  r.cost_usd = cost_usd;
  r.list_cost_usd = list_cost_usd;
  r.usage_estimated = out.usage_estimated;
  r.latency_us = micros(out.latency);
  if (rc.first_byte_sent) r.ttft_us = micros(*rc.first_byte_sent - rc.started);
  r.client_address = rc.conn.remote_address();
  r.streamed = rc.chat.stream;
  r.dialect = rc.dialect.name();
  if (rc.capture_bodies) {
    const auto& secrets = rc.view->snap->secrets;
    r.request_body = redact(rc.body, secrets);
    if (!rc.response_body.empty()) r.response_body = redact(rc.response_body, secrets);
  }
  return r;
}

namespace {

// The time of an access line: UTC, RFC 3339 with milliseconds. The part up to the seconds is
// formatted once per second per thread.
void append_now(std::string& out) {
  thread_local std::time_t cached_second = -1;
  thread_local char cached[24];
  const auto now = std::chrono::system_clock::now();
  const auto secs = std::chrono::system_clock::to_time_t(now);
  if (secs != cached_second) {
    std::tm utc{};
    gmtime_r(&secs, &utc);
    std::strftime(cached, sizeof cached, "%Y-%m-%dT%H:%M:%S", &utc);
    cached_second = secs;
  }
  const auto ms = static_cast<int>(
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000);
  const char frac[5] = {'.', static_cast<char>('0' + ms / 100),
                        static_cast<char>('0' + ms / 10 % 10), static_cast<char>('0' + ms % 10),
                        'Z'};
  out.append(cached).append(frac, sizeof frac);
}

// Bare in text lines only when it cannot be mistaken for another field or line: letters,
// digits and ._:@/+- alone.
bool bare(std::string_view s) {
  if (s.empty()) return false;
  for (const char c : s) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == ':' || c == '@' || c == '/' || c == '+' ||
                    c == '-';
    if (!ok) return false;
  }
  return true;
}

// Writes the fields of one line, `"k":v` members of a JSON object or ` k=v` pairs, straight into
// room made at the end of `out` (a line costs a few hundred instructions, not an append call per
// piece); `room` must hold the fields written, escaped (at most six bytes per byte of text).
class Fields {
 public:
  Fields(std::string& out, bool json, std::size_t room) : out_(out), json_(json) {
    const auto start = out_.size();
    out_.resize(start + room);
    p_ = out_.data() + start;
  }
  ~Fields() { out_.resize(static_cast<std::size_t>(p_ - out_.data())); }
  Fields(const Fields&) = delete;
  Fields& operator=(const Fields&) = delete;

  void text(std::string_view k, std::string_view v) {
    key(k);
    if (!json_ && bare(v)) {
      append(v.data(), v.data() + v.size());
      return;
    }
    push_back('"');
    base::append_json_escaped(*this, v);
    push_back('"');
  }
  void integer(std::string_view k, std::int64_t v) {
    key(k);
    p_ = std::to_chars(p_, p_ + 24, v).ptr;
  }
  // A cost in dollars, to the nano-dollar ("0.000072"): integer arithmetic, not the shortest
  // round-trip form (which costs more than the rest of the line).
  void dollars(std::string_view k, double v) {
    key(k);
    if (!std::isfinite(v) || v < 0 || v >= 9e9) {
      p_ = std::to_chars(p_, p_ + 32, std::isfinite(v) ? v : 0.0).ptr;
      return;
    }
    const auto nano = static_cast<std::uint64_t>(std::llround(v * 1e9));
    p_ = std::to_chars(p_, p_ + 24, nano / 1'000'000'000).ptr;
    auto frac = nano % 1'000'000'000;
    if (frac == 0) return;
    char digits[9];
    for (int i = 8; i >= 0; --i, frac /= 10) digits[i] = static_cast<char>('0' + frac % 10);
    int n = 9;
    while (digits[n - 1] == '0') --n;
    push_back('.');
    append(digits, digits + n);
  }
  void flag(std::string_view k, bool v) {
    key(k);
    const std::string_view text = v ? "true" : "false";
    append(text.data(), text.data() + text.size());
  }

  // For base::append_json_escaped().
  void append(const char* first, const char* last) {
    std::memcpy(p_, first, static_cast<std::size_t>(last - first));
    p_ += last - first;
  }
  void push_back(char c) { *p_++ = c; }

 private:
  void key(std::string_view k) {
    push_back(json_ ? ',' : ' ');
    if (json_) push_back('"');
    append(k.data(), k.data() + k.size());
    if (json_) push_back('"');
    push_back(json_ ? ':' : '=');
  }
  std::string& out_;
  bool json_;
  char* p_ = nullptr;
};

}  // namespace

void append_access_line(std::string& line, const storage::AuditRecord& r, bool json) {
  if (json) {
    line.append("{\"time\":\"");
    append_now(line);
    line.append("\",\"level\":\"info\",\"msg\":\"request\"");
  } else {
    append_now(line);
    line.append(" info request");
  }
  // AuditRecord's members in order (storage/record_json.hpp names them the same), but its
  // arrival time (the line's time less latency_us) and the bodies.
  const std::size_t text_bytes = r.request_id.size() + r.key_id.size() + r.model.size() +
                                 r.deployment.size() + r.provider.size() + r.error_class.size() +
                                 r.client_address.size() + r.dialect.size() +
                                 (r.client_request_id ? r.client_request_id->size() : 0);
  {
    Fields f(line, json, 1024 + 6 * text_bytes);
    f.text("request_id", r.request_id);
    f.text("key_id", r.key_id);
    f.text("model", r.model);
    f.text("deployment", r.deployment);
    f.text("provider", r.provider);
    f.integer("attempts", r.attempts);
    f.integer("status", r.status);
    f.text("error_class", r.error_class);
    f.integer("prompt_tokens", r.prompt_tokens);
    f.integer("completion_tokens", r.completion_tokens);
    f.integer("cached_tokens", r.cached_tokens);
    f.integer("reasoning_tokens", r.reasoning_tokens);
    f.dollars("cost_usd", r.cost_usd);
    f.dollars("list_cost_usd", r.list_cost_usd);
    f.flag("usage_estimated", r.usage_estimated);
    f.integer("latency_us", r.latency_us);
    if (r.ttft_us) f.integer("ttft_us", *r.ttft_us);
    f.text("client_address", r.client_address);
    f.flag("streamed", r.streamed);
    f.text("dialect", r.dialect);
    if (r.client_request_id) f.text("client_request_id", *r.client_request_id);
  }  // the line ends where the fields do
  if (json) line.push_back('}');
  line.push_back('\n');
}

}  // namespace shepherd::pipeline
