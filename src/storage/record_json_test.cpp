#include "storage/record_json.hpp"

#include <gtest/gtest.h>

#include <limits>
#include <set>
#include <string>

namespace shepherd::storage {
namespace {

namespace json = boost::json;

AuditRecord full_record() {
  AuditRecord r;
  r.request_id = "req_01HZX3K9QW2V";
  r.time = 1'717'171'717'171;
  r.key_id = "key_0123456789abcdef";
  r.model = "gpt-4o-mini";
  r.deployment = "openai-east";
  r.provider = "openai";
  r.attempts = 2;
  r.status = 200;
  r.error_class = "";
  r.prompt_tokens = 1234;
  r.completion_tokens = 567;
  r.cached_tokens = 1024;
  r.reasoning_tokens = 64;
  r.cost_usd = 0.000123456789;
  r.list_cost_usd = 0.5;
  r.usage_estimated = true;
  r.latency_us = 1'234'567;
  r.ttft_us = 98'765;
  r.client_address = "127.0.0.1:53422";
  r.streamed = true;
  r.dialect = "anthropic";
  r.request_body = R"({"messages":[{"role":"user","content":"héllo, 世界 🐑 \"quoted\"\n\ttab"}]})";
  r.response_body = std::string("line one\nline two \\ \x01 control, ") + "\xF0\x9F\x90\x91";
  return r;
}

void expect_same(const AuditRecord& a, const AuditRecord& b) {
  EXPECT_EQ(a.request_id, b.request_id);
  EXPECT_EQ(a.time, b.time);
  EXPECT_EQ(a.key_id, b.key_id);
  EXPECT_EQ(a.model, b.model);
  EXPECT_EQ(a.deployment, b.deployment);
  EXPECT_EQ(a.provider, b.provider);
  EXPECT_EQ(a.attempts, b.attempts);
  EXPECT_EQ(a.status, b.status);
  EXPECT_EQ(a.error_class, b.error_class);
  EXPECT_EQ(a.prompt_tokens, b.prompt_tokens);
  EXPECT_EQ(a.completion_tokens, b.completion_tokens);
  EXPECT_EQ(a.cached_tokens, b.cached_tokens);
  EXPECT_EQ(a.reasoning_tokens, b.reasoning_tokens);
  EXPECT_EQ(a.cost_usd, b.cost_usd);
  EXPECT_EQ(a.list_cost_usd, b.list_cost_usd);
  EXPECT_EQ(a.usage_estimated, b.usage_estimated);
  EXPECT_EQ(a.latency_us, b.latency_us);
  EXPECT_EQ(a.ttft_us, b.ttft_us);
  EXPECT_EQ(a.client_address, b.client_address);
  EXPECT_EQ(a.streamed, b.streamed);
  EXPECT_EQ(a.dialect, b.dialect);
  EXPECT_EQ(a.request_body, b.request_body);
  EXPECT_EQ(a.response_body, b.response_body);
}

// Through text, as the spool and the admin API carry it.
AuditRecord round_trip(const AuditRecord& r) {
  const std::string text = json::serialize(to_json(r));
  auto back = audit_from_json(json::parse(text));
  EXPECT_TRUE(back.ok()) << (back.ok() ? "" : back.error().message);
  return back.ok() ? back.value() : AuditRecord{};
}

TEST(RecordJson, RoundTripsEveryFieldWithUnicodeAndBodies) {
  const AuditRecord r = full_record();
  expect_same(round_trip(r), r);
}

TEST(RecordJson, RoundTripsExtremeValues) {
  AuditRecord r = full_record();
  r.time = std::numeric_limits<Millis>::max();
  r.prompt_tokens = std::numeric_limits<std::int64_t>::min();
  r.attempts = std::numeric_limits<std::int32_t>::max();
  r.status = std::numeric_limits<std::int32_t>::min();
  r.cost_usd = 1e-300;
  r.list_cost_usd = 123456789.125;
  r.request_body = "";
  expect_same(round_trip(r), r);
}

TEST(RecordJson, MemberNamesAreTheFieldNames) {
  const json::object o = to_json(full_record());
  std::set<std::string> names;
  for (const auto& kv : o) names.emplace(kv.key());
  const std::set<std::string> expected = {
      "request_id",        "time",          "key_id",           "model",          "deployment",
      "provider",          "attempts",      "status",           "error_class",    "prompt_tokens",
      "completion_tokens", "cached_tokens", "reasoning_tokens", "cost_usd",       "list_cost_usd",
      "usage_estimated",   "latency_us",    "ttft_us",          "client_address", "streamed",
      "dialect",           "request_body",  "response_body"};
  EXPECT_EQ(names, expected);
  EXPECT_TRUE(o.at("time").is_int64());
  EXPECT_TRUE(o.at("attempts").is_int64());
  EXPECT_TRUE(o.at("cost_usd").is_double());
  EXPECT_TRUE(o.at("streamed").is_bool());
}

TEST(RecordJson, OmitsAbsentOptionalFields) {
  AuditRecord r = full_record();
  r.ttft_us.reset();
  r.request_body.reset();
  r.response_body.reset();
  const json::object o = to_json(r);
  EXPECT_FALSE(o.contains("ttft_us"));
  EXPECT_FALSE(o.contains("request_body"));
  EXPECT_FALSE(o.contains("response_body"));
  expect_same(round_trip(r), r);
}

TEST(RecordJson, AcceptsNullForOptionalFields) {
  auto r = audit_from_json(json::parse(
      R"({"request_id":"r1","ttft_us":null,"request_body":null,"response_body":null})"));
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->ttft_us.has_value());
  EXPECT_FALSE(r->request_body.has_value());
  EXPECT_FALSE(r->response_body.has_value());
}

TEST(RecordJson, AbsentMembersKeepTheDefaults) {
  auto r = audit_from_json(json::parse(R"({"request_id":"r1","unknown_member":[1,2]})"));
  ASSERT_TRUE(r.ok());
  expect_same(*r, [] {
    AuditRecord d;
    d.request_id = "r1";
    return d;
  }());
}

TEST(RecordJson, AcceptsWholeDoublesAsIntegersAndIntegersAsCosts) {
  auto r = audit_from_json(
      json::parse(R"({"request_id":"r1","time":1717171717171.0,"status":429.0,"cost_usd":3})"));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->time, 1717171717171);
  EXPECT_EQ(r->status, 429);
  EXPECT_EQ(r->cost_usd, 3.0);
}

TEST(RecordJson, InvalidUtf8BecomesReplacementCharacters) {
  AuditRecord r = full_record();
  // A body cut inside a three-byte character, a lone continuation byte, an overlong '/' and a
  // UTF-16 surrogate: none is UTF-8.
  r.response_body = std::string("ok \xE4\xB8") + " \x80 \xC0\xAF \xED\xA0\x80 end";
  const std::string text = json::serialize(to_json(r));
  // A strict parser (the default: UTF-8 validated) reads it.
  auto back = audit_from_json(json::parse(text));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back->response_body,
            "ok \xEF\xBF\xBD\xEF\xBF\xBD \xEF\xBF\xBD \xEF\xBF\xBD\xEF\xBF\xBD "
            "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD end");
  // Valid multi-byte text is untouched.
  EXPECT_EQ(*round_trip(full_record()).request_body, *full_record().request_body);
}

TEST(RecordJson, WritesNonFiniteCostsAsZero) {
  AuditRecord r = full_record();
  r.cost_usd = std::numeric_limits<double>::quiet_NaN();
  r.list_cost_usd = std::numeric_limits<double>::infinity();
  const AuditRecord back = round_trip(r);
  EXPECT_EQ(back.cost_usd, 0.0);
  EXPECT_EQ(back.list_cost_usd, 0.0);
}

TEST(RecordJson, RejectsWhatIsNotARecord) {
  struct Case {
    const char* json;
    const char* message;
  };
  const Case cases[] = {
      {R"([1,2])", "audit record: not a JSON object"},
      {R"({"time":1})", "audit record: request_id is missing or empty"},
      {R"({"request_id":""})", "audit record: request_id is missing or empty"},
      {R"({"request_id":7})", "audit record: request_id is not a string"},
      {R"({"request_id":"r","time":"1717"})", "audit record: time is not an integer"},
      {R"({"request_id":"r","time":1.5})", "audit record: time is not an integer"},
      {R"({"request_id":"r","status":4294967296})", "audit record: status is out of range"},
      {R"({"request_id":"r","latency_us":18446744073709551615})",
       "audit record: latency_us is out of range"},
      {R"({"request_id":"r","cost_usd":"0.1"})", "audit record: cost_usd is not a number"},
      {R"({"request_id":"r","streamed":1})", "audit record: streamed is not a boolean"},
      {R"({"request_id":"r","response_body":{}})", "audit record: response_body is not a string"},
      {R"({"request_id":"r","ttft_us":true})", "audit record: ttft_us is not an integer"},
  };
  for (const auto& c : cases) {
    auto r = audit_from_json(json::parse(c.json));
    ASSERT_FALSE(r.ok()) << c.json;
    EXPECT_EQ(r.error().code, base::ErrorCode::kBadRequest) << c.json;
    EXPECT_EQ(r.error().message, c.message) << c.json;
  }
}

}  // namespace
}  // namespace shepherd::storage
