#include "ui/files.hpp"

#include <gtest/gtest.h>

#include <algorithm>

namespace shepherd::ui {
namespace {

TEST(UiFiles, EveryFileIsSortedTypedAndTagged) {
  const auto all = assets();
  ASSERT_FALSE(all.empty());
  EXPECT_TRUE(std::is_sorted(all.begin(), all.end(),
                             [](const Asset& a, const Asset& b) { return a.path < b.path; }));
  for (const auto& a : all) {
    EXPECT_FALSE(a.body.empty()) << a.path;
    EXPECT_FALSE(a.content_type.empty()) << a.path;
    EXPECT_TRUE(a.etag.size() > 2 && a.etag.front() == '"' && a.etag.back() == '"') << a.path;
    if (!a.gzip.empty()) {
      EXPECT_LT(a.gzip.size(), a.body.size()) << a.path;
    }
  }
}

TEST(UiFiles, RootIsTheIndexWithItsSecurityHeaders) {
  const auto index = answer_file("/", "", false);
  ASSERT_TRUE(index);
  EXPECT_EQ(index->status, 200);
  EXPECT_EQ(index->content_type, "text/html; charset=utf-8");
  EXPECT_NE(index->body.find("<html"), std::string_view::npos);
  EXPECT_NE(index->headers.find("Content-Security-Policy: default-src 'self'; script-src 'self';"),
            std::string::npos);
  EXPECT_NE(index->headers.find("X-Frame-Options: DENY"), std::string::npos);
  // No inline script anywhere in the page: every script comes from a file.
  EXPECT_EQ(index->body.find("<script>"), std::string_view::npos);
  const auto same = answer_file("index.html", "", false);
  ASSERT_TRUE(same);
  EXPECT_EQ(same->body, index->body);
}

TEST(UiFiles, EtagRevalidationAnswers304WithoutABody) {
  const auto first = answer_file("app.js", "", false);
  ASSERT_TRUE(first);
  const auto at = first->headers.find("ETag: ");
  ASSERT_NE(at, std::string::npos);
  const auto end = first->headers.find("\r\n", at);
  const auto etag = first->headers.substr(at + 6, end - at - 6);
  const auto again = answer_file("app.js", "\"other\", " + etag, false);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 304);
  const auto weak = answer_file("app.js", "W/" + etag, false);
  EXPECT_EQ(weak->status, 304);
  const auto stale = answer_file("app.js", "\"0000\"", false);
  EXPECT_EQ(stale->status, 200);
}

TEST(UiFiles, GzipOnlyWhenAcceptedAndSmaller) {
  const auto plain = answer_file("app.js", "", false);
  const auto gz = answer_file("app.js", "", true);
  ASSERT_TRUE(plain && gz);
  EXPECT_EQ(plain->headers.find("Content-Encoding"), std::string::npos);
  EXPECT_NE(gz->headers.find("Content-Encoding: gzip"), std::string::npos);
  EXPECT_LT(gz->body.size(), plain->body.size());
  // gzip's magic bytes.
  ASSERT_GE(gz->body.size(), 2u);
  EXPECT_EQ(static_cast<unsigned char>(gz->body[0]), 0x1f);
  EXPECT_EQ(static_cast<unsigned char>(gz->body[1]), 0x8b);
}

TEST(UiFiles, UnknownPathsAreNotFiles) {
  EXPECT_FALSE(answer_file("nope.js", "", false));
  EXPECT_FALSE(answer_file("../index.html", "", false));
  EXPECT_FALSE(answer_file("app.js/x", "", false));
  EXPECT_TRUE(is_root_file("/app.js"));
  EXPECT_TRUE(is_root_file("/index.html"));
  EXPECT_FALSE(is_root_file("/"));
  EXPECT_FALSE(is_root_file("/v1/models"));
  EXPECT_FALSE(is_root_file("app.js"));
}

}  // namespace
}  // namespace shepherd::ui
