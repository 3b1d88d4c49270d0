// Helpers shared by the OpenAI chat codec's tests: the codec's entry points with the checks every
// test wants, and SSE transcripts taken apart into their events' data.
#pragma once

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "translate/openai_chat.hpp"
#include "translate/testing.hpp"

namespace shepherd::translate::openai_chat_test {

namespace json = boost::json;
using base::ErrorCode;
using testing::fixture;
using testing::json_equal;

inline constexpr int kDepth = 64;

inline const Codec& codec() { return openai_chat_codec(); }

inline Request decode(std::string_view body) {
  auto r = codec().decode_request(body, kDepth);
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
  return r.ok() ? std::move(r).value() : Request{};
}

inline std::string encode(const Request& r, std::string_view model = "upstream-model") {
  std::string out;
  const auto s = codec().encode_request(r, model, out);
  EXPECT_TRUE(s.ok());
  return out;
}

inline base::Error decode_error(std::string_view body) {
  auto r = codec().decode_request(body, kDepth);
  EXPECT_FALSE(r.ok()) << "accepted: " << body;
  return r.ok() ? base::Error{} : std::move(r).error();
}

inline json::object parse_object(std::string_view text) {
  boost::system::error_code ec;
  auto v = json::parse(json::string_view(text.data(), text.size()), ec);
  EXPECT_FALSE(ec) << "not JSON: " << text;
  return v.is_object() ? v.get_object() : json::object{};
}

// The data of each event of an SSE transcript as the wire carries it.
inline std::vector<std::string> sse_data(std::string_view text) {
  std::vector<std::string> events;
  std::string data;
  bool any = false;
  while (!text.empty()) {
    const auto eol = text.find('\n');
    const auto line = text.substr(0, eol);
    text.remove_prefix(eol == std::string_view::npos ? text.size() : eol + 1);
    if (line.empty()) {
      if (any) events.push_back(std::move(data));
      data.clear();
      any = false;
    } else if (line.substr(0, 6) == "data: ") {
      if (any) data += '\n';
      data += line.substr(6);
      any = true;
    }
  }
  return events;
}

// The SSE events inside HTTP/1.1 chunks, as a stream encoder writes them.
inline std::vector<std::string> unframe(std::string_view out) {
  std::string sse;
  while (!out.empty()) {
    const auto eol = out.find("\r\n");
    if (eol == std::string_view::npos) break;
    const auto size = std::stoul(std::string(out.substr(0, eol)), nullptr, 16);
    sse += out.substr(eol + 2, size);
    out.remove_prefix(eol + 2 + size + 2);
  }
  return sse_data(sse);
}

inline std::vector<Delta> decode_stream(std::string_view transcript) {
  auto decoder = codec().stream_decoder();
  std::vector<Delta> deltas;
  for (const auto& data : sse_data(transcript)) {
    const auto s = decoder->feed("", data, deltas);
    EXPECT_TRUE(s.ok()) << data;
  }
  return deltas;
}

}  // namespace shepherd::translate::openai_chat_test
