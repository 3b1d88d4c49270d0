#include "fastchat/protocol.hpp"

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

#include "fastchat/protocol_test_fixtures.hpp"

namespace shepherd::fastchat {
namespace {

namespace json = boost::json;
using base::ErrorCode;
using namespace std::string_literals;
using namespace test_fixtures;

// ---------------------------------------------------------------------------------------------
// Controller and worker bodies

TEST(WorkerStatus, ParsesTheWorkersStatusAnswer) {
  auto s = parse_worker_status(kStatusAnswer);
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ(s->model_names, std::vector<std::string>{"vicuna-7b-v1.5"});
  EXPECT_EQ(s->speed, 1.0);
  EXPECT_EQ(s->queue_length, 0);
}

TEST(WorkerStatus, WritesTheAnswerAsFastApiDoesWithAnIntegerSpeed) {
  EXPECT_EQ(write_worker_status({{"vicuna-7b-v1.5"}, 1, 0}), kStatusAnswer);
  EXPECT_EQ(write_worker_status({{"a", "b"}, 3, 7}),
            R"({"model_names":["a","b"],"speed":3,"queue_length":7})");
  EXPECT_EQ(write_worker_status({{}, 1.5, 0}),
            R"({"model_names":[],"speed":1.5,"queue_length":0})");
}

TEST(RegisterWorker, ParsesTheWorkersRegistration) {
  auto r = parse_register_worker(kRegisterBody);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->worker_name, "http://localhost:21002");
  EXPECT_TRUE(r->check_heart_beat);
  ASSERT_TRUE(r->worker_status.has_value());
  EXPECT_EQ(r->worker_status->model_names, std::vector<std::string>{"vicuna-7b-v1.5"});
  EXPECT_EQ(r->worker_status->speed, 1.0);
  EXPECT_EQ(r->worker_status->queue_length, 0);
  EXPECT_FALSE(r->multimodal);
}

TEST(RegisterWorker, TreatsAbsentNullAndEmptyWorkerStatusAsNotGiven) {
  for (const std::string_view body : {
           R"({"worker_name": "http://w:1", "check_heart_beat": false})",
           R"({"worker_name": "http://w:1", "check_heart_beat": false, "worker_status": null})",
           R"({"worker_name": "http://w:1", "check_heart_beat": false, "worker_status": {}})",
       }) {
    auto r = parse_register_worker(body);
    ASSERT_TRUE(r.ok()) << body << ": " << r.error().message;
    EXPECT_FALSE(r->worker_status.has_value()) << body;
    EXPECT_FALSE(r->multimodal) << body;
    EXPECT_FALSE(r->check_heart_beat) << body;
  }
}

TEST(RegisterWorker, ReadsMultimodal) {
  auto r = parse_register_worker(
      R"({"worker_name": "http://w:1", "check_heart_beat": true, "multimodal": true})");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_TRUE(r->multimodal);
}

TEST(RegisterWorker, WritesWhatBaseModelWorkerSends) {
  EXPECT_EQ(write_register_worker(
                {"http://localhost:21002", true, WorkerStatus{{"vicuna-7b-v1.5"}, 1, 0}, false}),
            kRegisterBody);
  EXPECT_EQ(write_register_worker({"http://w:1", false, std::nullopt, true}),
            R"({"worker_name": "http://w:1", "check_heart_beat": false, "multimodal": true})");
}

TEST(HeartBeat, ParsesAndWritesTheWorkersHeartBeat) {
  auto h = parse_heart_beat(kHeartBeatBody);
  ASSERT_TRUE(h.ok()) << h.error().message;
  EXPECT_EQ(h->worker_name, "http://localhost:21002");
  EXPECT_EQ(h->queue_length, 3);
  EXPECT_EQ(write_heart_beat(*h), kHeartBeatBody);
}

TEST(HeartBeat, ParsesAndWritesTheControllersAnswer) {
  EXPECT_EQ(write_heart_beat_answer({true}), R"({"exist":true})");
  EXPECT_EQ(write_heart_beat_answer({false}), R"({"exist":false})");
  auto a = parse_heart_beat_answer(R"({"exist": true})");
  ASSERT_TRUE(a.ok()) << a.error().message;
  EXPECT_TRUE(a->exist);
  a = parse_heart_beat_answer(R"({"exist":false})");
  ASSERT_TRUE(a.ok()) << a.error().message;
  EXPECT_FALSE(a->exist);
}

TEST(ModelList, ParsesAndWritesTheListModelsAnswer) {
  auto l = parse_model_list(R"({"models":["vicuna-7b-v1.5","llava-v1.5-7b"]})");
  ASSERT_TRUE(l.ok()) << l.error().message;
  EXPECT_EQ(l->models, (std::vector<std::string>{"vicuna-7b-v1.5", "llava-v1.5-7b"}));
  EXPECT_EQ(write_model_list(*l), R"({"models":["vicuna-7b-v1.5","llava-v1.5-7b"]})");
  EXPECT_EQ(write_model_list({}), R"({"models":[]})");
}

TEST(ModelRequest, ParsesAndWritesTheModelRequest) {
  auto m = parse_model_request(R"({"model": "vicuna-7b-v1.5"})");
  ASSERT_TRUE(m.ok()) << m.error().message;
  EXPECT_EQ(m->model, "vicuna-7b-v1.5");
  EXPECT_EQ(write_model_request(*m), R"({"model": "vicuna-7b-v1.5"})");
}

TEST(WorkerAddress, ParsesAndWritesTheAddressIncludingNoWorker) {
  auto a = parse_worker_address(R"({"address":"http://localhost:21002"})");
  ASSERT_TRUE(a.ok()) << a.error().message;
  EXPECT_EQ(a->address, "http://localhost:21002");
  a = parse_worker_address(R"({"address":""})");
  ASSERT_TRUE(a.ok()) << a.error().message;
  EXPECT_EQ(a->address, "");
  EXPECT_EQ(write_worker_address({""}), R"({"address":""})");
  EXPECT_EQ(write_worker_address({"http://10.0.0.5:21002"}),
            R"({"address":"http://10.0.0.5:21002"})");
}

TEST(CountToken, ParsesAndWritesRequestAndAnswer) {
  auto r =
      parse_count_token_request(R"({"model": "vicuna-7b-v1.5", "prompt": "USER: Hi ASSISTANT:"})");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->model, "vicuna-7b-v1.5");
  EXPECT_EQ(r->prompt, "USER: Hi ASSISTANT:");
  EXPECT_EQ(write_count_token_request({"m", "Caf\xC3\xA9"}),
            R"({"model": "m", "prompt": "Caf\u00e9"})");

  auto a = parse_count_token_answer(R"({"count":41,"error_code":0})");
  ASSERT_TRUE(a.ok()) << a.error().message;
  EXPECT_EQ(a->count, 41);
  EXPECT_EQ(a->error_code, 0);
  EXPECT_EQ(write_count_token_answer({41, 0}), R"({"count":41,"error_code":0})");
  a = parse_count_token_answer(R"({"count":0})");
  ASSERT_TRUE(a.ok()) << a.error().message;
  EXPECT_EQ(a->error_code, 0);
}

TEST(ModelDetails, ParsesAndWritesTheContextLength) {
  auto d = parse_model_details(R"({"context_length":4096})");
  ASSERT_TRUE(d.ok()) << d.error().message;
  EXPECT_EQ(d->context_length, 4096);
  EXPECT_EQ(write_model_details({4096}), R"({"context_length":4096})");
}

TEST(Embeddings, ParsesAndWritesTheRequest) {
  auto r = parse_embeddings_request(
      R"({"model": "bge", "input": ["hello", "world"], "encoding_format": null})");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->input, (std::vector<std::string>{"hello", "world"}));
  EXPECT_FALSE(r->encoding_format.has_value());
  EXPECT_EQ(write_embeddings_request(*r),
            R"({"model": "bge", "input": ["hello", "world"], "encoding_format": null})");
  r = parse_embeddings_request(R"({"model": "bge", "input": [], "encoding_format": "base64"})");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->encoding_format, "base64");
}

TEST(Embeddings, ParsesAndWritesFloatBase64AndErrorAnswers) {
  auto a = parse_embeddings_answer(R"({"embedding":[[0.5,-0.25],[1,0.0]],"token_num":4})");
  ASSERT_TRUE(a.ok()) << a.error().message;
  EXPECT_EQ(a->embedding, (std::vector<std::vector<double>>{{0.5, -0.25}, {1.0, 0.0}}));
  EXPECT_EQ(a->token_num, 4);
  EXPECT_EQ(write_embeddings_answer(*a), R"({"embedding":[[0.5,-0.25],[1.0,0.0]],"token_num":4})");

  a = parse_embeddings_answer(R"({"embedding":["AACAPw=="],"token_num":1})");
  ASSERT_TRUE(a.ok()) << a.error().message;
  EXPECT_EQ(a->embedding_base64, std::vector<std::string>{"AACAPw=="});
  EXPECT_EQ(write_embeddings_answer(*a), R"({"embedding":["AACAPw=="],"token_num":1})");

  a = parse_embeddings_answer(R"({"text":"oom","error_code":50002})");
  ASSERT_TRUE(a.ok()) << a.error().message;
  EXPECT_EQ(a->error_code, error_codes::kCudaOutOfMemory);
  EXPECT_EQ(a->text, "oom");
  EXPECT_EQ(write_embeddings_answer(*a), R"({"text":"oom","error_code":50002})");
}

// ---------------------------------------------------------------------------------------------
// Generate params

TEST(GenerateParams, ParsesTheApiServersChatParams) {
  auto p = parse_generate_params(kChatGenParams);
  ASSERT_TRUE(p.ok()) << p.error().message;
  EXPECT_EQ(p->model, "vicuna-7b-v1.5");
  EXPECT_EQ(p->prompt,
            "A chat between a curious user and an artificial intelligence assistant. USER: Hi "
            "ASSISTANT:");
  EXPECT_EQ(p->temperature, 0.7);
  EXPECT_FALSE(p->logprobs.has_value());
  EXPECT_EQ(p->top_p, 1.0);
  EXPECT_EQ(p->top_k, -1);
  EXPECT_EQ(p->presence_penalty, 0.0);
  EXPECT_EQ(p->frequency_penalty, 0.0);
  EXPECT_EQ(p->max_new_tokens, 4055);
  EXPECT_FALSE(p->echo);
  EXPECT_FALSE(p->stop_token_ids.has_value());
  EXPECT_TRUE(p->stop.empty());
  EXPECT_FALSE(p->repetition_penalty.has_value());
}

TEST(GenerateParams, WritesWhatTheApiServerSends) {
  GenerateParams p;
  p.model = "vicuna-7b-v1.5";
  p.prompt =
      "A chat between a curious user and an artificial intelligence assistant. USER: Hi "
      "ASSISTANT:";
  p.temperature = 0.7;
  p.max_new_tokens = 4055;
  p.echo = false;
  EXPECT_EQ(write_generate_params(p), kChatGenParams);
}

TEST(GenerateParams, WritesOptionalFieldsWhereTheApiServerAddsThem) {
  GenerateParams p;
  p.model = "m";
  p.prompt = "Caf\xC3\xA9 \xF0\x9F\x98\x80";
  p.temperature = 0.0;
  p.logprobs = 2;
  p.top_p = 0.95;
  p.top_k = 40;
  p.presence_penalty = 0.5;
  p.frequency_penalty = -0.25;
  p.max_new_tokens = 16;
  p.echo = true;
  p.stop_token_ids = std::vector<std::int64_t>{2, 32000};
  p.images = {"data:image/png;base64,AAAA"};
  p.best_of = 3;
  p.use_beam_search = false;
  p.stop = {"</s>", "USER:"};
  p.repetition_penalty = 1.1;
  constexpr std::string_view kExpected =
      R"({"model": "m", "prompt": "Caf\u00e9 \ud83d\ude00", "temperature": 0.0, "logprobs": 2, "top_p": 0.95, "top_k": 40, "presence_penalty": 0.5, "frequency_penalty": -0.25, "max_new_tokens": 16, "echo": true, "stop_token_ids": [2, 32000], "images": ["data:image/png;base64,AAAA"], "best_of": 3, "use_beam_search": false, "stop": ["</s>", "USER:"], "repetition_penalty": 1.1})";
  EXPECT_EQ(write_generate_params(p), kExpected);

  auto back = parse_generate_params(kExpected);
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(back->prompt, p.prompt);
  EXPECT_EQ(back->logprobs, 2);
  EXPECT_EQ(back->stop_token_ids, p.stop_token_ids);
  EXPECT_EQ(back->images, p.images);
  EXPECT_EQ(back->best_of, 3);
  EXPECT_EQ(back->use_beam_search, false);
  EXPECT_EQ(back->stop, p.stop);
  EXPECT_EQ(back->repetition_penalty, 1.1);
  EXPECT_EQ(write_generate_params(*back), kExpected);
}

TEST(GenerateParams, FillsTheWorkersDefaultsForAbsentFields) {
  auto p = parse_generate_params(R"({"model": "m", "prompt": "p"})");
  ASSERT_TRUE(p.ok()) << p.error().message;
  EXPECT_EQ(p->temperature, 1.0);
  EXPECT_EQ(p->top_p, 1.0);
  EXPECT_EQ(p->top_k, -1);
  EXPECT_FALSE(p->repetition_penalty.has_value());
  EXPECT_EQ(p->presence_penalty, 0.0);
  EXPECT_EQ(p->frequency_penalty, 0.0);
  EXPECT_EQ(p->max_new_tokens, 256);
  EXPECT_TRUE(p->stop.empty());
  EXPECT_FALSE(p->stop_token_ids.has_value());
  EXPECT_TRUE(p->echo);
  EXPECT_FALSE(p->logprobs.has_value());
  EXPECT_FALSE(p->best_of.has_value());
  EXPECT_FALSE(p->use_beam_search.has_value());
  EXPECT_TRUE(p->images.empty());
}

TEST(GenerateParams, TreatsNullAsAbsentExceptEchoWhichPythonReadsAsFalse) {
  auto p = parse_generate_params(
      R"({"model": "m", "prompt": "p", "temperature": null, "top_k": null, "max_new_tokens": null,)"
      R"( "presence_penalty": null, "stop": null, "echo": null})");
  ASSERT_TRUE(p.ok()) << p.error().message;
  EXPECT_EQ(p->temperature, 1.0);
  EXPECT_EQ(p->top_k, -1);
  EXPECT_EQ(p->max_new_tokens, 256);
  EXPECT_EQ(p->presence_penalty, 0.0);
  EXPECT_TRUE(p->stop.empty());
  EXPECT_FALSE(p->echo);
}

TEST(GenerateParams, ReadsStopAsAStringOrAList) {
  auto p = parse_generate_params(R"({"model": "m", "prompt": "p", "stop": "###"})");
  ASSERT_TRUE(p.ok()) << p.error().message;
  EXPECT_EQ(p->stop, std::vector<std::string>{"###"});
  p = parse_generate_params(R"({"model": "m", "prompt": "p", "stop": ["a", "b"]})");
  ASSERT_TRUE(p.ok()) << p.error().message;
  EXPECT_EQ(p->stop, (std::vector<std::string>{"a", "b"}));
}

TEST(GenerateParams, AcceptsIntegersForFloatsAndIntegralFloatsForIntegers) {
  // Pydantic and the worker's float()/int() accept both spellings.
  auto p = parse_generate_params(
      R"({"model": "m", "prompt": "p", "temperature": 1, "top_p": 0, "max_new_tokens": 512.0})");
  ASSERT_TRUE(p.ok()) << p.error().message;
  EXPECT_EQ(p->temperature, 1.0);
  EXPECT_EQ(p->top_p, 0.0);
  EXPECT_EQ(p->max_new_tokens, 512);
}

TEST(GenerateParams, IgnoresUnknownFields) {
  auto p = parse_generate_params(
      R"({"model": "m", "prompt": "p", "do_sample": true, "tools": [{"x": [1, {"y": null}]}], "seed": 7})");
  ASSERT_TRUE(p.ok()) << p.error().message;
  EXPECT_EQ(p->model, "m");
}

// ---------------------------------------------------------------------------------------------
// Generate chunks

TEST(GenerateChunk, ParsesEveryChunkOfTheExampleStream) {
  const auto frames = example_frames();
  ASSERT_EQ(frames.size(), 4u);
  const std::vector<std::pair<std::string, std::int64_t>> expected = {{"Paris", 0},
                                                                      {"Paris is the capital", 4},
                                                                      {"Paris is the capital.", 6},
                                                                      {"Paris is the capital.", 6}};
  for (std::size_t i = 0; i < frames.size(); ++i) {
    auto c = parse_generate_chunk(frames[i]);
    ASSERT_TRUE(c.ok()) << c.error().message;
    EXPECT_EQ(c->text, expected[i].first);
    EXPECT_EQ(c->error_code, 0);
    ASSERT_TRUE(c->usage.has_value());
    EXPECT_EQ(c->usage->prompt_tokens, 41);
    EXPECT_EQ(c->usage->completion_tokens, expected[i].second);
    EXPECT_EQ(c->usage->total_tokens, 41 + expected[i].second);
    EXPECT_FALSE(c->logprobs.has_value());
    if (i + 1 < frames.size()) {
      EXPECT_FALSE(c->finish_reason.has_value());
    } else {
      EXPECT_EQ(c->finish_reason, "stop");
    }
  }
}

TEST(GenerateChunk, WritesTheExampleStreamByteForByte) {
  std::string stream;
  for (const auto& frame : example_frames()) {
    auto c = parse_generate_chunk(frame);
    ASSERT_TRUE(c.ok()) << c.error().message;
    append_frame(stream, write_generate_chunk(*c));
  }
  EXPECT_EQ(stream, kExampleStream);
}

TEST(GenerateChunk, ParsesAndWritesTheErrorChunk) {
  auto c = parse_generate_chunk(kErrorChunk);
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->error_code, error_codes::kCudaOutOfMemory);
  EXPECT_EQ(c->text, server_error_text("CUDA out of memory. Tried to allocate 20.00 MiB"));
  EXPECT_FALSE(c->usage.has_value());
  EXPECT_FALSE(c->finish_reason.has_value());
  EXPECT_EQ(write_generate_chunk(*c), kErrorChunk);
}

TEST(GenerateChunk, WritesTheControllersNoWorkerChunks) {
  GenerateChunk c;
  c.text = std::string(kServerErrorMsg);
  c.error_code = error_codes::kControllerNoWorker;
  EXPECT_EQ(
      write_generate_chunk(c),
      R"({"text": "**NETWORK ERROR DUE TO HIGH TRAFFIC. PLEASE REGENERATE OR REFRESH THIS PAGE.**", "error_code": 50005})");
  c.error_code = error_codes::kControllerWorkerTimeout;
  EXPECT_EQ(
      write_generate_chunk(c),
      R"({"text": "**NETWORK ERROR DUE TO HIGH TRAFFIC. PLEASE REGENERATE OR REFRESH THIS PAGE.**", "error_code": 50006})");
}

TEST(GenerateChunk, ToleratesVllmCumulativeLogprobAndAbort) {
  auto c = parse_generate_chunk(
      R"({"text": "Paris", "error_code": 0, "usage": {"prompt_tokens": 41, "completion_tokens": 1, "total_tokens": 42}, "cumulative_logprob": [-0.0123], "finish_reason": "abort"})");
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->text, "Paris");
  EXPECT_EQ(c->finish_reason, "abort");
  EXPECT_EQ(c->usage->total_tokens, 42);
}

TEST(GenerateChunk, KeepsTheFirstOfVllmsPerSequenceFinishReasons) {
  auto c = parse_generate_chunk(
      R"({"text": "a b", "error_code": 0, "finish_reason": ["length", "stop"]})");
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->finish_reason, "length");
  c = parse_generate_chunk(R"({"text": "a b", "error_code": 0, "finish_reason": [null, null]})");
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_FALSE(c->finish_reason.has_value());
}

TEST(GenerateChunk, ParsesTheHuggingFaceApiWorkersChunkWithoutUsage) {
  auto c = parse_generate_chunk(R"({"text": "Hi", "error_code": 0, "finish_reason": null})");
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_FALSE(c->usage.has_value());
  EXPECT_FALSE(c->finish_reason.has_value());
  EXPECT_EQ(write_generate_chunk(*c), R"({"text": "Hi", "error_code": 0})");
}

TEST(GenerateChunk, ComputesAMissingTotalTokens) {
  auto c = parse_generate_chunk(
      R"({"text": "", "error_code": 0, "usage": {"prompt_tokens": 5, "completion_tokens": 2}})");
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->usage->total_tokens, 7);
}

TEST(GenerateChunk, SaturatesAMissingTotalThatWouldOverflow) {
  auto c = parse_generate_chunk(
      R"({"text": "", "error_code": 0, "usage": {"prompt_tokens": 9223372036854775807, "completion_tokens": 9223372036854775807}})");
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->usage->total_tokens, std::numeric_limits<std::int64_t>::max());
}

TEST(GenerateChunk, KeepsLogprobsRawAndWritesThemBack) {
  constexpr std::string_view kChunk =
      R"({"text": "Paris is", "error_code": 0, "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}, "finish_reason": null, "logprobs": {"text_offset": [0, 5], "tokens": ["Paris", " is"], "token_logprobs": [null, -0.25], "top_logprobs": [{}, {"\u00e9": -1.5e-05}]}})";
  auto c = parse_generate_chunk(kChunk);
  ASSERT_TRUE(c.ok()) << c.error().message;
  ASSERT_TRUE(c->logprobs.has_value());
  ASSERT_TRUE(c->logprobs->is_object());
  EXPECT_EQ(c->logprobs->at("tokens").at(1).as_string(), " is");
  EXPECT_EQ(write_generate_chunk(*c), kChunk);
}

TEST(GenerateChunk, ReadsLogprobsToTheNearestDoubleSoTheyPrintBackUnchanged) {
  // Shortest reprs that Boost.JSON 1.81's own number reader misses by one unit in the last place.
  constexpr std::string_view kChunk =
      R"({"text": "a", "error_code": 0, "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}, "finish_reason": null, "logprobs": {"token_logprobs": [-0.0036847289407141355, 1.1430767782883795e-192, 2.1542687414875476e-293, 5e-324, -1.5169185552999647e-192]}})";
  auto c = parse_generate_chunk(kChunk);
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->logprobs->at("token_logprobs").at(0).as_double(), -0.0036847289407141355);
  EXPECT_EQ(write_generate_chunk(*c), kChunk);
}

TEST(GenerateChunk, WritesTheWorkerGenerateAnswerAsFastApiDoes) {
  auto c = parse_generate_chunk(example_frames().back());
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(
      write_generate_answer(*c),
      R"({"text":"Paris is the capital.","error_code":0,"usage":{"prompt_tokens":41,"completion_tokens":6,"total_tokens":47},"finish_reason":"stop","logprobs":null})");
}

TEST(GenerateChunk, WritesUnicodeTextEscapedInChunksAndRawInAnswers) {
  GenerateChunk c;
  c.text = "\xE4\xBD\xA0\xE5\xA5\xBD \xF0\x9F\x91\x8B";  // 你好 👋
  c.usage = Usage{2, 3, 5};
  c.finish_reason = "length";
  EXPECT_EQ(
      write_generate_chunk(c),
      R"({"text": "\u4f60\u597d \ud83d\udc4b", "error_code": 0, "usage": {"prompt_tokens": 2, "completion_tokens": 3, "total_tokens": 5}, "finish_reason": "length", "logprobs": null})");
  EXPECT_EQ(write_generate_answer(c),
            "{\"text\":\"\xE4\xBD\xA0\xE5\xA5\xBD \xF0\x9F\x91\x8B\",\"error_code\":0,\"usage\":{"
            "\"prompt_tokens\":2,\"completion_tokens\":3,\"total_tokens\":5},\"finish_reason\":"
            "\"length\",\"logprobs\":null}");
}

TEST(ServerErrorText, AppendsTheExceptionInParentheses) {
  EXPECT_EQ(server_error_text("boom"),
            "**NETWORK ERROR DUE TO HIGH TRAFFIC. PLEASE REGENERATE OR REFRESH THIS PAGE.**\n\n"
            "(boom)");
}

TEST(ErrorCodes, HaveFastChatsValues) {
  EXPECT_EQ(error_codes::kValidationTypeError, 40001);
  EXPECT_EQ(error_codes::kInvalidAuthKey, 40101);
  EXPECT_EQ(error_codes::kIncorrectAuthKey, 40102);
  EXPECT_EQ(error_codes::kNoPermission, 40103);
  EXPECT_EQ(error_codes::kInvalidModel, 40301);
  EXPECT_EQ(error_codes::kParamOutOfRange, 40302);
  EXPECT_EQ(error_codes::kContextOverflow, 40303);
  EXPECT_EQ(error_codes::kRateLimit, 42901);
  EXPECT_EQ(error_codes::kQuotaExceeded, 42902);
  EXPECT_EQ(error_codes::kEngineOverloaded, 42903);
  EXPECT_EQ(error_codes::kInternalError, 50001);
  EXPECT_EQ(error_codes::kCudaOutOfMemory, 50002);
  EXPECT_EQ(error_codes::kGradioRequestError, 50003);
  EXPECT_EQ(error_codes::kGradioStreamUnknownError, 50004);
  EXPECT_EQ(error_codes::kControllerNoWorker, 50005);
  EXPECT_EQ(error_codes::kControllerWorkerTimeout, 50006);
}

}  // namespace
}  // namespace shepherd::fastchat
