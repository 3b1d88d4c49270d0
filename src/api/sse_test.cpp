#include "api/sse.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace shepherd::api {
namespace {

// (event, data) of each dispatched event.
using Events = std::vector<std::pair<std::string, std::string>>;

// Feeds `pieces` in order; stops at the first error.
struct Run {
  Events events;
  bool ok = true;
  base::ErrorCode code = base::ErrorCode::kInternal;
  bool mid_event = false;
};

Run feed_all(SseParser& parser, const std::vector<std::string_view>& pieces) {
  Run run;
  for (auto piece : pieces) {
    auto status = parser.feed(piece, [&](const SseEvent& e) {
      run.events.emplace_back(std::string(e.event), std::string(e.data));
    });
    if (!status.ok()) {
      run.ok = false;
      run.code = status.error().code;
      break;
    }
  }
  run.mid_event = parser.mid_event();
  return run;
}

Run feed_all(const std::vector<std::string_view>& pieces, std::size_t max = 16 * 1024 * 1024) {
  SseParser parser(max);
  return feed_all(parser, pieces);
}

// A stream exercising every feature: comments, event types, LF / CRLF / CR line ends, "data:"
// with and without a space, multi-line data, a data field without a colon, an event without data,
// ignored fields, and an unfinished event at the end.
constexpr std::string_view kStream =
    ": keep-alive comment\n"
    "data: first\n"
    "\n"
    "event: update\r\n"
    "data:no-space\r\n"
    "data:  two spaces\r\n"
    "\r\n"
    "event: lonely\n"
    "\n"
    "id: 7\rretry: 100\rdata: cr\r\r"
    "data\n"
    "\n"
    "data: x\r\n"
    "data: y\r"
    "data: z\n"
    "\n"
    "unknown: field\n"
    ":ping\n"
    "data: {\"a\":1}\n"
    "\r"
    "event: after-cr\n"
    "data: last\n"
    "\n"
    "data: unfinished";

const Events kStreamEvents = {
    {"", "first"},        {"update", "no-space\n two spaces"},
    {"", "cr"},           {"", ""},
    {"", "x\ny\nz"},      {"", "{\"a\":1}"},
    {"after-cr", "last"},
};

TEST(SseParser, ReleasesBuffersALargeEventGrewOnceItIsOut) {
  SseParser parser;
  const std::string large = "data: " + std::string(10'000, 'x') + "\n\n";
  auto run = feed_all(
      parser, {std::string_view(large).substr(0, 100), std::string_view(large).substr(100)});
  ASSERT_EQ(run.events.size(), 1u);
  EXPECT_GT(parser.held_bytes(), 10'000u);
  parser.release_idle(4096);
  EXPECT_EQ(parser.held_bytes(), 0u);
  // Parsing goes on as before.
  run = feed_all(parser, {"data: next\n\n"});
  ASSERT_EQ(run.events.size(), 1u);
  EXPECT_EQ(run.events[0].second, "next");
}

TEST(SseParser, PassesAnEventWithinOnePieceOnWithoutCopyingIt) {
  SseParser parser;
  const std::string piece = "data: {\"choices\":[{\"delta\":{\"content\":\"hello\"}}]}\n\n";
  std::string_view seen;
  ASSERT_TRUE(parser.feed(piece, [&](const SseEvent& e) { seen = e.data; }).ok());
  EXPECT_EQ(seen, "{\"choices\":[{\"delta\":{\"content\":\"hello\"}}]}");
  // The data is a view of the piece itself, and the parser holds nothing between events.
  EXPECT_GE(seen.data(), piece.data());
  EXPECT_LE(seen.data() + seen.size(), piece.data() + piece.size());
  EXPECT_EQ(parser.held_bytes(), 0u);
}

TEST(SseParser, KeepsItsOwnCopyOfDataWhosePieceIsGone) {
  // Each piece lives in a buffer that is overwritten once fed, as a read buffer is: an event
  // whose end comes in a later piece must not point into an earlier one.
  for (std::size_t split = 0; split <= kStream.size(); ++split) {
    SseParser parser;
    Events events;
    std::string buffer;
    for (auto piece : {kStream.substr(0, split), kStream.substr(split)}) {
      buffer.assign(piece);
      ASSERT_TRUE(parser
                      .feed(buffer,
                            [&](const SseEvent& e) {
                              events.emplace_back(std::string(e.event), std::string(e.data));
                            })
                      .ok());
      std::fill(buffer.begin(), buffer.end(), '#');
    }
    EXPECT_EQ(events, kStreamEvents) << "split at " << split;
  }
}

TEST(SseParser, ParsesAllFieldsAndLineEndingsInOneFeed) {
  const auto run = feed_all({kStream});
  ASSERT_TRUE(run.ok);
  EXPECT_EQ(run.events, kStreamEvents);
  EXPECT_TRUE(run.mid_event);
}

TEST(SseParser, JoinsEventSplitAcrossReadsAtEveryByteBoundary) {
  for (std::size_t split = 0; split <= kStream.size(); ++split) {
    const auto run = feed_all({kStream.substr(0, split), kStream.substr(split)});
    ASSERT_TRUE(run.ok) << "split at " << split;
    EXPECT_EQ(run.events, kStreamEvents) << "split at " << split;
    EXPECT_TRUE(run.mid_event) << "split at " << split;
  }
}

TEST(SseParser, JoinsEventSplitAtEveryPairOfBoundaries) {
  for (std::size_t a = 0; a <= kStream.size(); ++a) {
    for (std::size_t b = a; b <= kStream.size(); ++b) {
      const auto run =
          feed_all({kStream.substr(0, a), kStream.substr(a, b - a), kStream.substr(b)});
      ASSERT_TRUE(run.ok) << "splits at " << a << ", " << b;
      ASSERT_EQ(run.events, kStreamEvents) << "splits at " << a << ", " << b;
    }
  }
}

TEST(SseParser, ParsesStreamFedOneByteAtATime) {
  std::vector<std::string_view> bytes;
  for (std::size_t i = 0; i < kStream.size(); ++i) bytes.push_back(kStream.substr(i, 1));
  const auto run = feed_all(bytes);
  ASSERT_TRUE(run.ok);
  EXPECT_EQ(run.events, kStreamEvents);
  EXPECT_TRUE(run.mid_event);
}

TEST(SseParser, CrAtEndOfOneFeedAndLfAtStartOfNextAreOneLineEnd) {
  // Were the LF taken as a second line end, it would dispatch "a" alone.
  const auto run = feed_all({"data: a\r", "\ndata: b\r", "\n\r", "\n"});
  ASSERT_TRUE(run.ok);
  EXPECT_EQ(run.events, (Events{{"", "a\nb"}}));
  EXPECT_FALSE(run.mid_event);
}

TEST(SseParser, CrFollowedByEmptyFeedStillSwallowsLf) {
  const auto run = feed_all({"data: a\r", "", "\n", "\r\n"});
  ASSERT_TRUE(run.ok);
  EXPECT_EQ(run.events, (Events{{"", "a"}}));
}

TEST(SseParser, LoneCrLineEndsDispatch) {
  const auto run = feed_all({"data: a\r\rdata: b\r\r"});
  ASSERT_TRUE(run.ok);
  EXPECT_EQ(run.events, (Events{{"", "a"}, {"", "b"}}));
}

TEST(SseParser, MultiLineDataIsJoinedWithNewline) {
  const auto run = feed_all({"data: one\ndata: two\ndata:\ndata: four\n\n"});
  ASSERT_TRUE(run.ok);
  EXPECT_EQ(run.events, (Events{{"", "one\ntwo\n\nfour"}}));
}

TEST(SseParser, CommentsAreIgnored) {
  const auto run = feed_all({": ping\n\n:\n\ndata: x\n: between\n\n"});
  ASSERT_TRUE(run.ok);
  EXPECT_EQ(run.events, (Events{{"", "x"}}));
}

TEST(SseParser, EventFieldNamesTheEventAndIsResetAfterDispatch) {
  const auto run = feed_all({"event: error\ndata: boom\n\ndata: next\n\n"});
  ASSERT_TRUE(run.ok);
  EXPECT_EQ(run.events, (Events{{"error", "boom"}, {"", "next"}}));
}

TEST(SseParser, DataWithoutSpaceAfterColonKeepsAllBytes) {
  const auto run = feed_all({"data:[DONE]\n\ndata:  x\n\n"});
  ASSERT_TRUE(run.ok);
  EXPECT_EQ(run.events, (Events{{"", "[DONE]"}, {"", " x"}}));
}

TEST(SseParser, ValueKeepsLaterColons) {
  const auto run = feed_all({"data: a:b: c\n\n"});
  ASSERT_TRUE(run.ok);
  EXPECT_EQ(run.events, (Events{{"", "a:b: c"}}));
}

TEST(SseParser, EventWithoutDataIsNotDispatched) {
  const auto run = feed_all({"event: ping\n\nid: 3\n\n\n\nevent: x\n\n"});
  ASSERT_TRUE(run.ok);
  EXPECT_TRUE(run.events.empty());
  EXPECT_FALSE(run.mid_event);
}

TEST(SseParser, FieldNamesAreCaseSensitive) {
  const auto run = feed_all({"Data: no\nDATA: no\ndata: yes\n\n"});
  ASSERT_TRUE(run.ok);
  EXPECT_EQ(run.events, (Events{{"", "yes"}}));
}

TEST(SseParser, MidEventTrueForCutStream) {
  EXPECT_TRUE(feed_all({"data: partial"}).mid_event);     // cut inside a line
  EXPECT_TRUE(feed_all({"data: complete\n"}).mid_event);  // cut before the blank line
  EXPECT_TRUE(feed_all({"data: a\n\ndata: b\n"}).mid_event);
}

TEST(SseParser, MidEventFalseAtEventBoundary) {
  EXPECT_FALSE(feed_all({}).mid_event);
  EXPECT_FALSE(feed_all({"data: a\n\n"}).mid_event);
  EXPECT_FALSE(feed_all({"data: a\r\n\r\n"}).mid_event);
  EXPECT_FALSE(feed_all({": ping\n"}).mid_event);
}

TEST(SseParser, EventViewsAreValidDuringCallback) {
  // The data is built from two feeds, so the view must point into the parser's buffer.
  SseParser parser;
  std::string seen;
  ASSERT_TRUE(parser.feed("data: hel", [](const SseEvent&) {}).ok());
  ASSERT_TRUE(parser.feed("lo\n\n", [&](const SseEvent& e) { seen = std::string(e.data); }).ok());
  EXPECT_EQ(seen, "hello");
}

TEST(SseParser, DataOverLimitIsAnError) {
  const auto run = feed_all({"data: 0123456789\ndata: 0123456789\n\n"}, 16);
  EXPECT_FALSE(run.ok);
  EXPECT_EQ(run.code, base::ErrorCode::kUpstreamUnreachable);
  EXPECT_TRUE(run.events.empty());
}

TEST(SseParser, UnterminatedLineOverLimitIsAnError) {
  const std::string big(40, 'x');
  const auto run = feed_all({"data: ", big}, 16);
  EXPECT_FALSE(run.ok);
  EXPECT_EQ(run.code, base::ErrorCode::kUpstreamUnreachable);
}

TEST(SseParser, LineGrowingOverLimitAcrossFeedsIsAnError) {
  SseParser parser(16);
  Events events;
  auto on_event = [&](const SseEvent& e) {
    events.emplace_back(std::string(e.event), std::string(e.data));
  };
  ASSERT_TRUE(parser.feed(": 0123456789", on_event).ok());
  EXPECT_FALSE(parser.feed("0123456789", on_event).ok());
  EXPECT_TRUE(events.empty());
}

TEST(SseParser, EventsUnderLimitPass) {
  const auto run = feed_all({"data: 0123\n\ndata: 4567\n\n"}, 16);
  ASSERT_TRUE(run.ok);
  EXPECT_EQ(run.events, (Events{{"", "0123"}, {"", "4567"}}));
}

TEST(SseParser, EventOfExactlyTheLimitIsAccepted) {
  // Every line (6 bytes) is within the limit and the event's data "a\na\na\na" is exactly 7
  // bytes: it is not larger than the limit.
  const auto run = feed_all({"data:a\ndata:a\ndata:a\ndata:a\n\n"}, 7);
  EXPECT_TRUE(run.ok);
  EXPECT_EQ(run.events, (Events{{"", "a\na\na\na"}}));
}

TEST(SseParser, SizeLimitDoesNotDependOnHowBytesAreSplit) {
  // An 18-byte line against a 16-byte limit: the outcome must be the same whether it arrives
  // whole or in two reads.
  constexpr std::string_view kEvent = "data: 0123456789ab\n\n";
  const auto whole = feed_all({kEvent}, 16);
  for (std::size_t split = 1; split < kEvent.size(); ++split) {
    const auto split_run = feed_all({kEvent.substr(0, split), kEvent.substr(split)}, 16);
    EXPECT_EQ(split_run.ok, whole.ok) << "split at " << split;
  }
}

}  // namespace
}  // namespace shepherd::api
