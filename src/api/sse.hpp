// Incremental parser for text/event-stream (WHATWG HTML, "Server-sent events", 9.2.6): fed the
// bytes of a response body as they arrive, in pieces of any size, it yields complete events.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "base/result.hpp"
#include "base/text.hpp"

namespace shepherd::api {

struct SseEvent {
  std::string_view event;  // the `event:` field; empty for the default "message"
  std::string_view data;   // `data:` lines joined with '\n'
};

class SseParser {
 public:
  // Events (and lines) larger than `max_event_bytes` are an error: an upstream cannot make
  // Shepherd buffer without bound.
  explicit SseParser(std::size_t max_event_bytes = 16 * 1024 * 1024)
      : max_event_bytes_(max_event_bytes) {}

  // Parses `bytes`; calls `on_event(const SseEvent&)` for each event completed by them. The
  // views in the event are valid only during the call. Returns an error once the size limit is
  // exceeded; the parser must not be fed again after an error.
  template <typename OnEvent>
  base::Status feed(std::string_view bytes, OnEvent&& on_event) {
    std::size_t i = 0;
    while (i < bytes.size()) {
      if (skip_lf_) {
        skip_lf_ = false;
        if (bytes[i] == '\n') {
          ++i;
          continue;
        }
      }
      // Find the end of the current line within this piece.
      std::size_t j = i;
      while (j < bytes.size() && bytes[j] != '\n' && bytes[j] != '\r') ++j;
      if (j == bytes.size()) {
        keep_data();
        line_.append(bytes.substr(i));
        if (line_.size() > max_event_bytes_) return too_large();
        return base::Ok{};
      }
      if (line_.size() + (j - i) > max_event_bytes_) return too_large();
      std::string_view line;
      const bool in_piece = line_.empty();
      if (in_piece) {
        line = bytes.substr(i, j - i);
      } else {
        line_.append(bytes.substr(i, j - i));
        line = line_;
      }
      if (bytes[j] == '\r') skip_lf_ = true;
      i = j + 1;
      if (line.empty()) {
        if (data_in_piece_) {
          on_event(SseEvent{event_, data_piece_});
        } else if (has_data_) {
          if (!data_.empty() && data_.back() == '\n') data_.pop_back();
          on_event(SseEvent{event_, data_});
        }
        data_.clear();
        event_.clear();
        has_data_ = false;
        data_in_piece_ = false;
      } else {
        if (auto s = field(line, in_piece); !s.ok()) return s;
      }
      line_.clear();
    }
    keep_data();
    return base::Ok{};
  }

  // Whether bytes of an unfinished event are buffered (a stream that ends here was cut).
  bool mid_event() const { return has_data_ || !line_.empty(); }

  // The heap storage the parser's buffers hold (a string's inline storage is not counted).
  std::size_t held_bytes() const {
    std::size_t held = 0;
    for (const auto* s : {&line_, &data_, &event_}) {
      if (s->capacity() > std::string().capacity()) held += s->capacity();
    }
    return held;
  }
  // Frees the storage of empty buffers, so that an open stream waiting for its next event keeps
  // little (memory per open stream): the line and data buffers, used only by events split across
  // reads (or of several data lines), always; the event-name buffer once grown past `bytes`.
  void release_idle(std::size_t bytes) {
    base::release_idle(line_, 0);
    base::release_idle(data_, 0);
    base::release_idle(event_, bytes);
  }

 private:
  // `in_piece`: the line is a view of the bytes being fed, so one data line may stay a view.
  base::Status field(std::string_view line, bool in_piece);
  base::Status too_large() const;
  // Before feed() returns: a data line still a view of its bytes is copied into data_.
  void keep_data() {
    if (!data_in_piece_) return;
    data_.assign(data_piece_).push_back('\n');
    data_in_piece_ = false;
  }

  std::size_t max_event_bytes_;
  std::string line_;   // a line split across feeds
  std::string data_;   // data of the event being built
  std::string event_;  // event type of the event being built
  // The common event, one data line and its end in the same piece, is passed on without a
  // copy: its data stays a view of the piece (data_in_piece_) until the event ends or the
  // piece does (keep_data()).
  std::string_view data_piece_;
  bool data_in_piece_ = false;
  bool has_data_ = false;
  bool skip_lf_ = false;  // the last piece ended in CR: a following LF belongs to it
};

// `bytes` framed as one HTTP/1.1 chunk (RFC 9112 §7.1), appended to `out`; nothing for empty
// bytes (an empty chunk would end the body: kLastHttpChunk).
void append_http_chunk(std::string& out, std::string_view bytes);
inline constexpr std::string_view kLastHttpChunk = "0\r\n\r\n";

}  // namespace shepherd::api
