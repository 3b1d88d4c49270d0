#include "fastchat/worker_codec.hpp"

#include <gtest/gtest.h>

#include "fastchat/protocol.hpp"

namespace shepherd::fastchat {
namespace {

using translate::Delta;

// The body bytes of HTTP/1.1 chunks, without the framing.
std::string unchunk(std::string_view framed) {
  std::string body;
  while (!framed.empty()) {
    const auto eol = framed.find("\r\n");
    EXPECT_NE(eol, std::string_view::npos);
    if (eol == std::string_view::npos) break;
    const auto size = std::stoul(std::string(framed.substr(0, eol)), nullptr, 16);
    body.append(framed.substr(eol + 2, size));
    EXPECT_EQ(framed.substr(eol + 2 + size, 2), "\r\n");
    framed.remove_prefix(eol + 4 + size);
  }
  return body;
}

std::vector<GenerateChunk> chunks(const std::string& framed) {
  NulFrameReader reader;
  std::vector<std::string> frames;
  reader.feed(unchunk(framed), frames);
  EXPECT_FALSE(reader.pending());
  std::vector<GenerateChunk> out;
  for (const auto& f : frames) {
    auto c = parse_generate_chunk(f);
    EXPECT_TRUE(c.ok()) << f;
    if (c) out.push_back(std::move(*c));
  }
  return out;
}

translate::Request request() {
  translate::Request r;
  r.model = "vicuna";
  translate::Message m;
  m.parts.push_back({});
  m.parts.back().text = "What is the capital of France? Answer in one word, please.";
  r.messages.push_back(m);
  return r;
}

Delta text(std::string t) {
  Delta d;
  d.kind = Delta::Kind::kText;
  d.text = std::move(t);
  return d;
}

Delta of(Delta::Kind kind) {
  Delta d;
  d.kind = kind;
  return d;
}

TEST(WorkerCodec, StreamsCumulativeTextThenTheProvidersUsageAndFinishReason) {
  const auto req = request();
  auto encoder = worker_codec().stream_encoder(req, "vicuna");
  std::string out;
  encoder->encode(of(Delta::Kind::kStart), out);
  encoder->encode(text("Par"), out);
  EXPECT_EQ(out, "") << "text is held until the batch of deltas ends";
  encoder->flush(out);             // one upstream read's deltas end here
  encoder->encode(text(""), out);  // nothing to say
  encoder->encode(text("is "), out);
  encoder->encode(text("🗼"), out);
  encoder->flush(out);  // two deltas of one read: one chunk
  encoder->flush(out);  // nothing new: no chunk
  auto finish = of(Delta::Kind::kFinish);
  finish.stop_reason = translate::StopReason::kEndTurn;
  encoder->encode(finish, out);
  auto usage = of(Delta::Kind::kUsage);
  usage.usage.prompt_tokens = 41;
  usage.usage.completion_tokens = 3;
  encoder->encode(usage, out);
  encoder->encode(of(Delta::Kind::kDone), out);
  const auto got = chunks(out);
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0].text, "Par");
  EXPECT_EQ(got[1].text, "Paris 🗼");
  EXPECT_EQ(got[2].text, "Paris 🗼");
  for (const auto& c : got) EXPECT_EQ(c.error_code, 0);
  EXPECT_EQ(got[0].finish_reason, std::nullopt);
  EXPECT_EQ(got[1].finish_reason, std::nullopt);
  EXPECT_EQ(got[2].finish_reason, "stop");
  // Intermediate chunks: the estimate and the pieces so far; the last: the provider's counts.
  const auto estimate = translate::estimate_tokens(req);
  ASSERT_TRUE(got[1].usage);
  EXPECT_EQ(got[1].usage->prompt_tokens, estimate);
  EXPECT_EQ(got[1].usage->completion_tokens, 3);
  ASSERT_TRUE(got[2].usage);
  EXPECT_EQ(got[2].usage->prompt_tokens, 41);
  EXPECT_EQ(got[2].usage->completion_tokens, 3);
  EXPECT_EQ(got[2].usage->total_tokens, 44);
  // Python's json.dumps form, as FastChat's workers write chunks.
  EXPECT_NE(unchunk(out).find("{\"text\": \"Par\", \"error_code\": 0, \"usage\": "),
            std::string::npos);
}

TEST(WorkerCodec, MaxTokensFinishesWithLengthAndNoUsageKeepsTheEstimate) {
  auto encoder = worker_codec().stream_encoder(request(), "vicuna");
  std::string out;
  encoder->encode(text("Paris"), out);
  auto finish = of(Delta::Kind::kFinish);
  finish.stop_reason = translate::StopReason::kMaxTokens;
  encoder->encode(finish, out);
  encoder->encode(of(Delta::Kind::kDone), out);
  const auto got = chunks(out);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[1].finish_reason, "length");
  ASSERT_TRUE(got[1].usage);
  EXPECT_EQ(got[1].usage->completion_tokens, 1);
}

TEST(WorkerCodec, AnErrorInTheStreamIsAFastChatErrorChunk) {
  auto encoder = worker_codec().stream_encoder(request(), "vicuna");
  std::string out;
  encoder->encode(text("Par"), out);
  auto error = of(Delta::Kind::kError);
  error.error = base::make_error(base::ErrorCode::kUpstreamUnreachable, "the upstream went away");
  encoder->encode(error, out);
  const auto got = chunks(out);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[1].error_code, error_codes::kInternalError);
  EXPECT_EQ(got[1].text, server_error_text("the upstream went away"));
  EXPECT_EQ(got[1].usage, std::nullopt);
}

TEST(WorkerCodec, TheWholeAnswerIsTheLastChunk) {
  translate::Response response;
  response.content.push_back({});
  response.content.back().text = "Paris";
  response.stop_reason = translate::StopReason::kStopSequence;
  response.usage = translate::Usage{};
  response.usage->prompt_tokens = 41;
  response.usage->completion_tokens = 2;
  std::string out;
  worker_codec().encode_response(request(), response, "vicuna", out);
  auto answer = parse_generate_chunk(out);
  ASSERT_TRUE(answer.ok()) << out;
  EXPECT_EQ(answer->text, "Paris");
  EXPECT_EQ(answer->error_code, 0);
  EXPECT_EQ(answer->finish_reason, "stop");
  ASSERT_TRUE(answer->usage);
  EXPECT_EQ(answer->usage->total_tokens, 43);
}

TEST(WorkerCodec, ErrorsCarryFastChatsCodes) {
  auto code_of = [](base::Error e) {
    auto body = parse_generate_chunk(worker_codec().error_body(e));
    EXPECT_TRUE(body.ok());
    EXPECT_EQ(body->text, server_error_text(e.message));
    return body->error_code;
  };
  EXPECT_EQ(code_of(base::make_error(base::ErrorCode::kRateLimited, "slow down")),
            error_codes::kRateLimit);
  EXPECT_EQ(code_of(base::make_error(base::ErrorCode::kQuotaExceeded, "budget spent")),
            error_codes::kQuotaExceeded);
  EXPECT_EQ(code_of(base::make_error(base::ErrorCode::kBadRequest, "temperature")),
            error_codes::kParamOutOfRange);
  auto overflow = base::make_error(base::ErrorCode::kBadRequest, "too long");
  overflow.upstream_body = "context_length_exceeded";
  EXPECT_EQ(code_of(overflow), error_codes::kContextOverflow);
  EXPECT_EQ(code_of(base::make_error(base::ErrorCode::kUpstreamTimeout, "late")),
            error_codes::kInternalError);
}

TEST(WorkerCodec, DecodesNoRequestsItsShellDecodesThem) {
  // The worker's shell reads generate parameters through the model's template (chat_request);
  // a body reaching the codec is refused, not read as another API's.
  auto r = worker_codec().decode_request(
      R"({"model":"vicuna","messages":[{"role":"user","content":"hi"}],"max_tokens":16})", 32);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, base::ErrorCode::kBadRequest);
  EXPECT_EQ(worker_codec().wire(), translate::Wire::kFastChatWorker);
}

}  // namespace
}  // namespace shepherd::fastchat
