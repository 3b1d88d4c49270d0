#include "providers/anthropic/anthropic_adapter.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace shepherd::providers::anthropic {
namespace {

config::ProviderConfig provider() {
  config::ProviderConfig p;
  p.name = "claude";
  p.kind = "anthropic";
  p.api_key = "sk-ant-secret";
  p.endpoint.host_header = "api.anthropic.com";
  return p;
}

TEST(AnthropicAdapter, SendsItsKeyAndVersionToTheMessagesPath) {
  const AnthropicAdapter a;
  const auto head = a.request_head(provider(), Operation::kChat, "", true);
  EXPECT_EQ(head.rfind("POST /v1/messages HTTP/1.1\r\n", 0), 0u);
  EXPECT_NE(head.find("x-api-key: sk-ant-secret\r\n"), std::string::npos);
  EXPECT_NE(head.find("anthropic-version: 2023-06-01\r\n"), std::string::npos);
  EXPECT_EQ(head.find("Authorization"), std::string::npos);
  EXPECT_EQ(a.probe_request(provider()).rfind("GET /v1/models HTTP/1.1\r\n", 0), 0u);
}

TEST(AnthropicAdapter, ReadsUsageFromStartAndDeltaAndTheEndFromMessageStop) {
  const AnthropicAdapter a;
  auto start = a.read_event(
      {"message_start",
       R"({"type":"message_start","message":{"model":"m","usage":{"input_tokens":10,)"
       R"("cache_read_input_tokens":5,"cache_creation_input_tokens":2,"output_tokens":1}}})"});
  ASSERT_TRUE(start);
  ASSERT_TRUE(start->usage);
  EXPECT_EQ(start->usage->prompt_tokens, 17);
  auto delta = a.read_event({"message_delta",
                             R"({"type":"message_delta","delta":{"stop_reason":"end_turn"},)"
                             R"("usage":{"output_tokens":42}})"});
  ASSERT_TRUE(delta && delta->usage);
  EXPECT_EQ(delta->usage->completion_tokens, 42);
  EXPECT_EQ(delta->usage->prompt_tokens, 0);  // not reported here: the pipeline keeps 17
  auto stop = a.read_event({"message_stop", R"({"type":"message_stop"})"});
  ASSERT_TRUE(stop);
  EXPECT_EQ(stop->kind, api::ChunkKind::kDone);
  auto error = a.read_event({"error", R"({"type":"error","error":{"type":"overloaded_error"}})"});
  ASSERT_TRUE(error);
  EXPECT_EQ(error->kind, api::ChunkKind::kError);
  // Without event names the data's type decides.
  auto untyped = a.read_event({"", R"({"type":"message_stop"})"});
  ASSERT_TRUE(untyped);
  EXPECT_EQ(untyped->kind, api::ChunkKind::kDone);
  EXPECT_FALSE(a.read_event({"message_start", "{broken"}));
  EXPECT_TRUE(a.is_preamble({"message_start", "{}"}));
  EXPECT_TRUE(a.is_preamble({"ping", "{}"}));
  EXPECT_FALSE(a.is_preamble({"content_block_delta", "{}"}));
}

TEST(AnthropicAdapter, RenamesOnlyTheModel) {
  const AnthropicAdapter a;
  api::ChatRequest r;
  r.model = "claude";
  r.stream = true;
  std::string scratch;
  const std::string body = R"({"model":"claude","max_tokens":5,"messages":[]})";
  EXPECT_EQ(a.chat_body(r, body, "claude", scratch).data(), body.data());
  EXPECT_EQ(a.chat_body(r, body, "claude-sonnet-4-5", scratch),
            R"({"model":"claude-sonnet-4-5","max_tokens":5,"messages":[]})");
}

TEST(AnthropicAdapter, BenchesTheDeploymentUntilTheRateLimitResets) {
  const AnthropicAdapter a;
  // 2025-06-01T12:00:00Z
  const std::time_t now = 1748779200;
  std::vector<Header> h = {{"anthropic-ratelimit-requests-remaining", "0"},
                           {"Anthropic-RateLimit-Requests-Reset", "2025-06-01T12:00:30Z"}};
  const auto d = a.exhausted_for(h, now);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->count(), 30000);
  h[0].value = "3";
  EXPECT_FALSE(a.exhausted_for(h, now));
  std::vector<Header> garbage = {{"anthropic-ratelimit-tokens-remaining", "0"},
                                 {"anthropic-ratelimit-tokens-reset", "soon"}};
  EXPECT_FALSE(a.exhausted_for(garbage, now));
}

TEST(AnthropicAdapter, ReadsStatusesInAnthropicsErrorShape) {
  const AnthropicAdapter a;
  const auto overloaded = a.read_status(
      provider(), 529,
      R"({"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}})", "", 0);
  EXPECT_TRUE(overloaded.error.retryable);
  EXPECT_NE(overloaded.error.message.find("Overloaded"), std::string::npos);
  const auto too_long = a.read_status(
      provider(), 400,
      R"({"type":"error","error":{"type":"invalid_request_error","message":"prompt is too long: 210000 tokens > 200000 maximum"}})",
      "", 0);
  EXPECT_TRUE(too_long.context_exceeded);
  const auto bad_key = a.read_status(provider(), 401, "sk-ant-secret is invalid", "", 0);
  EXPECT_EQ(bad_key.error.message.find("sk-ant-secret"), std::string::npos);
}

}  // namespace
}  // namespace shepherd::providers::anthropic
