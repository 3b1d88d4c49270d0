#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "fastchat/protocol.hpp"
#include "fastchat/protocol_test_fixtures.hpp"

namespace shepherd::fastchat {
namespace {

namespace json = boost::json;
using base::ErrorCode;
using namespace std::string_literals;
using namespace test_fixtures;

// ---------------------------------------------------------------------------------------------
// Malformed bodies

// Every parser, as a function giving the error (nullopt on success).
using Parser = std::function<std::optional<base::Error>(std::string_view)>;

template <typename T>
Parser as_parser(base::Result<T> (*parse)(std::string_view)) {
  return [parse](std::string_view body) -> std::optional<base::Error> {
    auto r = parse(body);
    if (r.ok()) return std::nullopt;
    return r.error();
  };
}

const std::vector<std::pair<std::string, Parser>>& all_parsers() {
  static const std::vector<std::pair<std::string, Parser>> parsers = {
      {"worker_status", as_parser(parse_worker_status)},
      {"register_worker", as_parser(parse_register_worker)},
      {"heart_beat", as_parser(parse_heart_beat)},
      {"heart_beat_answer", as_parser(parse_heart_beat_answer)},
      {"model_list", as_parser(parse_model_list)},
      {"model_request", as_parser(parse_model_request)},
      {"worker_address", as_parser(parse_worker_address)},
      {"count_token_request", as_parser(parse_count_token_request)},
      {"count_token_answer", as_parser(parse_count_token_answer)},
      {"model_details", as_parser(parse_model_details)},
      {"embeddings_request", as_parser(parse_embeddings_request)},
      {"embeddings_answer", as_parser(parse_embeddings_answer)},
      {"generate_params", as_parser(parse_generate_params)},
      {"generate_chunk", as_parser(parse_generate_chunk)},
  };
  return parsers;
}

std::string nested(int depth) {
  return R"({"x": )" + std::string(static_cast<std::size_t>(depth), '[') +
         std::string(static_cast<std::size_t>(depth), ']') + "}";
}

TEST(MalformedBody, EveryParserRejectsNonObjectsAndBrokenJsonAsBadRequest) {
  const std::vector<std::string> bodies = {
      "",
      "not json",
      "[]",
      R"("a string")",
      "null",
      "42",
      "{",
      R"({"model": "m",})",
      R"({"model": "m"} trailing)",
      R"({"model": "m" /* comment */})",
      R"({'model': 'm'})",
      R"({"model": NaN})",
      "{\"model\": \"a\xFF\"}",         // invalid UTF-8 in a string
      "{\"model\": \"\xC0\xAF\"}",      // overlong encoding
      "{\"model\": \"\xED\xA0\x80\"}",  // an encoded surrogate
      "{\"model\": \"\xE2\x82\"}",      // truncated sequence
      R"({"model": "\ud800"})",         // lone surrogate escape
      R"({"model": "\x41"})",           // not a JSON escape
      "{\"model\": \"a\nb\"}",          // raw control character in a string
      "{\"model\": \"m\"}\0"s,          // a NUL after the object
      nested(40),
  };
  for (const auto& [name, parse] : all_parsers()) {
    for (const auto& body : bodies) {
      const auto error = parse(body);
      ASSERT_TRUE(error.has_value()) << name << " accepted: " << body;
      EXPECT_EQ(error->code, ErrorCode::kBadRequest) << name << ": " << body;
      EXPECT_FALSE(error->message.empty()) << name << ": " << body;
    }
  }
}

TEST(MalformedBody, NestingBeyondTheLimitIsNamedInTheMessage) {
  // The object and 32 arrays: 33 levels.
  const auto deep = parse_generate_chunk(nested(static_cast<int>(kMaxJsonDepth)));
  ASSERT_FALSE(deep.ok());
  EXPECT_EQ(deep.error().code, ErrorCode::kBadRequest);
  EXPECT_NE(deep.error().message.find("deeper than 32"), std::string::npos) << deep.error().message;
  // One level less fits: the object itself is the first level.
  const auto ok = parse_generate_params(R"({"model": "m", "prompt": "p", "x": )" +
                                        std::string(kMaxJsonDepth - 1, '[') +
                                        std::string(kMaxJsonDepth - 1, ']') + "}");
  EXPECT_TRUE(ok.ok()) << ok.error().message;
}

struct BadField {
  std::string parser;
  std::string body;
  std::string param;  // the field the error must name
};

TEST(MalformedBody, WrongTypesAndMissingFieldsNameTheField) {
  const std::vector<BadField> cases = {
      {"worker_status", R"({"speed": 1, "queue_length": 0})", "model_names"},
      {"worker_status", R"({"model_names": "m", "speed": 1, "queue_length": 0})", "model_names"},
      {"worker_status", R"({"model_names": ["a", 1], "speed": 1, "queue_length": 0})",
       "model_names[1]"},
      {"worker_status", R"({"model_names": [], "speed": "1", "queue_length": 0})", "speed"},
      {"worker_status", R"({"model_names": [], "speed": -1, "queue_length": 0})", "speed"},
      {"worker_status", R"({"model_names": [], "speed": true, "queue_length": 0})", "speed"},
      {"worker_status", R"({"model_names": [], "speed": 1e400, "queue_length": 0})", "speed"},
      {"worker_status", R"({"model_names": [], "speed": 1, "queue_length": 1.5})", "queue_length"},
      {"worker_status", R"({"model_names": [], "speed": 1, "queue_length": -1})", "queue_length"},
      {"worker_status", R"({"model_names": [], "speed": 1})", "queue_length"},
      {"register_worker", R"({"check_heart_beat": true})", "worker_name"},
      {"register_worker", R"({"worker_name": "", "check_heart_beat": true})", "worker_name"},
      {"register_worker", R"({"worker_name": 5, "check_heart_beat": true})", "worker_name"},
      {"register_worker", R"({"worker_name": "http://w:1"})", "check_heart_beat"},
      {"register_worker", R"({"worker_name": "http://w:1", "check_heart_beat": 1})",
       "check_heart_beat"},
      {"register_worker", R"({"worker_name": "http://w:1", "check_heart_beat": null})",
       "check_heart_beat"},
      {"register_worker",
       R"({"worker_name": "http://w:1", "check_heart_beat": true, "worker_status": []})",
       "worker_status"},
      {"register_worker",
       R"({"worker_name": "http://w:1", "check_heart_beat": true, "worker_status": {"model_names": ["m"], "speed": "fast", "queue_length": 0}})",
       "worker_status.speed"},
      {"register_worker",
       R"({"worker_name": "http://w:1", "check_heart_beat": true, "worker_status": {"model_names": ["m"]}})",
       "worker_status.speed"},
      {"register_worker",
       R"({"worker_name": "http://w:1", "check_heart_beat": true, "multimodal": "yes"})",
       "multimodal"},
      {"heart_beat", R"({"queue_length": 0})", "worker_name"},
      {"heart_beat", R"({"worker_name": "http://w:1"})", "queue_length"},
      {"heart_beat", R"({"worker_name": "http://w:1", "queue_length": "0"})", "queue_length"},
      {"heart_beat", R"({"worker_name": "http://w:1", "queue_length": 1e19})", "queue_length"},
      {"heart_beat", R"({"worker_name": "http://w:1", "queue_length": 18446744073709551615})",
       "queue_length"},
      {"heart_beat_answer", R"({})", "exist"},
      {"heart_beat_answer", R"({"exist": "true"})", "exist"},
      {"model_list", R"({})", "models"},
      {"model_list", R"({"models": [null]})", "models[0]"},
      {"model_request", R"({"model": ["m"]})", "model"},
      {"model_request", R"({})", "model"},
      {"worker_address", R"({"address": null})", "address"},
      {"worker_address", R"({"addr": "x"})", "address"},
      {"count_token_request", R"({"model": "m"})", "prompt"},
      {"count_token_request", R"({"model": "m", "prompt": ["a"]})", "prompt"},
      {"count_token_answer", R"({"error_code": 0})", "count"},
      {"count_token_answer", R"({"count": -3, "error_code": 0})", "count"},
      {"count_token_answer", R"({"count": 3, "error_code": "0"})", "error_code"},
      {"model_details", R"({"context_length": "4096"})", "context_length"},
      {"model_details", R"({})", "context_length"},
      {"embeddings_request", R"({"model": "m"})", "input"},
      {"embeddings_request", R"({"model": "m", "input": "hello"})", "input"},
      {"embeddings_request", R"({"model": "m", "input": [], "encoding_format": 1})",
       "encoding_format"},
      {"embeddings_answer", R"({"embedding": [[0.5]]})", "token_num"},
      {"embeddings_answer", R"({"embedding": [[0.5, "x"]], "token_num": 1})", "embedding[0]"},
      {"embeddings_answer", R"({"embedding": [0.5], "token_num": 1})", "embedding[0]"},
      {"embeddings_answer", R"({"embedding": ["a", 1], "token_num": 1})", "embedding[1]"},
      {"embeddings_answer", R"({"embedding": {}, "token_num": 1})", "embedding"},
      {"embeddings_answer", R"({"error_code": 50001})", "text"},
      {"generate_params", R"({"prompt": "p"})", "model"},
      {"generate_params", R"({"model": "m"})", "prompt"},
      {"generate_params", R"({"model": "m", "prompt": ["p"]})", "prompt"},
      {"generate_params", R"({"model": "m", "prompt": "p", "temperature": "0.7"})", "temperature"},
      {"generate_params", R"({"model": "m", "prompt": "p", "top_p": [1]})", "top_p"},
      {"generate_params", R"({"model": "m", "prompt": "p", "top_k": 0.5})", "top_k"},
      {"generate_params", R"({"model": "m", "prompt": "p", "repetition_penalty": false})",
       "repetition_penalty"},
      {"generate_params", R"({"model": "m", "prompt": "p", "max_new_tokens": "256"})",
       "max_new_tokens"},
      {"generate_params", R"({"model": "m", "prompt": "p", "stop": 5})", "stop"},
      {"generate_params", R"({"model": "m", "prompt": "p", "stop": ["a", null]})", "stop[1]"},
      {"generate_params", R"({"model": "m", "prompt": "p", "stop_token_ids": 2})",
       "stop_token_ids"},
      {"generate_params", R"({"model": "m", "prompt": "p", "stop_token_ids": [2, "3"]})",
       "stop_token_ids[1]"},
      {"generate_params", R"({"model": "m", "prompt": "p", "echo": "false"})", "echo"},
      {"generate_params", R"({"model": "m", "prompt": "p", "logprobs": true})", "logprobs"},
      {"generate_params", R"({"model": "m", "prompt": "p", "best_of": "2"})", "best_of"},
      {"generate_params", R"({"model": "m", "prompt": "p", "use_beam_search": 1})",
       "use_beam_search"},
      {"generate_params", R"({"model": "m", "prompt": "p", "images": "data:"})", "images"},
      {"generate_chunk", R"({"error_code": 0})", "text"},
      {"generate_chunk", R"({"text": "a"})", "error_code"},
      {"generate_chunk", R"({"text": null, "error_code": 0})", "text"},
      {"generate_chunk", R"({"text": "a", "error_code": "0"})", "error_code"},
      {"generate_chunk", R"({"text": "a", "error_code": 0, "usage": []})", "usage"},
      {"generate_chunk", R"({"text": "a", "error_code": 0, "usage": {"prompt_tokens": 1}})",
       "usage.completion_tokens"},
      {"generate_chunk",
       R"({"text": "a", "error_code": 0, "usage": {"prompt_tokens": 1, "completion_tokens": -2}})",
       "usage.completion_tokens"},
      {"generate_chunk", R"({"text": "a", "error_code": 0, "finish_reason": 1})", "finish_reason"},
      {"generate_chunk", R"({"text": "a", "error_code": 0, "finish_reason": [1]})",
       "finish_reason"},
  };
  for (const auto& c : cases) {
    const Parser* parse = nullptr;
    for (const auto& [name, p] : all_parsers()) {
      if (name == c.parser) parse = &p;
    }
    ASSERT_NE(parse, nullptr) << c.parser;
    const auto error = (*parse)(c.body);
    ASSERT_TRUE(error.has_value()) << c.parser << " accepted: " << c.body;
    EXPECT_EQ(error->code, ErrorCode::kBadRequest) << c.body;
    EXPECT_EQ(error->param, c.param) << c.body << " → " << error->message;
    EXPECT_NE(error->message.find(c.param), std::string::npos) << error->message;
  }
}

TEST(MalformedBody, NoParserCrashesOnAnyPrefixOrByteMutationOfTheFixtures) {
  std::vector<std::string> fixtures = example_frames();
  for (const auto body :
       {kErrorChunk, kRegisterBody, kHeartBeatBody, kStatusAnswer, kChatGenParams}) {
    fixtures.emplace_back(body);
  }
  std::mt19937 rng(20240211);  // fixed: the run is reproducible
  std::size_t accepted = 0;
  for (const auto& fixture : fixtures) {
    std::vector<std::string> inputs;
    for (std::size_t n = 0; n <= fixture.size(); ++n) inputs.push_back(fixture.substr(0, n));
    for (int k = 0; k < 300; ++k) {
      std::string mutated = fixture;
      for (int flips = 1 + static_cast<int>(rng() % 3); flips > 0; --flips) {
        mutated[rng() % mutated.size()] = static_cast<char>(rng() % 256);
      }
      inputs.push_back(std::move(mutated));
    }
    for (const auto& input : inputs) {
      for (const auto& [name, parse] : all_parsers()) {
        const auto error = parse(input);
        if (!error) {
          ++accepted;
        } else {
          EXPECT_EQ(error->code, ErrorCode::kBadRequest) << name;
        }
      }
    }
  }
  EXPECT_GT(accepted, 0u);  // the whole fixtures themselves parse
}

// ---------------------------------------------------------------------------------------------
// Stream framing

std::vector<std::string> feed_pieces(NulFrameReader& reader,
                                     const std::vector<std::string_view>& pieces) {
  std::vector<std::string> frames;
  for (const auto piece : pieces) reader.feed(piece, frames);
  return frames;
}

TEST(NulFrameReader, SplitsTheExampleStreamIntoItsFourChunks) {
  NulFrameReader reader;
  EXPECT_EQ(feed_pieces(reader, {kExampleStream}), example_frames());
  EXPECT_FALSE(reader.pending());
  EXPECT_FALSE(reader.failed());
  EXPECT_TRUE(reader.status().ok());
}

TEST(NulFrameReader, JoinsAFrameSplitAcrossReadsAtEveryBytePosition) {
  const std::string_view stream = kExampleStream;
  for (std::size_t i = 0; i <= stream.size(); ++i) {
    NulFrameReader reader;
    EXPECT_EQ(feed_pieces(reader, {stream.substr(0, i), stream.substr(i)}), example_frames())
        << "split at " << i;
    EXPECT_FALSE(reader.pending()) << "split at " << i;
  }
}

TEST(NulFrameReader, JoinsFramesFedOneByteAtATime) {
  NulFrameReader reader;
  std::vector<std::string> frames;
  const std::string_view stream = kExampleStream;
  for (std::size_t i = 0; i < stream.size(); ++i) {
    reader.feed(stream.substr(i, 1), frames);
    EXPECT_EQ(reader.pending(), stream[i] != '\0') << i;
  }
  EXPECT_EQ(frames, example_frames());
}

TEST(NulFrameReader, SkipsEmptyPiecesBetweenNuls) {
  NulFrameReader reader;
  EXPECT_EQ(feed_pieces(reader, {"\0\0{}\0\0\0[1]\0\0"s}), (std::vector<std::string>{"{}", "[1]"}));
  EXPECT_FALSE(reader.pending());
  // Also when the NULs arrive in separate reads, and for empty reads.
  EXPECT_EQ(feed_pieces(reader, {"", "a", "\0"s, "\0"s, "", "\0b"s, "\0"s}),
            (std::vector<std::string>{"a", "b"}));
}

TEST(NulFrameReader, ReportsAPartialFrameAtTheEndAsPending) {
  NulFrameReader reader;
  const auto frames = feed_pieces(reader, {R"({"text": "a", "error_code": 0})"
                                           "\0"s
                                           R"({"text": "ab", "err)"});
  EXPECT_EQ(frames.size(), 1u);
  EXPECT_TRUE(reader.pending());
  EXPECT_EQ(feed_pieces(reader, {R"(or_code": 0})"
                                 "\0"s}),
            std::vector<std::string>{R"({"text": "ab", "error_code": 0})"});
  EXPECT_FALSE(reader.pending());
}

TEST(NulFrameReader, AcceptsAFrameOfExactlyTheLimit) {
  NulFrameReader reader(4);
  EXPECT_EQ(feed_pieces(reader, {"ab", "cd", "\0"s, "wxyz\0"s}),
            (std::vector<std::string>{"abcd", "wxyz"}));
  EXPECT_FALSE(reader.failed());
}

TEST(NulFrameReader, RefusesAFrameOverTheLimitAndStaysFailed) {
  NulFrameReader reader(4);
  std::vector<std::string> frames;
  reader.feed("ok\0abcde\0after\0"s, frames);
  EXPECT_EQ(frames, std::vector<std::string>{"ok"});  // the frames before it are delivered
  EXPECT_TRUE(reader.failed());
  EXPECT_FALSE(reader.pending());
  const auto status = reader.status();
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().code, ErrorCode::kUpstreamUnreachable);
  reader.feed("x\0"s, frames);
  EXPECT_EQ(frames.size(), 1u);
  EXPECT_TRUE(reader.failed());
}

TEST(NulFrameReader, RefusesAnOversizeFrameBuiltUpAcrossReadsBeforeItsNul) {
  NulFrameReader reader(4);
  std::vector<std::string> frames;
  reader.feed("abc", frames);
  EXPECT_FALSE(reader.failed());
  reader.feed("de", frames);  // five bytes and no NUL yet: refused without waiting for it
  EXPECT_TRUE(reader.failed());
  EXPECT_TRUE(frames.empty());
}

TEST(AppendFrame, WritesTheJsonThenOneNul) {
  std::string out = "x";
  append_frame(out, R"({"a": 1})");
  append_frame(out, "");
  EXPECT_EQ(out, "x{\"a\": 1}\0\0"s);
}

}  // namespace
}  // namespace shepherd::fastchat
