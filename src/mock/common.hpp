// What the dialects share beyond the seam (dialect.hpp): the 400 error of a bad body, reading a
// body's JSON loosely, a model list's framing and the ratelimit= fault's header lines. Pure
// functions; like text.hpp's, they allocate only by growing the string they append to (and for an
// error's message), so the answer paths stay allocation-free on a warm connection.
#pragma once

#include <boost/json/value.hpp>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/result.hpp"
#include "mock/text.hpp"

namespace shepherd::mock::detail {

// A request the dialect answers with 400 and `message`.
inline base::Error bad_request(std::string message) {
  return base::make_error(base::ErrorCode::kBadRequest, std::move(message));
}

// Reading loosely: `key` of an object, null when there is no object (null, or a value of another
// type) or no such member.
inline const boost::json::value* member(const boost::json::object* obj, std::string_view key) {
  return obj == nullptr ? nullptr : obj->if_contains(key);
}
inline const boost::json::value* member(const boost::json::value* v, std::string_view key) {
  return member(v == nullptr ? nullptr : v->if_object(), key);
}

// `key` of an object (a boost::json::object or value, as member() takes it) when it is a string,
// else null.
template <typename Json>
const boost::json::string* string_member(const Json* j, std::string_view key) {
  const boost::json::value* v = member(j, key);
  return v == nullptr ? nullptr : v->if_string();
}

// `key` of an object when it is an array, else null.
template <typename Json>
const boost::json::array* array_member(const Json* j, std::string_view key) {
  const boost::json::value* v = member(j, key);
  return v == nullptr ? nullptr : v->if_array();
}

// The words of the `text` strings of `parts` (OpenAI's content parts, Gemini's parts).
inline std::int64_t count_text_words(const boost::json::array& parts) {
  std::int64_t words = 0;
  for (const boost::json::value& part : parts) {
    if (const boost::json::string* text = string_member(&part, "text")) words += count_words(*text);
  }
  return words;
}

// A model list: `head`, the models as `append_model` renders them, comma-separated, then `tail`.
inline std::string render_list(std::string_view head, const std::vector<std::string>& models,
                               void (*append_model)(std::string& out, std::string_view id),
                               std::string_view tail) {
  std::string out(head);
  for (std::size_t i = 0; i < models.size(); ++i) {
    if (i != 0) out.push_back(',');
    append_model(out, models[i]);
  }
  out.append(tail);
  return out;
}

// The ratelimit= fault's header lines where a provider sends them (OpenAI, Anthropic): the limit,
// always kRateLimitLimit, the remaining requests and the reset, each under the provider's name.
inline constexpr std::int64_t kRateLimitLimit = 100;

struct RateLimitHeaderNames {
  std::string_view limit;
  std::string_view remaining;
  std::string_view reset;
};

inline void append_ratelimit_lines(std::string& out, const RateLimitHeaderNames& names,
                                   std::int64_t remaining, std::string_view reset) {
  out.append(names.limit);
  out.append(": ");
  append_int(out, kRateLimitLimit);
  out.append("\r\n");
  out.append(names.remaining);
  out.append(": ");
  append_int(out, remaining);
  out.append("\r\n");
  out.append(names.reset);
  out.append(": ");
  out.append(reset);
  out.append("\r\n");
}

}  // namespace shepherd::mock::detail
