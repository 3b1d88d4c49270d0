#include "observability/trace.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

namespace shepherd::observability {
namespace {

namespace json = boost::json;

constexpr std::string_view kExample = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

TEST(TraceParent, ReadsTheSpecsExample) {
  const auto t = parse_traceparent(kExample);
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(hex(t->trace_id), "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(hex(t->span_id), "00f067aa0ba902b7");
  EXPECT_TRUE(t->sampled());
  EXPECT_EQ(format_traceparent(t->trace_id, t->span_id, t->flags), kExample);
  const auto unsampled =
      parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00");
  ASSERT_TRUE(unsampled.has_value());
  EXPECT_FALSE(unsampled->sampled());
}

TEST(TraceParent, RefusesWhatTheSpecRefuses) {
  for (std::string_view bad : {
           "",
           "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",       // no flags
           "00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01",    // uppercase
           "00-00000000000000000000000000000000-00f067aa0ba902b7-01",    // zero trace id
           "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",    // zero span id
           "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",    // version ff
           "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x",  // 00 has no more fields
           "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
           "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",
       }) {
    EXPECT_FALSE(parse_traceparent(bad).has_value()) << bad;
  }
}

TEST(TraceParent, ReadsALaterVersionAsFarAsVersion00Goes) {
  const auto t =
      parse_traceparent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-future-stuff");
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(hex(t->span_id), "00f067aa0ba902b7");
  EXPECT_FALSE(
      parse_traceparent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x").has_value());
}

TEST(Otlp, WritesSpansAsOtlpJson) {
  Span s;
  s.trace_id = parse_traceparent(kExample)->trace_id;
  s.span_id = {1, 2, 3, 4, 5, 6, 7, 8};
  s.parent = parse_traceparent(kExample)->span_id;
  s.name = "chat gpt-4.1";
  s.kind = Span::Kind::kServer;
  s.start_unix_ns = 1'700'000'000'000'000'000;
  s.end_unix_ns = 1'700'000'000'500'000'000;
  s.attributes = {{"gen_ai.request.model", std::string("gpt-4.1")},
                  {"gen_ai.usage.input_tokens", std::int64_t{12}},
                  {"shepherd.cost_usd", 0.25},
                  {"shepherd.streamed", true}};
  Span child = s;
  child.parent = s.span_id;
  child.span_id = {9, 9, 9, 9, 9, 9, 9, 9};
  child.kind = Span::Kind::kClient;
  child.error = true;
  child.error_message = "upstream_timeout";
  const auto doc = json::parse(otlp_json({s, child}, "shepherd"));
  const auto& rs = doc.at("resourceSpans").at(0);
  EXPECT_EQ(rs.at("resource").at("attributes").at(0).at("value").at("stringValue"), "shepherd");
  const auto& spans = rs.at("scopeSpans").at(0).at("spans").as_array();
  ASSERT_EQ(spans.size(), 2u);
  const auto& a = spans[0];
  EXPECT_EQ(a.at("traceId"), "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(a.at("spanId"), "0102030405060708");
  EXPECT_EQ(a.at("parentSpanId"), "00f067aa0ba902b7");
  EXPECT_EQ(a.at("kind"), 2);
  EXPECT_EQ(a.at("startTimeUnixNano"), "1700000000000000000");
  EXPECT_EQ(a.at("endTimeUnixNano"), "1700000000500000000");
  EXPECT_FALSE(a.as_object().contains("status"));
  const auto& attrs = a.at("attributes").as_array();
  EXPECT_EQ(attrs.at(0).at("value").at("stringValue"), "gpt-4.1");
  EXPECT_EQ(attrs.at(1).at("value").at("intValue"), "12");
  EXPECT_EQ(attrs.at(2).at("value").at("doubleValue").to_number<double>(), 0.25);
  EXPECT_EQ(attrs.at(3).at("value").at("boolValue"), true);
  EXPECT_EQ(spans[1].at("parentSpanId"), "0102030405060708");
  EXPECT_EQ(spans[1].at("kind"), 3);
  EXPECT_EQ(spans[1].at("status").at("code"), 2);
}

}  // namespace
}  // namespace shepherd::observability
