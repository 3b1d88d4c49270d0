#include "api/sse.hpp"

#include <charconv>

namespace shepherd::api {

base::Status SseParser::field(std::string_view line, bool in_piece) {
  if (line.front() == ':') return base::Ok{};  // comment, e.g. a keep-alive ": ping"
  const auto colon = line.find(':');
  std::string_view name = line.substr(0, colon);
  std::string_view value;
  if (colon != std::string_view::npos) {
    value = line.substr(colon + 1);
    if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  }
  if (name == "data") {
    if (in_piece && !has_data_) {
      data_piece_ = value;
      data_in_piece_ = true;
      has_data_ = true;
      return base::Ok{};
    }
    keep_data();
    data_.append(value);
    data_.push_back('\n');
    has_data_ = true;
    // data_ holds one '\n' more than the event will (the last line's).
    if (data_.size() - 1 > max_event_bytes_) return too_large();
  } else if (name == "event") {
    event_.assign(value);
  }
  // "id" and "retry" matter only to reconnecting browsers; other fields are ignored (spec).
  return base::Ok{};
}

base::Status SseParser::too_large() const {
  return base::make_error(base::ErrorCode::kUpstreamUnreachable,
                          "the upstream sent a stream event larger than the limit",
                          "SSE event over " + std::to_string(max_event_bytes_) + " bytes");
}

void append_http_chunk(std::string& out, std::string_view bytes) {
  if (bytes.empty()) return;
  char hex[16];
  auto [end, ec] = std::to_chars(hex, hex + sizeof hex, bytes.size(), 16);
  out.append(hex, end).append("\r\n").append(bytes).append("\r\n");
}

}  // namespace shepherd::api
