#include "api/openai.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <cstdint>
#include <limits>
#include <ostream>
#include <string>
#include <string_view>

#include "api/json_scan.hpp"

namespace shepherd::api {
namespace {

namespace json = boost::json;
using base::ErrorCode;

constexpr int kDepth = 64;
constexpr std::string_view kMessages = R"([{"role":"user","content":"hi"}])";

std::string body_with(std::string_view extra) {
  std::string body = R"({"model":"alias","messages":)" + std::string(kMessages);
  if (!extra.empty()) body += "," + std::string(extra);
  return body + "}";
}

json::object parse_object(std::string_view text) {
  boost::system::error_code ec;
  auto v = json::parse(json::string_view(text.data(), text.size()), ec);
  EXPECT_FALSE(ec) << "not JSON: " << text;
  EXPECT_TRUE(v.is_object()) << "not an object: " << text;
  return v.is_object() ? v.get_object() : json::object{};
}

std::string str(const json::value& v) {
  EXPECT_TRUE(v.is_string()) << json::serialize(v);
  return v.is_string() ? std::string(v.get_string()) : std::string();
}

// Valid UTF-8 (no truncated or stray sequences); enough for the checks below.
bool valid_utf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    std::size_t n = c < 0x80           ? 1
                    : (c >> 5) == 0x6  ? 2
                    : (c >> 4) == 0xe  ? 3
                    : (c >> 3) == 0x1e ? 4
                                       : 0;
    if (n == 0 || i + n > s.size()) return false;
    for (std::size_t k = 1; k < n; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) >> 6) != 0x2) return false;
    }
    i += n;
  }
  return true;
}

// --- parse_chat_request -----------------------------------------------------------------------

TEST(ParseChatRequest, AcceptsValidBody) {
  const auto r = parse_chat_request(
      R"({"model":"gpt-4o","messages":[{"role":"system","content":"x"},{"role":"user","content":[{"type":"text","text":"hi"}]}],"temperature":0.2})",
      kDepth);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->model, "gpt-4o");
  EXPECT_FALSE(r->stream);
  EXPECT_FALSE(r->client_wants_usage);
}

TEST(ParseChatRequest, DecodesEscapesInModel) {
  const auto r =
      parse_chat_request(R"({"model":"a\"b\u00e9","messages":[{"role":"user"}]})", kDepth);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->model, "a\"b\xc3\xa9");
}

TEST(ParseChatRequest, ReadsStreamAndIncludeUsage) {
  auto r = parse_chat_request(body_with(R"("stream":true)"), kDepth);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->stream);
  EXPECT_FALSE(r->client_wants_usage);

  r = parse_chat_request(body_with(R"("stream":true,"stream_options":{"include_usage":true})"),
                         kDepth);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->stream);
  EXPECT_TRUE(r->client_wants_usage);

  r = parse_chat_request(body_with(R"("stream":false,"stream_options":{"include_usage":false})"),
                         kDepth);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->stream);
  EXPECT_FALSE(r->client_wants_usage);
}

TEST(ParseChatRequest, ReadsMaxTokensTakingTheLargerOfBothNames) {
  EXPECT_FALSE(parse_chat_request(body_with(R"("stream":false)"), kDepth)->max_tokens);
  EXPECT_EQ(parse_chat_request(body_with(R"("max_tokens":64)"), kDepth)->max_tokens, 64);
  EXPECT_EQ(parse_chat_request(body_with(R"("max_completion_tokens":900,"max_tokens":64)"), kDepth)
                ->max_tokens,
            900);
  EXPECT_EQ(
      parse_chat_request(body_with(R"("max_tokens":18446744073709551615)"), kDepth)->max_tokens,
      std::numeric_limits<std::int64_t>::max());
  // Not an integer: no estimate from it (validation of the value is the upstream's job).
  EXPECT_FALSE(parse_chat_request(body_with(R"("max_tokens":"64")"), kDepth)->max_tokens);
}

TEST(PreambleChunk, IsTheRoleChunkWithoutContent) {
  EXPECT_TRUE(is_preamble_chunk(
      R"({"id":"c","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]})"));
  EXPECT_TRUE(is_preamble_chunk(R"({"choices":[{"delta":{"role":"assistant"}}]})"));
  EXPECT_TRUE(is_preamble_chunk(R"({"choices":[{"delta":{"role":"assistant","refusal":null}}]})"));
}

TEST(PreambleChunk, AnythingWithSubstanceIsNot) {
  EXPECT_FALSE(is_preamble_chunk(R"({"choices":[{"delta":{"content":"Hi"}}]})"));
  EXPECT_FALSE(is_preamble_chunk(R"({"choices":[{"delta":{"role":"assistant","content":"Hi"}}]})"));
  EXPECT_FALSE(is_preamble_chunk(R"({"choices":[{"delta":{"tool_calls":[{"index":0}]}}]})"));
  EXPECT_FALSE(is_preamble_chunk(R"({"choices":[{"delta":{},"finish_reason":"stop"}]})"));
  EXPECT_FALSE(is_preamble_chunk(R"({"choices":[]})"));
  EXPECT_FALSE(is_preamble_chunk(R"({"choices":[{"delta":{"refusal":"no"}}]})"));
  EXPECT_FALSE(is_preamble_chunk("not json"));
}

TEST(ParseChatRequest, NullStreamFieldsMeanAbsent) {
  auto r = parse_chat_request(body_with(R"("stream":null,"stream_options":null)"), kDepth);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->stream);
  r = parse_chat_request(body_with(R"("stream":true,"stream_options":{"include_usage":null})"),
                         kDepth);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->stream);
  EXPECT_FALSE(r->client_wants_usage);
}

struct BadRequestCase {
  const char* name;
  std::string body;
  std::string param;
};
void PrintTo(const BadRequestCase& c, std::ostream* os) { *os << c.name; }

class ParseChatRequestErrors : public ::testing::TestWithParam<BadRequestCase> {};

TEST_P(ParseChatRequestErrors, IsBadRequestNamingTheParam) {
  const auto& c = GetParam();
  const auto r = parse_chat_request(c.body, kDepth);
  ASSERT_FALSE(r.ok()) << c.body;
  EXPECT_EQ(r.error().code, ErrorCode::kBadRequest);
  EXPECT_EQ(r.error().param, c.param);
  EXPECT_FALSE(r.error().message.empty());
}

INSTANTIATE_TEST_SUITE_P(
    OpenAi, ParseChatRequestErrors,
    ::testing::Values(
        BadRequestCase{"InvalidJson", R"({"model":"m","messages":[)", ""},
        BadRequestCase{"EmptyBody", "", ""},
        BadRequestCase{"TrailingGarbage", body_with("") + "x", ""},
        BadRequestCase{"NotAnObject", R"([{"model":"m"}])", ""},
        BadRequestCase{"StringBody", R"("hello")", ""},
        BadRequestCase{"MissingModel", R"({"messages":[{"role":"user"}]})", "model"},
        BadRequestCase{"EmptyModel", R"({"model":"","messages":[{"role":"user"}]})", "model"},
        BadRequestCase{"NumberModel", R"({"model":4,"messages":[{"role":"user"}]})", "model"},
        BadRequestCase{"NullModel", R"({"model":null,"messages":[{"role":"user"}]})", "model"},
        BadRequestCase{"MissingMessages", R"({"model":"m"})", "messages"},
        BadRequestCase{"EmptyMessages", R"({"model":"m","messages":[]})", "messages"},
        BadRequestCase{"ObjectMessages", R"({"model":"m","messages":{"role":"user"}})", "messages"},
        BadRequestCase{"StringMessages", R"({"model":"m","messages":"hi"})", "messages"},
        BadRequestCase{"MessageWithoutRole",
                       R"({"model":"m","messages":[{"role":"user"},{"content":"x"}]})", "messages"},
        BadRequestCase{"MessageRoleNotString", R"({"model":"m","messages":[{"role":1}]})",
                       "messages"},
        BadRequestCase{"MessageNotObject", R"({"model":"m","messages":["hi"]})", "messages"},
        BadRequestCase{"StreamString", body_with(R"("stream":"true")"), "stream"},
        BadRequestCase{"StreamNumber", body_with(R"("stream":1)"), "stream"},
        BadRequestCase{"StreamOptionsNotObject", body_with(R"("stream_options":true)"),
                       "stream_options"},
        BadRequestCase{"StreamOptionsArray", body_with(R"("stream_options":[])"), "stream_options"},
        BadRequestCase{"DuplicateModelKey",
                       R"({"model":"a","model":"b","messages":[{"role":"user"}]})", ""},
        BadRequestCase{"DuplicateOtherKey", body_with(R"("temperature":1,"temperature":2)"), ""},
        BadRequestCase{"DuplicateAfterUnescaping", body_with(R"("n":1,"\u006e":2)"), ""},
        BadRequestCase{"EscapedModelKey", R"({"m\u006fdel":"a","messages":[{"role":"user"}]})",
                       "model"},
        BadRequestCase{"EscapedStreamOptionsKey",
                       body_with(R"("stream":true,"stream_opti\u006fns":{"include_usage":false})"),
                       "stream_options"},
        BadRequestCase{"IncludeUsageNotBool",
                       body_with(R"("stream_options":{"include_usage":"yes"})"), "stream_options"}),
    [](const auto& test_param) { return std::string(test_param.param.name); });

TEST(ParseChatRequest, AcceptsEscapesInKeysShepherdDoesNotRewrite) {
  const auto r = parse_chat_request(body_with(R"("temp\u0065rature":1)"), kDepth);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->model, "alias");
}

TEST(ParseChatRequest, DuplicateKeysInsideNestedObjectsAreNotTopLevelDuplicates) {
  const auto r = parse_chat_request(
      R"({"model":"m","messages":[{"role":"user","role":"system"}],"x":{"model":1,"model":2}})",
      kDepth);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->model, "m");
}

TEST(ParseChatRequest, MessageErrorNamesTheIndex) {
  const auto r =
      parse_chat_request(R"({"model":"m","messages":[{"role":"user"},{"content":"x"}]})", kDepth);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("messages[1]"), std::string::npos) << r.error().message;
}

TEST(ParseChatRequest, NestingUpToMaxDepthIsAccepted) {
  // object > array > object: depth 3.
  const std::string body = R"({"model":"m","messages":[{"role":"user"}]})";
  EXPECT_TRUE(parse_chat_request(body, 3).ok());
  const auto r = parse_chat_request(body, 2);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kBadRequest);
  EXPECT_NE(r.error().message.find("deeper than 2"), std::string::npos) << r.error().message;
}

TEST(ParseChatRequest, DeepNestingInsideContentIsRefused) {
  std::string deep;
  for (int i = 0; i < 100; ++i) deep += "[";
  for (int i = 0; i < 100; ++i) deep += "]";
  const auto r = parse_chat_request(
      R"({"model":"m","messages":[{"role":"user","content":)" + deep + "}]}", kDepth);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kBadRequest);
  EXPECT_NE(r.error().message.find("deeper than 64"), std::string::npos) << r.error().message;
}

TEST(ParseChatRequest, LargeBodyBeyondStackBufferParses) {
  const std::string content(100'000, 'x');
  const auto r = parse_chat_request(
      R"({"model":"m","messages":[{"role":"user","content":")" + content + R"("}]})", kDepth);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->model, "m");
}

// --- upstream_chat_body -----------------------------------------------------------------------

ChatRequest parsed(const std::string& body) {
  auto r = parse_chat_request(body, kDepth);
  EXPECT_TRUE(r.ok()) << body;
  return r.ok() ? r.value() : ChatRequest{};
}

TEST(UpstreamChatBody, UnchangedForSameModelWithoutStream) {
  const auto body = body_with(R"("temperature": 0.5 , "stream":false)");
  EXPECT_EQ(upstream_chat_body(body, parsed(body), "alias"), body);
}

TEST(UpstreamChatBody, RenamesModelAndKeepsTheRest) {
  const std::string body =
      R"({ "messages":[{"role":"user","content":"model"}], "model" : "alias", "n":1 })";
  const auto o = parse_object(upstream_chat_body(body, parsed(body), "gpt-4o-2024-08-06"));
  EXPECT_EQ(str(o.at("model")), "gpt-4o-2024-08-06");
  EXPECT_EQ(o.at("messages"), json::parse(R"([{"role":"user","content":"model"}])"));
  EXPECT_EQ(o.at("n"), json::value(1));
  EXPECT_EQ(o.size(), 3u);
}

TEST(UpstreamChatBody, RenameQuotesTheUpstreamModel) {
  const auto body = body_with("");
  const auto out = upstream_chat_body(body, parsed(body), R"(we"ird\name)");
  EXPECT_EQ(str(parse_object(out).at("model")), R"(we"ird\name)");
}

TEST(UpstreamChatBody, AddsIncludeUsageToStreams) {
  const auto body = body_with(R"("stream":true,"temperature":0.5)");
  const auto out = upstream_chat_body(body, parsed(body), "upstream-model");
  const auto o = parse_object(out);
  EXPECT_EQ(str(o.at("model")), "upstream-model");
  EXPECT_EQ(o.at("stream_options").at("include_usage"), json::value(true));
  EXPECT_EQ(o.at("stream"), json::value(true));
  EXPECT_EQ(o.at("temperature"), json::value(0.5));
  EXPECT_EQ(o.at("messages"), json::parse(kMessages));
  EXPECT_EQ(o.size(), 5u);
}

TEST(UpstreamChatBody, AddsIncludeUsageWithoutRenameToBodyWithLeadingWhitespace) {
  const std::string body = "\n  " + body_with(R"("stream":true)");
  const auto out = upstream_chat_body(body, parsed(body), "alias");
  const auto o = parse_object(out);
  EXPECT_EQ(str(o.at("model")), "alias");
  EXPECT_EQ(o.at("stream_options").at("include_usage"), json::value(true));
  EXPECT_EQ(o.at("messages"), json::parse(kMessages));
}

TEST(UpstreamChatBody, SetsIncludeUsageInExistingStreamOptions) {
  const auto body = body_with(R"("stream":true,"stream_options":{"other":1})");
  const auto o = parse_object(upstream_chat_body(body, parsed(body), "up"));
  EXPECT_EQ(str(o.at("model")), "up");
  EXPECT_EQ(o.at("stream_options").at("include_usage"), json::value(true));
  EXPECT_EQ(o.at("stream_options").at("other"), json::value(1));
  EXPECT_EQ(o.at("messages"), json::parse(kMessages));
}

TEST(UpstreamChatBody, TurnsIncludeUsageFalseIntoTrue) {
  const auto body = body_with(R"("stream":true,"stream_options":{"include_usage":false})");
  const auto o = parse_object(upstream_chat_body(body, parsed(body), "alias"));
  EXPECT_EQ(o.at("stream_options").at("include_usage"), json::value(true));
  EXPECT_EQ(str(o.at("model")), "alias");
}

TEST(UpstreamChatBody, ReplacesNullStreamOptions) {
  const auto body = body_with(R"("stream":true,"stream_options":null)");
  const auto o = parse_object(upstream_chat_body(body, parsed(body), "alias"));
  EXPECT_EQ(o.at("stream_options").at("include_usage"), json::value(true));
}

TEST(UpstreamChatBody, UnchangedWhenClientAlreadyAsksForUsage) {
  const auto body = body_with(R"("stream":true,"stream_options":{"include_usage":true})");
  EXPECT_EQ(upstream_chat_body(body, parsed(body), "alias"), body);
}

TEST(UpstreamChatBody, NonStreamDoesNotGetStreamOptions) {
  const auto body = body_with("");
  const auto o = parse_object(upstream_chat_body(body, parsed(body), "up"));
  EXPECT_FALSE(o.contains("stream_options"));
}

// Found by fuzz_json_rewrite: stream_options used to be rewritten through a DOM, whose
// serializer wrote 1e400 as Infinity (not JSON) and lost the digits of large numbers.
TEST(UpstreamChatBody, KeepsEveryOtherByteWhenSettingIncludeUsage) {
  const std::string rest = R"("x":1E400,"seed":123456789012345678901234567890,"t":1.50,"n":-0)";
  const auto body =
      body_with(R"("stream":true,"stream_options":{"include_usage":false,"y":2.0},)" + rest);
  const auto out = upstream_chat_body(body, parsed(body), "up");
  EXPECT_EQ(out, R"({"model":"up","messages":)" + std::string(kMessages) +
                     R"(,"stream":true,"stream_options":{"include_usage":true,"y":2.0},)" + rest +
                     "}");
  parse_object(out);
}

TEST(UpstreamChatBody, AddsIncludeUsageToStreamOptionsInPlace) {
  for (const auto& [options, expected] : {
           std::pair{"null", R"({"include_usage":true})"},
           std::pair{"{ }", R"({"include_usage":true })"},
           std::pair{R"({"other":[1]})", R"({"include_usage":true,"other":[1]})"},
           std::pair{R"({ "include_usage" : null })", R"({ "include_usage" : true })"},
       }) {
    const auto body = body_with(R"("stream":true,"stream_options":)" + std::string(options));
    EXPECT_EQ(upstream_chat_body(body, parsed(body), "alias"),
              body_with(R"("stream":true,"stream_options":)" + std::string(expected)));
  }
}

// stream_options used to be rewritten through a DOM parsed with Boost.JSON's default depth limit
// of 32, below the request limit: an accepted body nested deeper threw.
TEST(UpstreamChatBody, BodyNestedUpToTheLimitWithStreamOptionsDoesNotThrow) {
  const std::string deep = std::string(40, '[') + std::string(40, ']');
  const std::string body = R"({"model":"m","stream":true,"stream_options":{"x":1},"messages":[)"
                           R"({"role":"user","content":)" +
                           deep + "}]}";
  const auto request = parse_chat_request(body, kDepth);
  ASSERT_TRUE(request.ok()) << request.error().message;
  const auto out = upstream_chat_body(body, *request, "up");
  json::parse_options opt;
  opt.max_depth = kDepth;
  boost::system::error_code ec;
  const auto v = json::parse(out, ec, {}, opt);
  ASSERT_FALSE(ec) << out;
  EXPECT_EQ(v.at("stream_options").at("include_usage"), json::value(true));
  EXPECT_EQ(v.at("stream_options").at("x"), json::value(1));
}

// Parsers disagree on which of two equal keys wins: usage is asked for in every spelling.
TEST(UpstreamChatBody, SetsEveryIncludeUsageHoweverSpelled) {
  for (const std::string options : {
           R"({"include_usage":true,"include_usage":false})",
           R"({"include_usage":false,"include_usage":true})",
           R"({"include_usage":true,"include_usage":null})",
           R"({"include\u005fusage":false})",
           R"({"include_usage":true,"include\u005fusage":false})",
       }) {
    const auto body = body_with(R"("stream":true,"stream_options":)" + options);
    const auto request = parse_chat_request(body, kDepth);
    ASSERT_TRUE(request.ok()) << body;
    const auto out = upstream_chat_body(body, *request, "alias");
    const auto so = find_top_level_value(out, "stream_options");
    ASSERT_TRUE(so.has_value()) << out;
    EXPECT_EQ(so->find("false"), std::string_view::npos) << out;
    EXPECT_EQ(so->find("null"), std::string_view::npos) << out;
    EXPECT_EQ(parse_object(out).at("stream_options").at("include_usage"), json::value(true));
  }
}

TEST(ParseChatRequest, ClientWantsUsageOnlyWhenEveryIncludeUsageIsTrue) {
  auto wants = [](std::string_view options) {
    const auto r = parse_chat_request(
        body_with(R"("stream":true,"stream_options":)" + std::string(options)), kDepth);
    EXPECT_TRUE(r.ok()) << options;
    return r.ok() && r->client_wants_usage;
  };
  EXPECT_TRUE(wants(R"({"include_usage":true})"));
  EXPECT_TRUE(wants(R"({"include_usage":true,"include_usage":true})"));
  EXPECT_FALSE(wants(R"({"include_usage":false,"include_usage":true})"));
  EXPECT_FALSE(wants(R"({"include_usage":true,"include_usage":null})"));
  EXPECT_FALSE(wants(R"({"include_usage":null,"include_usage":true})"));
}

// Whatever way a client spells keys, an accepted body must reach the upstream with exactly one
// `model` (the upstream's) and, for streams, include_usage true, so that every JSON parser reads
// the same request Shepherd routed and meters. Refusing such a body is fine too.
TEST(UpstreamChatBody, UpstreamReadsWhatShepherdRoutedHoweverKeysAreSpelled) {
  const std::string msgs = R"("messages":[{"role":"user"}])";
  const std::string bodies[] = {
      R"({"model":"other","model":"alias",)" + msgs + "}",
      R"({"model":"alias","model":"alias",)" + msgs + "}",
      R"({"m\u006fdel":"alias",)" + msgs + "}",
      R"({"model":"alias",)" + msgs + R"(,"m\u006fdel":"other"})",
      R"({"model":"alias","stream":true,)" + msgs +
          R"(,"stream_opti\u006fns":{"include_usage":false}})",
      R"({"model":"alias","stream":true,)" + msgs +
          R"(,"stream_options":{"include_usage":true},"stream_options":{"include_usage":false}})",
      R"({"model":"alias","stream":true,"stream":false,)" + msgs + "}",
  };
  for (const auto& body : bodies) {
    const auto request = parse_chat_request(body, kDepth);
    if (!request.ok()) {
      EXPECT_EQ(request.error().code, ErrorCode::kBadRequest) << body;
      continue;
    }
    const auto out = upstream_chat_body(body, request.value(), "upstream-model");
    EXPECT_EQ(count_top_level_key(out, "model"), 1u) << out;
    const auto o = parse_object(out);
    EXPECT_EQ(count_top_level_key(out, std::nullopt), o.size()) << "duplicate keys in " << out;
    EXPECT_EQ(str(o.at("model")), "upstream-model") << out;
    if (request->stream) {
      EXPECT_EQ(o.at("stream_options").at("include_usage"), json::value(true)) << out;
    }
  }
}

// --- with_model -------------------------------------------------------------------------------

TEST(WithModel, SetsTopLevelModel) {
  EXPECT_EQ(with_model(R"({"id":"c1","model":"gpt-4o-2024","choices":[]})", "gpt-4o"),
            R"({"id":"c1","model":"gpt-4o","choices":[]})");
}

TEST(WithModel, LeavesNestedModelAlone) {
  EXPECT_EQ(with_model(R"({"x":{"model":"a"},"model":"b"})", "c"),
            R"({"x":{"model":"a"},"model":"c"})");
}

TEST(WithModel, UnchangedWithoutModelOrForNonJson) {
  EXPECT_EQ(with_model(R"({"x":{"model":"a"}})", "c"), R"({"x":{"model":"a"}})");
  EXPECT_EQ(with_model("[DONE]", "c"), "[DONE]");
  EXPECT_EQ(with_model("", "c"), "");
}

TEST(WithModel, QuotesTheName) {
  const auto out = with_model(R"({"model":"x"})", "a\"b\n");
  EXPECT_EQ(str(parse_object(out).at("model")), "a\"b\n");
}

// Found by fuzz_json_rewrite: with_model replaced only the first raw "model" key, so an answer
// with two, or with an escaped key, still showed the upstream's model id to most parsers.
TEST(WithModel, SetsEveryTopLevelModelHoweverSpelled) {
  EXPECT_EQ(with_model(R"({"model":"a","x":1,"model":"b"})", "c"),
            R"({"model":"c","x":1,"model":"c"})");
  EXPECT_EQ(with_model(R"({"m\u006fdel":"up","x":{"model":"n"}})", "c"),
            R"({"m\u006fdel":"c","x":{"model":"n"}})");
}

// --- inspect_chunk ----------------------------------------------------------------------------

TEST(InspectChunk, RecognisesDone) {
  const auto r = inspect_chunk("[DONE]");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->kind, ChunkKind::kDone);
  EXPECT_FALSE(r->usage.has_value());
}

TEST(InspectChunk, OrdinaryChunkIsDataWithoutUsage) {
  const auto r = inspect_chunk(
      R"({"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"Hi"}}]})");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->kind, ChunkKind::kData);
  EXPECT_FALSE(r->usage.has_value());
}

TEST(InspectChunk, NullUsageIsNoUsage) {
  const auto r = inspect_chunk(R"({"choices":[{"delta":{}}],"usage":null})");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->kind, ChunkKind::kData);
  EXPECT_FALSE(r->usage.has_value());
}

TEST(InspectChunk, UsageOnlyChunk) {
  const auto r = inspect_chunk(
      R"({"id":"c","choices":[],"usage":{"prompt_tokens":12,"completion_tokens":34,"total_tokens":46}})");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->kind, ChunkKind::kUsageOnly);
  ASSERT_TRUE(r->usage.has_value());
  EXPECT_EQ(r->usage->prompt_tokens, 12);
  EXPECT_EQ(r->usage->completion_tokens, 34);
  EXPECT_EQ(r->usage->total_tokens, 46);
}

TEST(InspectChunk, UsageWithoutChoicesIsUsageOnly) {
  const auto r = inspect_chunk(R"({"usage":{"prompt_tokens":1,"completion_tokens":2}})");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->kind, ChunkKind::kUsageOnly);
  ASSERT_TRUE(r->usage.has_value());
  EXPECT_EQ(r->usage->total_tokens, 3);
}

TEST(InspectChunk, UsageWithChoicesIsDataWithUsage) {
  const auto r = inspect_chunk(
      R"({"choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":{"prompt_tokens":5,"completion_tokens":7,"total_tokens":12}})");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->kind, ChunkKind::kData);
  ASSERT_TRUE(r->usage.has_value());
  EXPECT_EQ(r->usage->prompt_tokens, 5);
  EXPECT_EQ(r->usage->completion_tokens, 7);
  EXPECT_EQ(r->usage->total_tokens, 12);
}

TEST(InspectChunk, ErrorChunk) {
  const auto r = inspect_chunk(R"({"error":{"message":"overloaded","type":"server_error"}})");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->kind, ChunkKind::kError);
}

TEST(InspectChunk, NullErrorIsNotAnError) {
  const auto r = inspect_chunk(R"({"error":null,"choices":[{"delta":{}}]})");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->kind, ChunkKind::kData);
}

TEST(InspectChunk, MalformedChunkIsRetryableUpstreamError) {
  for (std::string_view data : {R"({"choices":[)", "", "DONE", "[1,2]", "\"text\"", "42"}) {
    const auto r = inspect_chunk(data);
    ASSERT_FALSE(r.ok()) << data;
    EXPECT_EQ(r.error().code, ErrorCode::kUpstreamUnreachable) << data;
    EXPECT_TRUE(r.error().retryable) << data;
  }
}

// --- inspect_completion -----------------------------------------------------------------------

TEST(InspectCompletion, ExtractsUsage) {
  const auto r = inspect_completion(
      R"({"id":"x","choices":[{"message":{"role":"assistant","content":"hi"}}],"usage":{"prompt_tokens":100,"completion_tokens":20,"total_tokens":120,"prompt_tokens_details":{"cached_tokens":0}}})");
  ASSERT_TRUE(r.ok());
  ASSERT_TRUE(r->has_value());
  EXPECT_EQ((*r)->prompt_tokens, 100);
  EXPECT_EQ((*r)->completion_tokens, 20);
  EXPECT_EQ((*r)->total_tokens, 120);
}

TEST(InspectCompletion, ReadsCachedAndReasoningTokens) {
  const auto u = inspect_completion(
      R"({"choices":[],"usage":{"prompt_tokens":100,"completion_tokens":40,"total_tokens":140,)"
      R"("prompt_tokens_details":{"cached_tokens":64,"audio_tokens":0},)"
      R"("completion_tokens_details":{"reasoning_tokens":25}}})");
  ASSERT_TRUE(u.ok() && u->has_value());
  EXPECT_EQ((*u)->cached_tokens, 64);
  EXPECT_EQ((*u)->reasoning_tokens, 25);
  // Details that are null, malformed or larger than their totals do not spoil the usage.
  const auto odd = inspect_completion(
      R"({"usage":{"prompt_tokens":10,"completion_tokens":5,"total_tokens":15,)"
      R"("prompt_tokens_details":null,"completion_tokens_details":{"reasoning_tokens":99}}})");
  ASSERT_TRUE(odd.ok() && odd->has_value());
  EXPECT_EQ((*odd)->cached_tokens, 0);
  EXPECT_EQ((*odd)->reasoning_tokens, 5);
  EXPECT_EQ((*odd)->total_tokens, 15);
}

TEST(InspectCompletion, ComputesMissingTotal) {
  const auto r = inspect_completion(R"({"usage":{"prompt_tokens":9,"completion_tokens":4}})");
  ASSERT_TRUE(r.ok());
  ASSERT_TRUE(r->has_value());
  EXPECT_EQ((*r)->total_tokens, 13);
}

TEST(InspectCompletion, MissingFieldsCountAsZero) {
  const auto r = inspect_completion(R"({"usage":{"completion_tokens":4,"total_tokens":null}})");
  ASSERT_TRUE(r.ok());
  ASSERT_TRUE(r->has_value());
  EXPECT_EQ((*r)->prompt_tokens, 0);
  EXPECT_EQ((*r)->completion_tokens, 4);
  EXPECT_EQ((*r)->total_tokens, 4);
}

TEST(InspectCompletion, NoUsage) {
  for (std::string_view body :
       {R"({"choices":[]})", R"({"usage":null})", R"({"usage":"many"})", R"({"usage":[1]})"}) {
    const auto r = inspect_completion(body);
    ASSERT_TRUE(r.ok()) << body;
    EXPECT_FALSE(r->has_value()) << body;
  }
}

TEST(InspectCompletion, InvalidTokenCountsGiveNoUsage) {
  for (std::string_view body : {R"({"usage":{"prompt_tokens":-1,"completion_tokens":2}})",
                                R"({"usage":{"prompt_tokens":"3","completion_tokens":2}})"}) {
    const auto r = inspect_completion(body);
    ASSERT_TRUE(r.ok()) << body;
    EXPECT_FALSE(r->has_value()) << body;
  }
}

TEST(InspectCompletion, HugeTokenCountIsNotSilentlyHalved) {
  // 2^63 does not fit an int64; it may be clamped or refused, but not turned into 2^62.
  const auto r = inspect_completion(
      R"({"usage":{"prompt_tokens":9223372036854775808,"completion_tokens":1}})");
  ASSERT_TRUE(r.ok());
  if (r->has_value()) {
    EXPECT_EQ((*r)->prompt_tokens, std::numeric_limits<std::int64_t>::max());
  }
}

TEST(InspectCompletion, ComputedTotalDoesNotOverflow) {
  // Both counts fit an int64 but their sum does not; the total must not wrap around.
  const auto r = inspect_completion(
      R"({"usage":{"prompt_tokens":9223372036854775807,"completion_tokens":1}})");
  ASSERT_TRUE(r.ok());
  if (r->has_value()) {
    EXPECT_GE((*r)->total_tokens, (*r)->prompt_tokens);
    EXPECT_GE((*r)->total_tokens, (*r)->completion_tokens);
  }
}

TEST(InspectCompletion, MalformedBodyIsRetryableUpstreamError) {
  for (std::string_view body : {"<html>502</html>", "", R"({"usage":)", "[]"}) {
    const auto r = inspect_completion(body);
    ASSERT_FALSE(r.ok()) << body;
    EXPECT_EQ(r.error().code, ErrorCode::kUpstreamUnreachable);
    EXPECT_TRUE(r.error().retryable);
  }
}

// --- models_body ------------------------------------------------------------------------------

TEST(ModelsBody, ListsModels) {
  const auto o = parse_object(models_body({"a", "b\"c"}, 1700000000));
  EXPECT_EQ(str(o.at("object")), "list");
  const auto& data = o.at("data").as_array();
  ASSERT_EQ(data.size(), 2u);
  EXPECT_EQ(str(data[0].at("id")), "a");
  EXPECT_EQ(str(data[1].at("id")), "b\"c");
  EXPECT_EQ(str(data[1].at("object")), "model");
  EXPECT_EQ(data[1].at("created").to_number<long>(), 1700000000);
  EXPECT_EQ(str(data[1].at("owned_by")), "shepherd");
}

TEST(ModelsBody, EmptyList) {
  const auto o = parse_object(models_body({}, 0));
  EXPECT_TRUE(o.at("data").as_array().empty());
}

// --- error_body -------------------------------------------------------------------------------

struct ErrorCase {
  const char* name;
  ErrorCode code;
  int status;
  std::string param;
  std::string type;
  std::string error_code;
};
void PrintTo(const ErrorCase& c, std::ostream* os) { *os << c.name; }

class ErrorBodyShape : public ::testing::TestWithParam<ErrorCase> {};

TEST_P(ErrorBodyShape, HasMessageTypeParamAndCode) {
  const auto& c = GetParam();
  auto e = base::make_error(c.code, "something \"went\" wrong\n", "secret detail");
  e.status = c.status;
  e.param = c.param;
  const auto text = error_body(e);
  EXPECT_EQ(text.find("secret detail"), std::string::npos);
  const auto root = parse_object(text);
  ASSERT_EQ(root.size(), 1u);
  const auto& inner = root.at("error").as_object();
  EXPECT_EQ(inner.size(), 4u);
  EXPECT_EQ(str(inner.at("message")), "something \"went\" wrong\n");
  EXPECT_EQ(str(inner.at("type")), c.type);
  if (c.param.empty()) {
    EXPECT_TRUE(inner.at("param").is_null());
  } else {
    EXPECT_EQ(str(inner.at("param")), c.param);
  }
  EXPECT_EQ(str(inner.at("code")), c.error_code);
}

INSTANTIATE_TEST_SUITE_P(
    OpenAi, ErrorBodyShape,
    ::testing::Values(
        ErrorCase{"BadRequest", ErrorCode::kBadRequest, 0, "messages", "invalid_request_error",
                  "bad_request"},
        ErrorCase{"Unauthorized", ErrorCode::kUnauthorized, 0, "", "authentication_error",
                  "invalid_api_key"},
        ErrorCase{"Forbidden", ErrorCode::kForbidden, 0, "", "permission_error", "forbidden"},
        ErrorCase{"ModelNotFound", ErrorCode::kModelNotFound, 0, "model", "not_found_error",
                  "model_not_found"},
        ErrorCase{"NotFound", ErrorCode::kNotFound, 0, "", "not_found_error", "not_found"},
        ErrorCase{"PayloadTooLarge", ErrorCode::kPayloadTooLarge, 0, "", "invalid_request_error",
                  "payload_too_large"},
        ErrorCase{"RateLimited", ErrorCode::kRateLimited, 0, "", "rate_limit_error",
                  "rate_limit_exceeded"},
        ErrorCase{"Upstream429", ErrorCode::kUpstreamStatus, 429, "", "rate_limit_error",
                  "rate_limit_exceeded"},
        ErrorCase{"Upstream503", ErrorCode::kUpstreamStatus, 503, "", "server_error",
                  "upstream_error"},
        ErrorCase{"Upstream400", ErrorCode::kUpstreamStatus, 400, "", "invalid_request_error",
                  "upstream_error"},
        ErrorCase{"UpstreamTimeout", ErrorCode::kUpstreamTimeout, 0, "", "timeout_error",
                  "upstream_timeout"},
        ErrorCase{"UpstreamUnreachable", ErrorCode::kUpstreamUnreachable, 0, "", "server_error",
                  "upstream_unreachable"},
        ErrorCase{"Unavailable", ErrorCode::kUnavailable, 0, "", "server_error", "unavailable"},
        ErrorCase{"Internal", ErrorCode::kInternal, 0, "", "server_error", "internal"}),
    [](const auto& test_param) { return std::string(test_param.param.name); });

// --- upstream_error_message -------------------------------------------------------------------

TEST(UpstreamErrorMessage, ExtractsErrorMessage) {
  EXPECT_EQ(
      upstream_error_message(
          R"({"error":{"message":"Rate limit reached for gpt-4o","type":"requests","code":"rate_limit_exceeded"}})"),
      "Rate limit reached for gpt-4o");
}

TEST(UpstreamErrorMessage, AcceptsStringErrorAndTopLevelMessage) {
  EXPECT_EQ(upstream_error_message(R"({"error":"model overloaded"})"), "model overloaded");
  EXPECT_EQ(upstream_error_message(R"({"message":"bad key"})"), "bad key");
}

TEST(UpstreamErrorMessage, FallsBackToExcerptWithoutMessage) {
  EXPECT_EQ(upstream_error_message(R"({"error":{"code":500}})"), R"({"error":{"code":500}})");
  EXPECT_EQ(upstream_error_message(R"({"error":{"message":42}})"), R"({"error":{"message":42}})");
  EXPECT_EQ(upstream_error_message("Bad Gateway"), "Bad Gateway");
  EXPECT_EQ(upstream_error_message(""), "");
}

TEST(UpstreamErrorMessage, ExcerptReplacesControlCharacters) {
  const std::string body = std::string("<html>\r\n<body>\tBad\x01gateway") + '\0' + "</body>";
  const auto msg = upstream_error_message(body);
  EXPECT_EQ(msg, std::string("<html>  <body> Bad gateway </body>"));
}

TEST(UpstreamErrorMessage, CapsMessageAt500Bytes) {
  const std::string long_message(600, 'm');
  const auto msg = upstream_error_message(R"({"error":{"message":")" + long_message + R"("}})");
  EXPECT_EQ(msg, std::string(500, 'm'));
}

TEST(UpstreamErrorMessage, CapsExcerptAt500Bytes) {
  const auto msg = upstream_error_message(std::string(499, 'a') + std::string(100, 'b'));
  EXPECT_EQ(msg, std::string(499, 'a') + "b");
}

TEST(UpstreamErrorMessage, CapDoesNotCutUtf8Character) {
  // 499 ASCII bytes then a two-byte character straddling the 500-byte cap.
  const std::string message = std::string(499, 'm') + "\xc3\xa9 and more";
  const auto msg = upstream_error_message(R"({"error":{"message":")" + message + R"("}})");
  EXPECT_LE(msg.size(), 500u);
  EXPECT_TRUE(valid_utf8(msg)) << "message ends in a truncated UTF-8 sequence";
  EXPECT_EQ(msg.substr(0, 499), std::string(499, 'm'));
}

}  // namespace
}  // namespace shepherd::api
