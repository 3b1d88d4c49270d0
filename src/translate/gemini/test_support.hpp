// What the Gemini codec's tests share: building requests, running the codec, reading streams.
#pragma once

#include <gtest/gtest.h>

#include <array>
#include <boost/json.hpp>
#include <cstdint>
#include <regex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "translate/gemini.hpp"
#include "translate/testing.hpp"

namespace shepherd::translate::gemini_test {

namespace json = boost::json;
using testing::fixture;
using testing::json_equal;
using testing::message;
using testing::text;
using testing::tool_call;
using testing::tool_result;

// The thoughtSignature of the fixtures' signed call, and the same bytes as the id carries them.
inline constexpr std::string_view kSignature =
    "+/+/KCkqKywtLi8wMTIzNDU2Nzg5Ojs8PT4/QEFCQ0RFRkdISUpLTE1OTw==";
inline constexpr std::string_view kSignatureUrl =
    "-_-_KCkqKywtLi8wMTIzNDU2Nzg5Ojs8PT4_QEFCQ0RFRkdISUpLTE1OTw";

// A part of `kind` holding `t` as its text (kText, kThinking, kRedactedThinking).
inline Part part(Part::Kind kind, std::string t = {}) {
  Part p;
  p.kind = kind;
  p.text = std::move(t);
  return p;
}

// An image as base64 `data` of `media_type`, or (`media_type` empty) as the URL `data`.
inline Part image(std::string media_type, std::string data) {
  Part p = part(Part::Kind::kImage);
  (media_type.empty() ? p.url : p.data) = std::move(data);
  p.media_type = std::move(media_type);
  return p;
}

inline Request user_says(std::string t) {
  Request r;
  r.model = "gpt-4o";
  r.messages.push_back(message(Role::kUser, {text(std::move(t))}));
  return r;
}

inline Tool light_tool() {
  Tool t;
  t.name = "set_light_values";
  t.description = "Sets the brightness and color temperature of a light.";
  t.parameters = json::parse(R"({
    "type": "object",
    "properties": {
      "brightness": {"type": "integer", "description": "Light level from 0 to 100. Zero is off and 100 is full brightness"},
      "color_temp": {"type": "string", "enum": ["daylight", "cool", "warm"], "description": "Color temperature of the light fixture, which can be `daylight`, `cool` or `warm`."}
    },
    "required": ["brightness", "color_temp"]
  })");
  return t;
}

// A usage's token counts {prompt, completion, cache read, cache creation, reasoning}, to compare
// in one assertion.
using Counts = std::array<std::int64_t, 5>;
inline Counts counts(const Usage& u) {
  return {u.prompt_tokens, u.completion_tokens, u.cache_read_tokens, u.cache_creation_tokens,
          u.reasoning_tokens};
}

inline std::string encode(const Request& request) {
  std::string out;
  const auto status = gemini_codec().encode_request(request, "gemini-2.5-flash", out);
  EXPECT_TRUE(status.ok()) << (status.ok() ? "" : status.error().message);
  return out;
}

inline base::Error encode_error(const Request& request) {
  std::string out;
  auto status = gemini_codec().encode_request(request, "gemini-2.5-flash", out);
  EXPECT_FALSE(status.ok());
  return status.ok() ? base::Error{} : std::move(status).error();
}

inline Response decode(std::string_view body) {
  auto r = gemini_codec().decode_response(body);
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
  return r.ok() ? std::move(r).value() : Response{};
}

inline bool valid_tool_id(const std::string& id) {
  static const std::regex kRule("^[a-zA-Z0-9_-]+$");
  return std::regex_match(id, kRule);
}

// The `data:` payloads of an SSE transcript, one per event.
inline std::vector<std::string> sse_events(std::string_view transcript) {
  std::vector<std::string> events;
  std::string data;
  bool has_data = false;
  std::size_t pos = 0;
  while (pos <= transcript.size()) {
    std::size_t end = transcript.find('\n', pos);
    if (end == std::string_view::npos) end = transcript.size();
    std::string_view line = transcript.substr(pos, end - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) {
      if (has_data) events.push_back(data);
      data.clear();
      has_data = false;
    } else if (line.substr(0, 5) == "data:") {
      line.remove_prefix(5);
      if (!line.empty() && line.front() == ' ') line.remove_prefix(1);
      if (has_data) data.push_back('\n');
      data.append(line);
      has_data = true;
    }
    pos = end + 1;
  }
  if (has_data) events.push_back(data);
  return events;
}

inline std::vector<Delta> run_stream(const std::vector<std::string>& events,
                                     bool body_ended = true) {
  auto decoder = gemini_codec().stream_decoder();
  EXPECT_NE(decoder, nullptr);
  std::vector<Delta> out;
  for (const auto& e : events) {
    const auto status = decoder->feed("", e, out);
    EXPECT_TRUE(status.ok()) << (status.ok() ? "" : status.error().message);
  }
  if (body_ended) decoder->end(out);
  return out;
}

inline std::vector<Delta::Kind> kinds(const std::vector<Delta>& deltas) {
  std::vector<Delta::Kind> k;
  for (const auto& d : deltas) k.push_back(d.kind);
  return k;
}

}  // namespace shepherd::translate::gemini_test
