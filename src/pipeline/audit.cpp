// The audit record of a request: what the record stage hands to the audit writer, and the line
// the access log writes of it.
#include <algorithm>
#include <boost/json.hpp>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <ctime>

#include "api/json_text.hpp"
#include "pipeline/stages.hpp"
#include "storage/record_json.hpp"

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

std::string access_line(const storage::AuditRecord& record, bool json) {
  namespace bj = boost::json;
  const auto now = std::chrono::system_clock::now();
  const auto secs = std::chrono::system_clock::to_time_t(now);
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()) % 1000;
  std::tm utc{};
  gmtime_r(&secs, &utc);
  char time[32];
  const auto n = std::strftime(time, sizeof time, "%Y-%m-%dT%H:%M:%S", &utc);
  std::snprintf(time + n, sizeof time - n, ".%03dZ", static_cast<int>(ms.count()));
  // The record's members in order, but the bodies and its arrival time (the line's time less
  // latency_us).
  const auto fields = storage::to_json(record);
  auto logged = [](std::string_view k) {
    return k != "time" && k != "request_body" && k != "response_body";
  };
  if (json) {
    bj::object line{{"time", time}, {"level", "info"}, {"msg", "request"}};
    for (const auto& member : fields) {
      if (logged(member.key())) line.emplace(member.key(), member.value());
    }
    return api::json_text(line);
  }
  std::string line = time;
  line.append(" info request");
  for (const auto& member : fields) {
    if (!logged(member.key())) continue;
    const auto& v = member.value();
    line.append(" ").append(member.key()).append("=");
    if (v.is_string()) {
      const auto s = std::string_view(v.get_string());
      // Bare only when it cannot be mistaken for another field or line: a client's model name
      // with a space or a newline in it is quoted and escaped.
      const bool quote = s.empty() || std::any_of(s.begin(), s.end(), [](char c) {
                           return !std::isalnum(static_cast<unsigned char>(c)) &&
                                  std::string_view("._:@/+-").find(c) == std::string_view::npos;
                         });
      line.append(quote ? api::json_text(v) : std::string(s));
    } else {
      line.append(api::json_text(v));
    }
  }
  return line;
}

}  // namespace shepherd::pipeline
