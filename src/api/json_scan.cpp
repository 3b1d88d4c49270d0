#include "api/json_scan.hpp"

#include <array>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/string_view.hpp>
#include <cstring>
#include <string>

namespace shepherd::api {
namespace {

// A minimal JSON skipper. It checks structure (nesting, string termination) but not the finer
// grammar of numbers and literals: callers only use it on bodies they parse fully elsewhere or
// whose exact validity does not matter for the field they read.
// Bytes that matter when skipping a nested value: quotes and brackets.
constexpr auto kStructural = [] {
  std::array<bool, 256> t{};
  for (unsigned char c : {'"', '{', '}', '[', ']'}) t[c] = true;
  return t;
}();

class Scanner {
 public:
  explicit Scanner(std::string_view s) : s_(s) {}

  void skip_ws() {
    while (i_ < s_.size() &&
           (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r')) {
      ++i_;
    }
  }
  bool eat(char c) {
    skip_ws();
    if (i_ < s_.size() && s_[i_] == c) {
      ++i_;
      return true;
    }
    return false;
  }
  bool peek(char c) {
    skip_ws();
    return i_ < s_.size() && s_[i_] == c;
  }
  // Skips a string starting at the current quote; returns its raw contents (without quotes).
  std::optional<std::string_view> string() {
    skip_ws();
    if (i_ >= s_.size() || s_[i_] != '"') return std::nullopt;
    const auto start = ++i_;
    // Jump from quote to quote (memchr is vectorised); a quote preceded by an odd number of
    // backslashes is escaped and the string goes on.
    while (i_ < s_.size()) {
      const void* q = std::memchr(s_.data() + i_, '"', s_.size() - i_);
      if (!q) break;
      const auto pos = static_cast<std::size_t>(static_cast<const char*>(q) - s_.data());
      std::size_t backslashes = 0;
      while (pos - backslashes > start && s_[pos - backslashes - 1] == '\\') ++backslashes;
      i_ = pos + 1;
      if (backslashes % 2 == 0) return s_.substr(start, pos - start);
    }
    i_ = s_.size();
    return std::nullopt;
  }
  // Skips one value of any kind; returns its raw text.
  std::optional<std::string_view> value() {
    skip_ws();
    if (i_ >= s_.size()) return std::nullopt;
    const auto start = i_;
    const char c = s_[i_];
    if (c == '"') {
      if (!string()) return std::nullopt;
    } else if (c == '{' || c == '[') {
      std::string closers;  // the closing brackets still expected, innermost last
      while (i_ < s_.size()) {
        // Most bytes are neither quotes nor brackets: skip them in a tight loop.
        while (i_ < s_.size() && !kStructural[static_cast<unsigned char>(s_[i_])]) ++i_;
        if (i_ == s_.size()) break;
        const char d = s_[i_];
        if (d == '"') {
          if (!string()) return std::nullopt;
          continue;
        }
        if (d == '{') closers.push_back('}');
        if (d == '[') closers.push_back(']');
        if (d == '}' || d == ']') {
          if (closers.empty() || closers.back() != d) return std::nullopt;
          closers.pop_back();
          if (closers.empty()) {
            ++i_;
            break;
          }
        }
        ++i_;
      }
      if (!closers.empty()) return std::nullopt;
    } else {
      while (i_ < s_.size() && s_[i_] != ',' && s_[i_] != '}' && s_[i_] != ']' && s_[i_] != ' ' &&
             s_[i_] != '\n' && s_[i_] != '\r' && s_[i_] != '\t') {
        ++i_;
      }
      if (i_ == start) return std::nullopt;
    }
    return s_.substr(start, i_ - start);
  }

 private:
  std::string_view s_;
  std::size_t i_ = 0;
};

}  // namespace

namespace {

// Calls visit(key, raw_value) for each top-level member until it returns true. False when the
// object is malformed before the walk ends.
template <typename Visit>
bool for_each_member(std::string_view json, Visit&& visit) {
  Scanner sc(json);
  if (!sc.eat('{')) return false;
  if (sc.eat('}')) return true;
  while (true) {
    auto k = sc.string();
    if (!k || !sc.eat(':')) return false;
    auto v = sc.value();
    if (!v) return false;
    if (visit(*k, *v)) return true;
    if (sc.eat(',')) continue;
    return sc.eat('}');
  }
}

}  // namespace

std::optional<std::string_view> leading_value(std::string_view json) {
  Scanner sc(json);
  return sc.value();
}

std::optional<std::string_view> find_top_level_value(std::string_view json, std::string_view key) {
  std::optional<std::string_view> found;
  for_each_member(json, [&](std::string_view k, std::string_view v) {
    if (k != key) return false;
    found = v;
    return true;
  });
  return found;
}

std::size_t count_top_level_key(std::string_view json, std::optional<std::string_view> key) {
  std::size_t n = 0;
  for_each_member(json, [&](std::string_view k, std::string_view) {
    n += !key || k == *key;
    return false;
  });
  return n;
}

std::optional<std::size_t> scan_top_level_keys(std::string_view json, std::span<KeyCount> keys) {
  std::size_t members = 0;
  const bool ok = for_each_member(json, [&](std::string_view k, std::string_view v) {
    ++members;
    for (auto& kc : keys) {
      if (kc.key == k && kc.count++ == 0) kc.first_value = v;
    }
    return false;
  });
  if (!ok) return std::nullopt;
  return members;
}

namespace {

// Whether the raw text of a key (between its quotes) spells `key`, byte for byte or once its
// escapes are decoded.
bool key_is(std::string_view raw, std::string_view key) {
  if (raw == key) return true;
  if (raw.size() <= key.size() || raw.find('\\') == std::string_view::npos) return false;
  std::string quoted;
  quoted.reserve(raw.size() + 2);
  quoted.append(1, '"').append(raw).append(1, '"');
  boost::system::error_code ec;
  const auto decoded = boost::json::parse(quoted, ec);
  return !ec && decoded.is_string() && decoded.get_string() == key;
}

}  // namespace

std::optional<std::string> replace_top_level_value(std::string_view json, std::string_view key,
                                                   std::string_view raw_value) {
  std::string out;
  std::size_t copied = 0;  // bytes of `json` already in `out`; 0 until a member matches
  for_each_member(json, [&](std::string_view k, std::string_view v) {
    if (!key_is(k, key)) return false;
    const auto offset = static_cast<std::size_t>(v.data() - json.data());
    if (copied == 0) out.reserve(json.size() + raw_value.size());
    out.append(json.substr(copied, offset - copied));
    out.append(raw_value);
    copied = offset + v.size();
    return false;
  });
  if (copied == 0) return std::nullopt;
  out.append(json.substr(copied));
  return out;
}

std::string json_quote(std::string_view text) {
  return boost::json::serialize(boost::json::string_view(text.data(), text.size()));
}

}  // namespace shepherd::api
