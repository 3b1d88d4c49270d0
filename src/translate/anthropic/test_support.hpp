// What the Anthropic codec's tests share: the codec, builders of the common form, and readers of
// the SSE events an encoder writes.
#pragma once

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "translate/anthropic.hpp"
#include "translate/testing.hpp"

namespace shepherd::translate::anthropic_test {

using testing::fixture;
using testing::json_equal;
using testing::message;
using testing::text;
using testing::tool_call;
using testing::tool_result;

inline const Codec& codec() { return anthropic_codec(); }

inline Request decode(std::string_view body) {
  auto r = codec().decode_request(body, 64);
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
  return r.ok() ? std::move(r).value() : Request{};
}

inline std::string encode(const Request& r, std::string_view model) {
  std::string out;
  auto s = codec().encode_request(r, model, out);
  EXPECT_TRUE(s.ok()) << (s.ok() ? "" : s.error().message);
  return out;
}

inline Request simple_request() {
  Request r;
  r.model = "m";
  r.messages.push_back(message(Role::kUser, {text("Hi")}));
  return r;
}

inline boost::json::object parsed(std::string_view text) {
  return boost::json::parse(boost::json::string_view(text.data(), text.size())).as_object();
}

struct Event {
  std::string name;
  std::string data;
};

// The events of an SSE text ("event: x\ndata: y\n\n" ...).
inline std::vector<Event> sse_events(std::string_view text) {
  std::vector<Event> events;
  Event current;
  bool any = false;
  while (!text.empty()) {
    const auto eol = text.find('\n');
    std::string_view line = text.substr(0, eol);
    text.remove_prefix(eol == std::string_view::npos ? text.size() : eol + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) {
      if (any) events.push_back(std::move(current));
      current = {};
      any = false;
    } else if (line.substr(0, 7) == "event: ") {
      current.name = std::string(line.substr(7));
      any = true;
    } else if (line.substr(0, 6) == "data: ") {
      if (!current.data.empty()) current.data.push_back('\n');
      current.data.append(line.substr(6));
      any = true;
    }
  }
  if (any) events.push_back(std::move(current));
  return events;
}

// The payload of HTTP/1.1 chunks, checking each chunk's size.
inline std::string unchunk(std::string_view chunked) {
  std::string out;
  while (!chunked.empty()) {
    const auto eol = chunked.find("\r\n");
    EXPECT_NE(eol, std::string_view::npos) << "chunk size line without CRLF";
    if (eol == std::string_view::npos) break;
    const auto size = std::stoul(std::string(chunked.substr(0, eol)), nullptr, 16);
    chunked.remove_prefix(eol + 2);
    EXPECT_GE(chunked.size(), size + 2);
    if (chunked.size() < size + 2) break;
    out.append(chunked.substr(0, size));
    EXPECT_EQ(chunked.substr(size, 2), "\r\n");
    chunked.remove_prefix(size + 2);
  }
  return out;
}

inline std::vector<Delta> decode_stream(std::string_view transcript) {
  auto decoder = codec().stream_decoder();
  std::vector<Delta> out;
  for (const auto& e : sse_events(transcript)) {
    auto s = decoder->feed(e.name, e.data, out);
    EXPECT_TRUE(s.ok()) << (s.ok() ? "" : s.error().message);
  }
  decoder->end(out);
  return out;
}

}  // namespace shepherd::translate::anthropic_test
