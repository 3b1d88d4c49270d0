#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <charconv>
#include <cstring>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "translate/gemini/test_support.hpp"

namespace shepherd::translate {
namespace {

using namespace gemini_test;

constexpr int kDepth = 64;

// ---------------------------------------------------------------------------------------------
// Embeddings

TEST(GeminiEmbeddings, EncodesABatch) {
  std::string out;
  ASSERT_TRUE(encode_embeddings(fixture("gemini/embeddings_request_openai.json"), kDepth,
                                "gemini-embedding-001", out)
                  .ok());
  EXPECT_TRUE(json_equal(out, fixture("gemini/embeddings_request_gemini.json")));

  out.clear();
  ASSERT_TRUE(
      encode_embeddings(R"({"model":"m","input":"Hello"})", kDepth, "gemini-embedding-001", out)
          .ok());
  EXPECT_TRUE(json_equal(out, R"({"requests":[{"model":"models/gemini-embedding-001",
                                  "content":{"parts":[{"text":"Hello"}]}}]})"));
}

TEST(GeminiEmbeddings, RejectsWhatGeminiCannotTake) {
  const auto param_of = [](std::string_view body) {
    std::string out;
    auto s = encode_embeddings(body, kDepth, "gemini-embedding-001", out);
    EXPECT_FALSE(s.ok()) << body;
    if (s.ok()) return std::string("<ok>");
    EXPECT_EQ(s.error().code, base::ErrorCode::kBadRequest);
    return s.error().param;
  };
  EXPECT_EQ(param_of(R"({"model":"m","input":[1212, 318, 257]})"), "input");
  EXPECT_EQ(param_of(R"({"model":"m","input":["a", [1212, 318]]})"), "input[1]");
  EXPECT_EQ(param_of(R"({"model":"m","input":"a","encoding_format":"base64"})"), "encoding_format");
  EXPECT_EQ(param_of(R"({"model":"m","input":[]})"), "input");
  EXPECT_EQ(param_of(R"({"model":"m","input":""})"), "input");
  EXPECT_EQ(param_of(R"({"model":"m","input":["a",""]})"), "input[1]");
  EXPECT_EQ(param_of(R"({"model":"m"})"), "input");
  EXPECT_EQ(param_of(R"({"model":"m","input":"a","dimensions":0})"), "dimensions");
  EXPECT_EQ(param_of("[1]"), "");
}

// The numbers of every list named `key` in `body`, read exactly (Boost.JSON 1.81 parses some
// doubles 1 ulp off, so json_equal alone cannot tell).
std::vector<double> numbers_of(std::string_view body, std::string_view key) {
  std::vector<double> numbers;
  for (std::size_t at = body.find(key); at != std::string_view::npos; at = body.find(key, at)) {
    at = body.find('[', at) + 1;
    const std::size_t end = body.find(']', at);
    std::string_view list = body.substr(at, end - at);
    while (!list.empty()) {
      while (!list.empty() && (list.front() == ' ' || list.front() == ',')) list.remove_prefix(1);
      double d = 0;
      const auto [p, ec] = std::from_chars(list.data(), list.data() + list.size(), d);
      EXPECT_EQ(ec, std::errc()) << list;
      if (ec != std::errc()) break;
      numbers.push_back(d);
      list.remove_prefix(static_cast<std::size_t>(p - list.data()));
    }
  }
  return numbers;
}

TEST(GeminiEmbeddings, DecodesAListWithExactNumbers) {
  const std::string gemini = fixture("gemini/embeddings_response_gemini.json");
  const auto r = decode_embeddings(gemini, "text-embedding-3-small", 17);
  ASSERT_TRUE(r.ok()) << r.error().message;
  const std::string expected = fixture("gemini/embeddings_response_openai.json");
  EXPECT_TRUE(json_equal(*r, expected));
  const auto got = numbers_of(*r, R"("embedding")");
  const auto want = numbers_of(gemini, R"("values")");
  ASSERT_EQ(got.size(), 8u);
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(std::memcmp(&got[i], &want[i], sizeof(double)), 0) << i << ": " << got[i];
  }
}

TEST(GeminiEmbeddings, MalformedAnswerIsUnreadable) {
  for (const std::string_view body :
       {std::string_view(R"({"error":{"code":400,"message":"bad"}})"),
        std::string_view(R"({"embeddings":[{"values":["x"]}]})"),
        std::string_view(R"({"embeddings":[{}]})"), std::string_view(R"({"embeddings":{}})"),
        std::string_view("not json"), std::string_view("{}")}) {
    const auto r = decode_embeddings(body, "m", 1);
    ASSERT_FALSE(r.ok()) << body;
    EXPECT_EQ(r.error().code, base::ErrorCode::kUpstreamUnreachable) << body;
  }
}

}  // namespace
}  // namespace shepherd::translate
