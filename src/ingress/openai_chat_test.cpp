#include "ingress/openai_chat.hpp"

#include <gtest/gtest.h>

#include "ingress/anthropic_messages.hpp"
#include "translate/codec.hpp"

namespace shepherd::ingress {
namespace {

providers::Event event(api::ChunkKind kind) {
  providers::Event e;
  e.kind = kind;
  return e;
}

api::SseEvent sse(std::string_view data, std::string_view name = "") { return {name, data}; }

TEST(Dialects, EachEndpointHasItsDialect) {
  EXPECT_EQ(find_dialect("/v1/chat/completions")->name(), "openai-chat");
  EXPECT_EQ(find_dialect("/chat/completions")->name(), "openai-chat");
  EXPECT_EQ(find_dialect("/v1/messages")->name(), "anthropic-messages");
  EXPECT_EQ(find_dialect("/v1/responses")->name(), "openai-responses");
  EXPECT_EQ(find_dialect("/v1/completions")->operation(), providers::Operation::kCompletions);
  EXPECT_EQ(find_dialect("/v1/embeddings")->operation(), providers::Operation::kEmbeddings);
  EXPECT_EQ(find_dialect("/v1/models"), nullptr);
  EXPECT_EQ(find_dialect("/v1/messages/count_tokens"), nullptr);
}

TEST(Dialects, FramesEventsAsHttpChunks) {
  std::string out;
  translate::append_sse_chunk(out, "", "abc");
  EXPECT_EQ(out, "b\r\ndata: abc\n\n\r\n");
  out.clear();
  translate::append_sse_chunk(out, "ping", "{}");
  EXPECT_EQ(out, "16\r\nevent: ping\ndata: {}\n\n\r\n");
}

TEST(OpenAiChat, UsageOnlyChunkReachesOnlyClientsThatAskedForUsage) {
  const OpenAiChat d;
  api::ChatRequest r;
  std::string out;
  d.pass_event(out, sse(R"({"choices":[],"usage":{}})"), event(api::ChunkKind::kUsageOnly), r, "m",
               "m");
  EXPECT_TRUE(out.empty());
  r.client_wants_usage = true;
  d.pass_event(out, sse(R"({"choices":[],"usage":{}})"), event(api::ChunkKind::kUsageOnly), r, "m",
               "m");
  EXPECT_NE(out.find("usage"), std::string::npos);
}

TEST(OpenAiChat, TheUsageChunkCarriesTheRequestsCost) {
  const OpenAiChat d;
  api::ChatRequest r;
  r.client_wants_usage = true;
  auto e = event(api::ChunkKind::kUsageOnly);
  e.cost_usd = 0.000125;
  std::string out;
  d.pass_event(
      out, sse(R"({"model":"up","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":10}})"),
      e, r, "up", "mine");
  EXPECT_NE(out.find(R"("usage":{"cost":0.000125,"prompt_tokens":5)"), std::string::npos) << out;
  EXPECT_NE(out.find(R"("model":"mine")"), std::string::npos) << out;
  // An empty usage object takes the cost without a dangling comma.
  out.clear();
  d.pass_event(out, sse(R"({"choices":[],"usage":{}})"), e, r, "m", "m");
  EXPECT_NE(out.find(R"("usage":{"cost":0.000125})"), std::string::npos) << out;
}

TEST(OpenAiChat, RenamesTheModelBackToTheClientsName) {
  const OpenAiChat d;
  api::ChatRequest r;
  std::string out;
  d.pass_event(out, sse(R"({"model":"gpt-4.1-mini","choices":[]})"), event(api::ChunkKind::kData),
               r, "gpt-4.1-mini", "fast");
  EXPECT_NE(out.find(R"("model":"fast")"), std::string::npos);
  std::string answer = R"({"model":"gpt-4.1-mini","choices":[]})";
  d.pass_answer(answer, "gpt-4.1-mini", "fast");
  EXPECT_EQ(answer, R"({"model":"fast","choices":[]})");
}

TEST(OpenAiChat, EndpointsRequireTheirOwnContentField) {
  const auto* completions = find_dialect("/v1/completions");
  EXPECT_TRUE(completions->parse(R"({"model":"m","prompt":"Say hi"})", 32));
  const auto missing = completions->parse(R"({"model":"m","messages":[]})", 32);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().param, "prompt");
  const auto* embeddings = find_dialect("/v1/embeddings");
  const auto e = embeddings->parse(R"({"model":"m","input":["a"],"stream":true})", 32);
  ASSERT_TRUE(e);
  EXPECT_FALSE(e->stream);
  EXPECT_FALSE(embeddings->parse(R"({"model":"m","input":5})", 32));
}

TEST(AnthropicMessages, RenamesTheModelInMessageStartOnly) {
  const AnthropicMessages d;
  api::ChatRequest r;
  std::string out;
  d.pass_event(
      out,
      sse(R"({"type":"message_start","message":{"model":"claude-x","usage":{}}})", "message_start"),
      event(api::ChunkKind::kData), r, "claude-x", "claude");
  EXPECT_NE(out.find("event: message_start\n"), std::string::npos);
  EXPECT_NE(out.find(R"("model":"claude")"), std::string::npos);
  out.clear();
  const std::string_view delta =
      R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}})";
  d.pass_event(out, sse(delta, "content_block_delta"), event(api::ChunkKind::kData), r, "claude-x",
               "claude");
  EXPECT_NE(out.find(delta), std::string::npos);
}

TEST(AnthropicMessages, ErrorsInAnthropicsShape) {
  const AnthropicMessages d;
  const auto body = d.error_body(base::make_error(base::ErrorCode::kUnauthorized, "no key"));
  EXPECT_NE(body.find(R"("type":"error")"), std::string::npos);
  EXPECT_NE(body.find(R"("authentication_error")"), std::string::npos);
  std::string out;
  d.error_event(out, base::make_error(base::ErrorCode::kUnavailable, "later"));
  EXPECT_NE(out.find("event: error\n"), std::string::npos);
}

TEST(AnthropicMessages, ListsModelsInAnthropicsShape) {
  const auto body = anthropic_models_body({"claude", "gpt-4.1"});
  EXPECT_NE(body.find(R"("type":"model")"), std::string::npos);
  EXPECT_NE(body.find(R"("first_id":"claude")"), std::string::npos);
  EXPECT_NE(body.find(R"("last_id":"gpt-4.1")"), std::string::npos);
}

}  // namespace
}  // namespace shepherd::ingress
