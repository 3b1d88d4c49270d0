#include "providers/gemini/gemini_adapter.hpp"

#include <gtest/gtest.h>

namespace shepherd::providers::gemini {
namespace {

config::ProviderConfig provider() {
  config::ProviderConfig p;
  p.name = "google";
  p.kind = "gemini";
  p.api_key = "AIza-secret";
  p.endpoint.path_prefix = "/v1beta";
  p.endpoint.host_header = "generativelanguage.googleapis.com";
  return p;
}

TEST(GeminiAdapter, NamesTheModelInThePath) {
  const GeminiAdapter a;
  EXPECT_TRUE(a.model_in_head());
  const auto answer = a.request_head(provider(), Operation::kChat, "gemini-2.5-flash", false);
  EXPECT_EQ(answer.rfind("POST /v1beta/models/gemini-2.5-flash:generateContent HTTP/1.1\r\n", 0),
            0u);
  EXPECT_NE(answer.find("x-goog-api-key: AIza-secret\r\n"), std::string::npos);
  const auto stream = a.request_head(provider(), Operation::kChat, "models/gemini-2.5-flash", true);
  EXPECT_EQ(stream.rfind("POST /v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse "
                         "HTTP/1.1\r\n",
                         0),
            0u);
  const auto embed =
      a.request_head(provider(), Operation::kEmbeddings, "text-embedding-004", false);
  EXPECT_EQ(
      embed.rfind("POST /v1beta/models/text-embedding-004:batchEmbedContents HTTP/1.1\r\n", 0), 0u);
}

TEST(GeminiAdapter, ServesEmbeddingsButNotLegacyCompletions) {
  const GeminiAdapter a;
  api::ChatRequest r;
  std::string scratch;
  const auto completions = a.operation_body(Operation::kCompletions, r,
                                            R"({"model":"m","prompt":"x"})", "m", 32, scratch);
  ASSERT_FALSE(completions);
  EXPECT_NE(completions.error().message.find("/v1/completions"), std::string::npos);
  const auto embeddings = a.operation_body(Operation::kEmbeddings, r,
                                           R"({"model":"m","input":["a","b"]})", "m", 32, scratch);
  ASSERT_TRUE(embeddings);
  EXPECT_NE(embeddings->find("models/m"), std::string::npos);
}

TEST(GeminiAdapter, TakesTheRetryDelayOfA429Body) {
  const GeminiAdapter a;
  const auto limited = a.read_status(
      provider(), 429,
      R"({"error":{"code":429,"message":"Resource has been exhausted","status":"RESOURCE_EXHAUSTED",)"
      R"("details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"37.5s"}]}})",
      "", 0);
  EXPECT_TRUE(limited.error.retryable);
  EXPECT_EQ(limited.error.retry_after, 38);
  EXPECT_NE(limited.error.message.find("Resource has been exhausted"), std::string::npos);
  // A Retry-After header wins; a body without RetryInfo gives none.
  EXPECT_EQ(a.read_status(provider(), 429, R"({"retryDelay":"9s"})", "3", 0).error.retry_after, 3);
  EXPECT_FALSE(a.read_status(provider(), 429, R"({"error":{}})", "", 0).error.retry_after);
  EXPECT_FALSE(a.read_status(provider(), 429, R"({"retryDelay":"soon"})", "", 0).error.retry_after);
}

}  // namespace
}  // namespace shepherd::providers::gemini
