#include "providers/openai/openai_adapter.hpp"

#include <gtest/gtest.h>

#include <vector>

#include "providers/registry.hpp"

namespace shepherd::providers::openai {
namespace {

using routing::AttemptResult;

api::SseEvent sse(std::string_view data) { return api::SseEvent{"", data}; }

config::ProviderConfig provider() {
  config::ProviderConfig p;
  p.name = "relay";
  p.api_key = "sk-secret-123";
  p.endpoint.path_prefix = "/v1";
  p.endpoint.host_header = "relay.example";
  return p;
}

TEST(OpenAiAdapter, ForwardsTheClientBytesWhenNothingChanges) {
  OpenAiAdapter a;
  const std::string body = R"({"model":"gpt-4.1","messages":[{"role":"user","content":"hi"}]})";
  api::ChatRequest r;
  r.model = "gpt-4.1";
  std::string scratch;
  const auto out = a.chat_body(r, body, "gpt-4.1", scratch);
  EXPECT_EQ(out.data(), body.data());
  EXPECT_TRUE(scratch.empty());
}

TEST(OpenAiAdapter, RenamesTheModelAndAsksForStreamUsage) {
  OpenAiAdapter a;
  const std::string body =
      R"({"model":"fast","stream":true,"messages":[{"role":"user","content":"hi"}]})";
  api::ChatRequest r;
  r.model = "fast";
  r.stream = true;
  std::string scratch;
  const auto out = a.chat_body(r, body, "gpt-4.1-mini", scratch);
  EXPECT_EQ(out.data(), scratch.data());
  EXPECT_NE(out.find(R"("model":"gpt-4.1-mini")"), std::string_view::npos);
  EXPECT_NE(out.find(R"("include_usage":true)"), std::string_view::npos);
}

TEST(OpenAiAdapter, ChatHeadCarriesTheKeyAndTheStreamAccept) {
  OpenAiAdapter a;
  const auto head = a.request_head(provider(), Operation::kChat, "", true);
  EXPECT_EQ(head.rfind("POST /v1/chat/completions HTTP/1.1\r\n", 0), 0u);
  EXPECT_NE(head.find("Host: relay.example\r\n"), std::string::npos);
  EXPECT_NE(head.find("Authorization: Bearer sk-secret-123\r\n"), std::string::npos);
  EXPECT_NE(head.find("Accept: text/event-stream\r\n"), std::string::npos);
  EXPECT_EQ(a.probe_request(provider()).rfind("GET /v1/models HTTP/1.1\r\n", 0), 0u);
}

TEST(OpenAiAdapter, RejectedCredentialsHideTheProviderText) {
  OpenAiAdapter a;
  const auto f =
      a.read_status(provider(), 401, R"({"error":{"message":"bad key sk-secret-123"}})", "", 0);
  EXPECT_EQ(f.verdict, AttemptResult::kAuthFailure);
  EXPECT_EQ(f.error.code, base::ErrorCode::kUpstreamUnreachable);
  EXPECT_TRUE(f.error.retryable);
  EXPECT_EQ(f.error.message.find("sk-secret"), std::string::npos);
  EXPECT_NE(f.error.message.find("providers.relay.api_key"), std::string::npos);
}

TEST(OpenAiAdapter, ErrorMessagesNeverQuoteTheKey) {
  OpenAiAdapter a;
  const auto f =
      a.read_status(provider(), 500, R"({"error":{"message":"oops sk-secret-123"}})", "", 0);
  EXPECT_EQ(f.verdict, AttemptResult::kFailure);
  EXPECT_EQ(f.error.message.find("sk-secret-123"), std::string::npos);
  EXPECT_NE(f.error.message.find("[redacted]"), std::string::npos);
  EXPECT_TRUE(f.error.retryable);
}

TEST(OpenAiAdapter, RateLimitKeepsRetryAfter) {
  OpenAiAdapter a;
  const auto f = a.read_status(provider(), 429, "{}", "7", 1'700'000'000);
  EXPECT_EQ(f.verdict, AttemptResult::kRateLimited);
  EXPECT_EQ(f.error.status, 429);
  ASSERT_TRUE(f.error.retry_after);
  EXPECT_EQ(*f.error.retry_after, 7);
}

TEST(OpenAiAdapter, ContextLengthExceededMayGoElsewhere) {
  OpenAiAdapter a;
  const auto f = a.read_status(
      provider(), 400, R"({"error":{"code":"context_length_exceeded","message":"x"}})", "", 0);
  EXPECT_TRUE(f.context_exceeded);
  EXPECT_TRUE(f.error.retryable);
  EXPECT_EQ(f.verdict, AttemptResult::kNeutral);
  const auto other = a.read_status(provider(), 400, R"({"error":{"message":"bad"}})", "", 0);
  EXPECT_FALSE(other.context_exceeded);
  EXPECT_FALSE(other.error.retryable);
}

TEST(OpenAiAdapter, RedirectsAreNeverFollowed) {
  OpenAiAdapter a;
  const auto f = a.read_status(provider(), 307, "", "", 0);
  EXPECT_EQ(f.error.code, base::ErrorCode::kUpstreamUnreachable);
  EXPECT_FALSE(f.error.retryable);
}

TEST(OpenAiAdapter, ExhaustedForReadsRemainingZeroWithItsReset) {
  OpenAiAdapter a;
  std::vector<Header> h = {{"Content-Type", "application/json"},
                           {"X-RateLimit-Remaining-Requests", "0"},
                           {"x-ratelimit-reset-requests", "1m30s"},
                           {"x-ratelimit-remaining-tokens", "0"},
                           {"x-ratelimit-reset-tokens", "20ms"}};
  const auto d = a.exhausted_for(h, 0);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->count(), 90'000);  // the longer of the two
}

TEST(OpenAiAdapter, ExhaustedForIgnoresRemainingQuota) {
  OpenAiAdapter a;
  std::vector<Header> h = {{"x-ratelimit-remaining-requests", "12"},
                           {"x-ratelimit-reset-requests", "1s"}};
  EXPECT_FALSE(a.exhausted_for(h, 0));
  std::vector<Header> no_reset = {{"x-ratelimit-remaining-requests", "0"}};
  EXPECT_FALSE(a.exhausted_for(no_reset, 0));
  EXPECT_FALSE(a.exhausted_for({}, 0));
}

TEST(OpenAiAdapter, ReadsUsageOfAnswersAndEvents) {
  OpenAiAdapter a;
  auto answer = a.read_answer(
      R"({"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}})");
  ASSERT_TRUE(answer);
  ASSERT_TRUE(answer->usage);
  EXPECT_EQ(answer->usage->total_tokens, 7);
  EXPECT_FALSE(a.read_answer("not json"));
  auto done = a.read_event(sse("[DONE]"));
  ASSERT_TRUE(done);
  EXPECT_EQ(done->kind, api::ChunkKind::kDone);
  EXPECT_FALSE(a.read_event(sse("{broken")));
  EXPECT_TRUE(
      a.is_preamble(sse(R"({"choices":[{"index":0,"delta":{"role":"assistant","content":""}}]})")));
  EXPECT_FALSE(a.is_preamble(sse(R"({"choices":[{"index":0,"delta":{"content":"Hi"}}]})")));
}

TEST(Registry, EveryKindTheConfigAcceptsHasAnAdapter) {
  for (const auto* kind : {"openai", "anthropic", "gemini"}) {
    ASSERT_NE(find_adapter(kind), nullptr) << kind;
    EXPECT_EQ(find_adapter(kind)->kind(), kind);
  }
  EXPECT_EQ(find_adapter("smoke-signals"), nullptr);
  for (const auto* a : adapters()) EXPECT_EQ(find_adapter(a->kind()), a);
}

TEST(StatusVerdict, JudgesTheDeploymentNotTheRequest) {
  EXPECT_EQ(status_verdict(503), AttemptResult::kFailure);
  EXPECT_EQ(status_verdict(408), AttemptResult::kFailure);
  EXPECT_EQ(status_verdict(429), AttemptResult::kRateLimited);
  EXPECT_EQ(status_verdict(403), AttemptResult::kAuthFailure);
  EXPECT_EQ(status_verdict(404), AttemptResult::kNeutral);
}

}  // namespace
}  // namespace shepherd::providers::openai
