// The events of Responses streams, compared with golden transcripts.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "translate/openai_responses.hpp"
#include "translate/testing.hpp"

namespace shepherd::translate::responses_test {
namespace {

namespace json = boost::json;
using testing::fixture;
using testing::json_equal;

struct Event {
  std::string type;  // the `event:` field
  std::string data;
};

// Splits SSE text ("event: ...\ndata: ...\n\n" blocks) into events.
std::vector<Event> parse_sse(std::string_view text) {
  std::vector<Event> events;
  Event current;
  while (!text.empty()) {
    const auto eol = text.find('\n');
    const auto line = text.substr(0, eol);
    text.remove_prefix(eol == std::string_view::npos ? text.size() : eol + 1);
    if (line.starts_with("event: ")) {
      current.type = line.substr(7);
    } else if (line.starts_with("data: ")) {
      current.data = line.substr(6);
    } else if (line.empty() && !current.data.empty()) {
      events.push_back(std::move(current));
      current = {};
    }
  }
  return events;
}

// The SSE text inside the HTTP/1.1 chunks the encoder writes ("<hex size>\r\n<payload>\r\n").
std::string dechunk(std::string_view wire) {
  std::string payload;
  while (!wire.empty()) {
    const auto crlf = wire.find("\r\n");
    if (crlf == std::string_view::npos) {
      ADD_FAILURE() << "unterminated chunk size line";
      break;
    }
    const std::size_t size = std::stoul(std::string(wire.substr(0, crlf)), nullptr, 16);
    wire.remove_prefix(crlf + 2);
    if (wire.size() < size + 2 || wire.substr(size, 2) != "\r\n") {
      ADD_FAILURE() << "chunk shorter than its size";
      break;
    }
    payload.append(wire.substr(0, size));
    wire.remove_prefix(size + 2);
  }
  return payload;
}

std::vector<Event> encode_stream(const std::vector<Delta>& deltas, const Request& request = {}) {
  auto encoder = openai_responses_codec().stream_encoder(request, "my-model");
  std::string out;
  for (const auto& d : deltas) encoder->encode(d, out);
  return parse_sse(dechunk(out));
}

// Compares a stream with a golden transcript: same events, in order, with equal JSON data; and
// each event's data names the event's type and counts sequence numbers from 0.
void expect_stream(const std::vector<Event>& actual, std::string_view golden) {
  const auto expected = parse_sse(golden);
  ASSERT_EQ(actual.size(), expected.size());
  for (std::size_t i = 0; i < actual.size(); ++i) {
    SCOPED_TRACE("event " + std::to_string(i) + " " + actual[i].type);
    EXPECT_EQ(actual[i].type, expected[i].type);
    EXPECT_TRUE(json_equal(actual[i].data, expected[i].data));
    const auto data = json::parse(actual[i].data).as_object();
    EXPECT_EQ(data.at("type").as_string(), actual[i].type);
    EXPECT_EQ(data.at("sequence_number").as_int64(), static_cast<std::int64_t>(i));
  }
}

std::vector<std::string> types(const std::vector<Event>& events) {
  std::vector<std::string> t;
  for (const auto& e : events) t.push_back(e.type);
  return t;
}

Delta delta(Delta::Kind kind, std::string text = {}) {
  Delta d;
  d.kind = kind;
  d.text = std::move(text);
  return d;
}

Delta start_delta() {
  Delta d = delta(Delta::Kind::kStart);
  d.id = "resp_67ccd2bed1ec8190";
  d.created = 1741476542;
  return d;
}

Delta finish_delta(StopReason reason) {
  Delta d = delta(Delta::Kind::kFinish);
  d.stop_reason = reason;
  return d;
}

Delta usage_delta(std::int64_t prompt, std::int64_t completion, std::int64_t cached,
                  std::int64_t reasoning) {
  Delta d = delta(Delta::Kind::kUsage);
  d.usage.prompt_tokens = prompt;
  d.usage.completion_tokens = completion;
  d.usage.cache_read_tokens = cached;
  d.usage.reasoning_tokens = reasoning;
  return d;
}

Delta tool_call_delta(int index, std::string id, std::string name) {
  Delta d = delta(Delta::Kind::kToolCall);
  d.index = index;
  d.id = std::move(id);
  d.name = std::move(name);
  return d;
}

Delta arguments_delta(int index, std::string text) {
  Delta d = delta(Delta::Kind::kToolArguments, std::move(text));
  d.index = index;
  return d;
}

TEST(ResponsesStream, StreamsTextAnswerWithItsLifecycleEvents) {
  const auto events = encode_stream(
      {start_delta(), delta(Delta::Kind::kText, "Hi"), delta(Delta::Kind::kText, " there!"),
       finish_delta(StopReason::kEndTurn), usage_delta(37, 11, 0, 0), delta(Delta::Kind::kDone)});
  EXPECT_EQ(types(events), (std::vector<std::string>{
                               "response.created",
                               "response.in_progress",
                               "response.output_item.added",
                               "response.content_part.added",
                               "response.output_text.delta",
                               "response.output_text.delta",
                               "response.output_text.done",
                               "response.content_part.done",
                               "response.output_item.done",
                               "response.completed",
                           }));
  expect_stream(events, fixture("responses/stream_text.sse"));

  const auto completed = json::parse(events.back().data).at("response");
  EXPECT_EQ(completed.at("status"), "completed");
  EXPECT_EQ(completed.at("output").at(0).at("content").at(0).at("text"), "Hi there!");
  EXPECT_EQ(completed.at("usage").at("total_tokens"), 48);
}

TEST(ResponsesStream, StreamsReasoningAndToolCallsWithTheirFullArguments) {
  Delta signature = delta(Delta::Kind::kSignature, "sig-1");
  Request request;
  request.temperature = 0.5;
  request.tool_choice.emplace();
  request.tool_choice->mode = ToolChoice::Mode::kRequired;
  const auto events = encode_stream(
      {start_delta(), delta(Delta::Kind::kThinking, "Need the weather."), signature,
       tool_call_delta(0, "call_1", "get_weather"), arguments_delta(0, R"({"location":)"),
       arguments_delta(0, R"("Paris"})"), tool_call_delta(1, "call_2", "get_time"),
       arguments_delta(1, "{}"), finish_delta(StopReason::kToolUse), usage_delta(80, 40, 64, 12),
       delta(Delta::Kind::kDone)},
      request);
  EXPECT_EQ(types(events), (std::vector<std::string>{
                               "response.created",
                               "response.in_progress",
                               "response.output_item.added",
                               "response.reasoning_summary_part.added",
                               "response.reasoning_summary_text.delta",
                               "response.reasoning_summary_text.done",
                               "response.reasoning_summary_part.done",
                               "response.output_item.done",
                               "response.output_item.added",
                               "response.function_call_arguments.delta",
                               "response.function_call_arguments.delta",
                               "response.function_call_arguments.done",
                               "response.output_item.done",
                               "response.output_item.added",
                               "response.function_call_arguments.delta",
                               "response.function_call_arguments.done",
                               "response.output_item.done",
                               "response.completed",
                           }));
  expect_stream(events, fixture("responses/stream_tool_call.sse"));

  const auto completed = json::parse(events.back().data).at("response");
  const auto& output = completed.at("output").as_array();
  ASSERT_EQ(output.size(), 3u);
  EXPECT_EQ(output[0].at("encrypted_content"), "sig-1");
  EXPECT_EQ(output[1].at("arguments"), R"({"location":"Paris"})");
  EXPECT_EQ(output[2].at("call_id"), "call_2");
  EXPECT_EQ(completed.at("usage").at("input_tokens_details").at("cached_tokens"), 64);
  EXPECT_EQ(completed.at("tool_choice"), "required");
  EXPECT_EQ(completed.at("temperature"), 0.5);
}

TEST(ResponsesStream, EndsCutShortStreamWithResponseIncomplete) {
  const auto events =
      encode_stream({start_delta(), delta(Delta::Kind::kText, "Once upon"),
                     finish_delta(StopReason::kMaxTokens), delta(Delta::Kind::kDone)});
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back().type, "response.incomplete");
  const auto response = json::parse(events.back().data).at("response");
  EXPECT_EQ(response.at("status"), "incomplete");
  EXPECT_EQ(response.at("incomplete_details").at("reason"), "max_output_tokens");
  EXPECT_EQ(response.at("output").at(0).at("status"), "incomplete");
  EXPECT_TRUE(response.at("usage").is_null());
}

TEST(ResponsesStream, EndsWithOneErrorEventAndNothingAfter) {
  Delta failure = delta(Delta::Kind::kError);
  failure.error = base::make_error(base::ErrorCode::kUpstreamUnreachable, "upstream went away");
  const auto events = encode_stream({start_delta(), delta(Delta::Kind::kText, "Hel"), failure,
                                     delta(Delta::Kind::kText, "lo"), delta(Delta::Kind::kDone)});
  ASSERT_EQ(events.size(), 6u);
  EXPECT_EQ(events.back().type, "error");
  EXPECT_TRUE(json_equal(events.back().data, R"({"type":"error","sequence_number":5,
      "code":"upstream_unreachable","message":"upstream went away","param":null})"));
}

}  // namespace
}  // namespace shepherd::translate::responses_test
