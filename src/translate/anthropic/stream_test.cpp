// Streams both ways: Anthropic's events into deltas, and deltas into a client's events.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "translate/anthropic/test_support.hpp"

namespace shepherd::translate::anthropic_test {
namespace {

TEST(AnthropicStreamDecoder, DecodesTheReferenceToolUseTranscript) {
  const auto deltas = decode_stream(fixture("anthropic/stream_tool_use.sse"));
  ASSERT_GE(deltas.size(), 4u);
  EXPECT_EQ(deltas.front().kind, Delta::Kind::kStart);
  EXPECT_EQ(deltas.front().id, "msg_014p7gG3wDgGV9EUtLvnow3U");
  EXPECT_EQ(deltas.front().model, "claude-sonnet-4-5");

  std::string text, arguments;
  std::vector<Delta::Kind> kinds;
  for (const auto& d : deltas) {
    if (kinds.empty() || kinds.back() != d.kind) kinds.push_back(d.kind);
    if (d.kind == Delta::Kind::kText) text += d.text;
    if (d.kind == Delta::Kind::kToolArguments) {
      EXPECT_EQ(d.index, 0);
      EXPECT_FALSE(d.text.empty());  // the empty first piece is not passed on
      arguments += d.text;
    }
    if (d.kind == Delta::Kind::kToolCall) {
      EXPECT_EQ(d.index, 0);
      EXPECT_EQ(d.id, "toolu_01T1x1fJ34qAmk2tNTrN7Up6");
      EXPECT_EQ(d.name, "get_weather");
    }
    if (d.kind == Delta::Kind::kFinish) {
      EXPECT_EQ(d.stop_reason, StopReason::kToolUse);
    }
    if (d.kind == Delta::Kind::kUsage) {
      EXPECT_EQ(d.usage.prompt_tokens, 472);
      EXPECT_EQ(d.usage.completion_tokens, 89);  // message_delta's cumulative count wins
    }
  }
  EXPECT_EQ(kinds, (std::vector<Delta::Kind>{Delta::Kind::kStart, Delta::Kind::kText,
                                             Delta::Kind::kToolCall, Delta::Kind::kToolArguments,
                                             Delta::Kind::kFinish, Delta::Kind::kUsage,
                                             Delta::Kind::kDone}));
  EXPECT_EQ(text, "Okay, let's check the weather for San Francisco, CA:");
  EXPECT_TRUE(json_equal(arguments, R"({"location":"San Francisco, CA","unit":"fahrenheit"})"));
}

TEST(AnthropicStreamDecoder, DecodesThinkingWithSignatureAndNoUsage) {
  const auto deltas = decode_stream(fixture("anthropic/stream_thinking.sse"));
  std::vector<Delta::Kind> kinds;
  for (const auto& d : deltas) kinds.push_back(d.kind);
  EXPECT_EQ(kinds, (std::vector<Delta::Kind>{Delta::Kind::kStart, Delta::Kind::kThinking,
                                             Delta::Kind::kThinking, Delta::Kind::kSignature,
                                             Delta::Kind::kText, Delta::Kind::kFinish,
                                             Delta::Kind::kDone}));
  ASSERT_EQ(deltas.size(), 7u);
  EXPECT_EQ(deltas[3].text, "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds");
  EXPECT_EQ(deltas[4].text, "The greatest common divisor (GCD) of 1071 and 462 is **21**.");
}

TEST(AnthropicStreamDecoder, AccumulatesUsageFromMessageDelta) {
  auto decoder = codec().stream_decoder();
  std::vector<Delta> out;
  ASSERT_TRUE(decoder
                  ->feed("message_start",
                         R"({"type":"message_start","message":{"id":"msg_1","model":"c",
                               "usage":{"input_tokens":10,"cache_read_input_tokens":5,
                               "output_tokens":1}}})",
                         out)
                  .ok());
  ASSERT_TRUE(decoder
                  ->feed("content_block_start",
                         R"({"type":"content_block_start","index":0,
                               "content_block":{"type":"redacted_thinking","data":"EmwK"}})",
                         out)
                  .ok());
  ASSERT_TRUE(decoder
                  ->feed("message_delta",
                         R"({"type":"message_delta","delta":{"stop_reason":"stop_sequence",
                               "stop_sequence":"END"},"usage":{"input_tokens":12,
                               "cache_creation_input_tokens":3,"cache_read_input_tokens":5,
                               "output_tokens":30}})",
                         out)
                  .ok());
  ASSERT_TRUE(decoder->feed("message_stop", R"({"type":"message_stop"})", out).ok());
  ASSERT_EQ(out.size(), 5u);
  EXPECT_EQ(out[1].kind, Delta::Kind::kRedactedThinking);
  EXPECT_EQ(out[1].text, "EmwK");
  EXPECT_EQ(out[2].kind, Delta::Kind::kFinish);
  EXPECT_EQ(out[2].stop_reason, StopReason::kStopSequence);
  EXPECT_EQ(out[2].text, "END");
  EXPECT_EQ(out[3].kind, Delta::Kind::kUsage);
  EXPECT_EQ(out[3].usage.prompt_tokens, 12 + 3 + 5);
  EXPECT_EQ(out[3].usage.cache_creation_tokens, 3);
  EXPECT_EQ(out[3].usage.cache_read_tokens, 5);
  EXPECT_EQ(out[3].usage.completion_tokens, 30);
  EXPECT_EQ(out[4].kind, Delta::Kind::kDone);
}

TEST(AnthropicStreamDecoder, TurnsErrorEventsIntoUpstreamStatus) {
  const auto deltas = decode_stream(fixture("anthropic/stream_error.sse"));
  ASSERT_EQ(deltas.size(), 2u);
  EXPECT_EQ(deltas[1].kind, Delta::Kind::kError);
  EXPECT_EQ(deltas[1].error.code, base::ErrorCode::kUpstreamStatus);
  EXPECT_EQ(deltas[1].error.status, 529);
  EXPECT_EQ(deltas[1].error.message, "Overloaded");
  EXPECT_TRUE(deltas[1].error.retryable);

  const struct {
    const char* type;
    int status;
  } cases[] = {{"api_error", 500},
               {"rate_limit_error", 429},
               {"invalid_request_error", 400},
               {"request_too_large", 413},
               {"something_new", 500}};
  for (const auto& c : cases) {
    auto decoder = codec().stream_decoder();
    std::vector<Delta> out;
    const std::string data =
        std::string(R"({"type":"error","error":{"type":")") + c.type + R"(","message":"x"}})";
    ASSERT_TRUE(decoder->feed("error", data, out).ok());
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].error.status, c.status) << c.type;
  }
}

TEST(AnthropicStreamDecoder, RejectsMalformedEventsAndIgnoresUnknownOnes) {
  for (const char* data :
       {"{not json", "[1]", R"({"type":"content_block_start"})",
        R"({"type":"content_block_delta","index":0,"delta":{}})", R"({"type":"message_start"})"}) {
    auto decoder = codec().stream_decoder();
    std::vector<Delta> out;
    auto s = decoder->feed("", data, out);
    ASSERT_FALSE(s.ok()) << data;
    EXPECT_EQ(s.error().code, base::ErrorCode::kUpstreamUnreachable);
    EXPECT_TRUE(s.error().retryable);
  }
  auto decoder = codec().stream_decoder();
  std::vector<Delta> out;
  EXPECT_TRUE(decoder->feed("future_event", R"({"type":"future_event","x":1})", out).ok());
  EXPECT_TRUE(decoder->feed("ping", R"({"type":"ping"})", out).ok());
  EXPECT_TRUE(out.empty());
}

TEST(AnthropicStreamEncoder, WritesTheFullEventSequence) {
  auto encoder = codec().stream_encoder(simple_request(), "claude-alias");
  std::string out;
  const auto emit = [&](Delta d) { encoder->encode(d, out); };
  Delta d;
  d.kind = Delta::Kind::kStart;
  d.id = "01XyZ";
  d.model = "upstream-model";
  emit(d);
  d = {};
  d.kind = Delta::Kind::kThinking;
  d.text = "Let me check.";
  emit(d);
  d.kind = Delta::Kind::kSignature;
  d.text = "EqQBCgIYAhIM";
  emit(d);
  d.kind = Delta::Kind::kText;
  d.text = "Checking";
  emit(d);
  d.text = " now.";
  emit(d);
  d = {};
  d.kind = Delta::Kind::kToolCall;
  d.index = 0;
  d.id = "toolu_01";
  d.name = "get_weather";
  emit(d);
  d = {};
  d.kind = Delta::Kind::kToolArguments;
  d.text = R"({"location":)";
  emit(d);
  d.text = R"( "Paris"})";
  emit(d);
  d = {};
  d.kind = Delta::Kind::kFinish;
  d.stop_reason = StopReason::kToolUse;
  emit(d);
  // The finish waits for the usage: message_delta carries both.
  const auto before_usage = sse_events(unchunk(out)).size();
  d = {};
  d.kind = Delta::Kind::kUsage;
  d.usage.prompt_tokens = 150;
  d.usage.cache_read_tokens = 100;
  d.usage.cache_creation_tokens = 20;
  d.usage.completion_tokens = 40;
  emit(d);
  d = {};
  d.kind = Delta::Kind::kDone;
  emit(d);

  const auto actual = sse_events(unchunk(out));
  const auto expected = sse_events(fixture("anthropic/stream_encoded.sse"));
  EXPECT_EQ(before_usage, expected.size() - 3);
  ASSERT_EQ(actual.size(), expected.size());
  for (std::size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(actual[i].name, expected[i].name) << "event " << i;
    EXPECT_TRUE(json_equal(actual[i].data, expected[i].data)) << "event " << i;
  }
}

TEST(AnthropicStreamEncoder, EndsWithoutUsageAndKeepsTheStopSequence) {
  auto encoder = codec().stream_encoder(simple_request(), "claude-alias");
  std::string out;
  Delta d;
  d.kind = Delta::Kind::kStart;
  d.id = "msg_9";
  encoder->encode(d, out);
  d = {};
  d.kind = Delta::Kind::kRedactedThinking;
  d.text = "EmwK";
  encoder->encode(d, out);
  d.kind = Delta::Kind::kText;
  d.text = "Hi";
  encoder->encode(d, out);
  d = {};
  d.kind = Delta::Kind::kFinish;
  d.stop_reason = StopReason::kStopSequence;
  d.text = "END";
  encoder->encode(d, out);
  d = {};
  d.kind = Delta::Kind::kDone;
  encoder->encode(d, out);
  encoder->encode(d, out);  // nothing after the end

  const auto events = sse_events(unchunk(out));
  std::vector<std::string> names;
  for (const auto& e : events) names.push_back(e.name);
  EXPECT_EQ(names, (std::vector<std::string>{"message_start", "ping", "content_block_start",
                                             "content_block_stop", "content_block_start",
                                             "content_block_delta", "content_block_stop",
                                             "message_delta", "message_stop"}));
  EXPECT_TRUE(json_equal(events[0].data,
                         R"({"type":"message_start","message":{"id":"msg_9","type":"message",
                             "role":"assistant","model":"claude-alias","content":[],
                             "stop_reason":null,"stop_sequence":null,
                             "usage":{"input_tokens":0,"output_tokens":0}}})"));
  EXPECT_TRUE(json_equal(events[2].data, R"({"type":"content_block_start","index":0,
      "content_block":{"type":"redacted_thinking","data":"EmwK"}})"));
  EXPECT_TRUE(json_equal(events[7].data, R"({"type":"message_delta",
      "delta":{"stop_reason":"stop_sequence","stop_sequence":"END"},
      "usage":{"output_tokens":0,"input_tokens":0,"cache_creation_input_tokens":0,
               "cache_read_input_tokens":0}})"));
}

TEST(AnthropicStreamEncoder, WritesErrorEvents) {
  auto encoder = codec().stream_encoder(simple_request(), "claude-alias");
  std::string out;
  Delta d;
  d.kind = Delta::Kind::kStart;
  encoder->encode(d, out);
  d.kind = Delta::Kind::kError;
  d.error = base::make_error(base::ErrorCode::kUpstreamStatus, "Overloaded");
  d.error.status = 529;
  encoder->encode(d, out);
  d = {};
  d.kind = Delta::Kind::kText;
  d.text = "late";
  encoder->encode(d, out);  // nothing after the error
  auto events = sse_events(unchunk(out));
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[2].name, "error");
  EXPECT_TRUE(json_equal(events[2].data,
                         R"({"type":"error","error":{"type":"overloaded_error",
                             "message":"Overloaded"}})"));

  auto other = codec().stream_encoder(simple_request(), "claude-alias");
  out.clear();
  other->error(base::make_error(base::ErrorCode::kUpstreamTimeout, "the upstream timed out"), out);
  events = sse_events(unchunk(out));
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].name, "error");
  EXPECT_TRUE(json_equal(events[0].data, R"({"type":"error","error":{"type":"timeout_error",
                                             "message":"the upstream timed out"}})"));
}

}  // namespace
}  // namespace shepherd::translate::anthropic_test
