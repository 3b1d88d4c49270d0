#include "ingress/openai_chat.hpp"

#include <gtest/gtest.h>

namespace shepherd::ingress {
namespace {

providers::Event event(api::ChunkKind kind) {
  providers::Event e;
  e.kind = kind;
  return e;
}

TEST(OpenAiChat, ServesItsRoutesOnly) {
  EXPECT_NE(find_dialect("/v1/chat/completions"), nullptr);
  EXPECT_NE(find_dialect("/chat/completions"), nullptr);
  EXPECT_EQ(find_dialect("/v1/models"), nullptr);
}

TEST(OpenAiChat, FramesEventsAsHttpChunks) {
  std::string out;
  append_event_chunk(out, "abc");
  EXPECT_EQ(out, "b\r\ndata: abc\n\n\r\n");
}

TEST(OpenAiChat, UsageOnlyChunkReachesOnlyClientsThatAskedForUsage) {
  const OpenAiChat d;
  api::ChatRequest r;
  std::string out;
  d.pass_event(out, R"({"choices":[],"usage":{}})", event(api::ChunkKind::kUsageOnly), r, "m", "m");
  EXPECT_TRUE(out.empty());
  r.client_wants_usage = true;
  d.pass_event(out, R"({"choices":[],"usage":{}})", event(api::ChunkKind::kUsageOnly), r, "m", "m");
  EXPECT_NE(out.find("usage"), std::string::npos);
}

TEST(OpenAiChat, RenamesTheModelBackToTheClientsName) {
  const OpenAiChat d;
  api::ChatRequest r;
  std::string out;
  d.pass_event(out, R"({"model":"gpt-4.1-mini","choices":[]})", event(api::ChunkKind::kData), r,
               "gpt-4.1-mini", "fast");
  EXPECT_NE(out.find(R"("model":"fast")"), std::string::npos);
  std::string answer = R"({"model":"gpt-4.1-mini","choices":[]})";
  d.pass_answer(answer, "gpt-4.1-mini", "fast");
  EXPECT_EQ(answer, R"({"model":"fast","choices":[]})");
}

}  // namespace
}  // namespace shepherd::ingress
