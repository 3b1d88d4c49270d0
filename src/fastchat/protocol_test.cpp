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

namespace shepherd::fastchat {
namespace {

namespace json = boost::json;
using base::ErrorCode;
using namespace std::string_literals;

// Fixtures: bytes as FastChat's processes print them, written from FASTCHAT.md §1-§2 and Python's
// documented json rules (json.dumps: ", " and ": ", ASCII only; Starlette's JSONResponse: "," and
// ":", UTF-8), never from this module's output.

// §2 "Stream framing": the example stream; ␀ is the NUL byte.
const std::string kExampleStream =
    R"({"text": "Paris", "error_code": 0, "usage": {"prompt_tokens": 41, "completion_tokens": 0, "total_tokens": 41}, "finish_reason": null, "logprobs": null})"
    "\0"s
    R"({"text": "Paris is the capital", "error_code": 0, "usage": {"prompt_tokens": 41, "completion_tokens": 4, "total_tokens": 45}, "finish_reason": null, "logprobs": null})"
    "\0"s
    R"({"text": "Paris is the capital.", "error_code": 0, "usage": {"prompt_tokens": 41, "completion_tokens": 6, "total_tokens": 47}, "finish_reason": null, "logprobs": null})"
    "\0"s
    R"({"text": "Paris is the capital.", "error_code": 0, "usage": {"prompt_tokens": 41, "completion_tokens": 6, "total_tokens": 47}, "finish_reason": "stop", "logprobs": null})"
    "\0"s;

std::vector<std::string> example_frames() {
  std::vector<std::string> frames;
  std::string_view rest = kExampleStream;
  while (!rest.empty()) {
    const auto nul = rest.find('\0');
    frames.emplace_back(rest.substr(0, nul));
    rest.remove_prefix(nul + 1);
  }
  return frames;
}

// §2 error example, with a concrete exception text.
constexpr std::string_view kErrorChunk =
    R"j({"text": "**NETWORK ERROR DUE TO HIGH TRAFFIC. PLEASE REGENERATE OR REFRESH THIS PAGE.**\n\n(CUDA out of memory. Tried to allocate 20.00 MiB)", "error_code": 50002})j";

// §2 "Registration and heartbeat": what base_model_worker posts (requests, json.dumps).
constexpr std::string_view kRegisterBody =
    R"({"worker_name": "http://localhost:21002", "check_heart_beat": true, "worker_status": {"model_names": ["vicuna-7b-v1.5"], "speed": 1, "queue_length": 0}, "multimodal": false})";
constexpr std::string_view kHeartBeatBody =
    R"({"worker_name": "http://localhost:21002", "queue_length": 3})";
// /worker_get_status answer (FastAPI).
constexpr std::string_view kStatusAnswer =
    R"({"model_names":["vicuna-7b-v1.5"],"speed":1,"queue_length":0})";

// §3.3 step 6: the API server's gen_params for a vicuna chat request (stop_str None, no stop).
constexpr std::string_view kChatGenParams =
    R"({"model": "vicuna-7b-v1.5", "prompt": "A chat between a curious user and an artificial intelligence assistant. USER: Hi ASSISTANT:", "temperature": 0.7, "logprobs": null, "top_p": 1.0, "top_k": -1, "presence_penalty": 0.0, "frequency_penalty": 0.0, "max_new_tokens": 4055, "echo": false, "stop_token_ids": null, "stop": []})";

// ---------------------------------------------------------------------------------------------
// python_json

std::string dumps(const json::value& v) { return python_json(v); }
std::string fastapi(const json::value& v) {
  return python_json(v, PythonJsonStyle::kFastApiResponse);
}

TEST(PythonJson, SeparatesLikeJsonDumpsDefaults) {
  const json::value v = json::parse(R"({"a":[1,2,{"b":null}],"c":{},"d":[],"e":true,"f":false})");
  EXPECT_EQ(dumps(v), R"({"a": [1, 2, {"b": null}], "c": {}, "d": [], "e": true, "f": false})");
}

TEST(PythonJson, KeepsObjectKeysInInsertionOrder) {
  json::object o;
  o["zeta"] = 1;
  o["alpha"] = 2;
  o["mid"] = 3;
  EXPECT_EQ(dumps(o), R"({"zeta": 1, "alpha": 2, "mid": 3})");
}

TEST(PythonJson, KeepsTheFirstPositionAndLastValueOfADuplicateKeyAsADictDoes) {
  EXPECT_EQ(dumps(json::parse(R"({"a":1,"b":2,"a":3})")), R"({"a": 3, "b": 2})");
}

TEST(PythonJson, EscapesNonAsciiAsLowercaseUtf16Units) {
  // U+00E9, U+20AC, U+FFFF, U+1F600 (surrogates D83D DE00), U+10FFFF (DBFF DFFF).
  EXPECT_EQ(dumps(json::string(
                "caf\xC3\xA9 \xE2\x82\xAC \xEF\xBF\xBF \xF0\x9F\x98\x80 \xF4\x8F\xBF\xBF")),
            R"("caf\u00e9 \u20ac \uffff \ud83d\ude00 \udbff\udfff")");
}

TEST(PythonJson, EscapesControlCharactersAsPythonDoes) {
  EXPECT_EQ(dumps(json::string("q\" b\\ n\n r\r t\t b\b f\f / ")),
            R"("q\" b\\ n\n r\r t\t b\b f\f / ")");
  EXPECT_EQ(dumps(json::string("\x00\x01\x1f\x7f~"s)), R"("\u0000\u0001\u001f\u007f~")");
}

TEST(PythonJson, EscapesObjectKeysLikeStrings) {
  json::object o;
  o["k\xC3\xA9y\n"] = "v";
  EXPECT_EQ(dumps(o), R"({"k\u00e9y\n": "v"})");
}

TEST(PythonJson, WritesFloatsAsPythonReprDoes) {
  const std::vector<std::pair<double, std::string_view>> cases = {
      {1.0, "1.0"},
      {0.7, "0.7"},
      {0.0, "0.0"},
      {-0.0, "-0.0"},
      {100.0, "100.0"},
      {-2.5, "-2.5"},
      {0.1 + 0.2, "0.30000000000000004"},
      {123456789.123, "123456789.123"},
      {0.0001, "0.0001"},  // the smallest decimal exponent in positional form
      {0.00012, "0.00012"},
      {1e-05, "1e-05"},  // below 1e-4: scientific, two exponent digits at least
      {1.5e-07, "1.5e-07"},
      {-3.25e-10, "-3.25e-10"},
      {1234567890123456.0, "1234567890123456.0"},
      {9999999999999998.0, "9999999999999998.0"},
      {1e16, "1e+16"},  // from 1e16 on: scientific
      {2.5e16, "2.5e+16"},
      {12345678901234567.0, "1.2345678901234568e+16"},
      {1e22, "1e+22"},
      {1e100, "1e+100"},
      {5e-324, "5e-324"},
      {1.7976931348623157e308, "1.7976931348623157e+308"},
  };
  for (const auto& [d, text] : cases) EXPECT_EQ(dumps(d), text) << text;
}

TEST(PythonJson, WritesNonFiniteFloatsAsPythonsNanAndInfinity) {
  EXPECT_EQ(dumps(std::numeric_limits<double>::quiet_NaN()), "NaN");
  EXPECT_EQ(dumps(std::numeric_limits<double>::infinity()), "Infinity");
  EXPECT_EQ(dumps(-std::numeric_limits<double>::infinity()), "-Infinity");
}

TEST(PythonJson, WritesIntegersInDecimal) {
  EXPECT_EQ(dumps(std::numeric_limits<std::int64_t>::min()), "-9223372036854775808");
  EXPECT_EQ(dumps(std::numeric_limits<std::uint64_t>::max()), "18446744073709551615");
  EXPECT_EQ(dumps(json::parse("[0, -1, 41]")), "[0, -1, 41]");
}

TEST(PythonJson, ReadsFloatLiteralsBackAsFloats) {
  // json.loads("1e2") is the float 100.0, so Python prints it back as 100.0.
  EXPECT_EQ(dumps(json::parse("[1e2, 1.0, 7E-1, 1E400]")), "[100.0, 1.0, 0.7, Infinity]");
}

TEST(PythonJson, WritesFastApiResponsesCompactWithUtf8) {
  json::object o;
  o["text"] = "caf\xC3\xA9 \xF0\x9F\x98\x80\n\x7f\x01";
  o["n"] = json::array{1, 0.5, nullptr};
  EXPECT_EQ(fastapi(o),
            "{\"text\":\"caf\xC3\xA9 \xF0\x9F\x98\x80\\n\x7f\\u0001\",\"n\":[1,0.5,null]}");
}

TEST(PythonJson, WritesEachInvalidUtf8ByteAsReplacementCharacter) {
  // A lone continuation byte, a truncated sequence, an overlong '/', an encoded surrogate.
  EXPECT_EQ(dumps(json::string("a\x80z \xE2\x82 \xC0\xAF \xED\xA0\x80")),
            R"("a\ufffdz \ufffd\ufffd \ufffd\ufffd \ufffd\ufffd\ufffd")");
  EXPECT_EQ(fastapi(json::string("a\x80z")), "\"a\xEF\xBF\xBDz\"");
}

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
