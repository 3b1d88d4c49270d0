// Tool call ids.
//
// Gemini's functionCall usually has no id, and a call's thoughtSignature must be sent back on
// the same part in the next turn (https://ai.google.dev/gemini-api/docs/thought-signatures).
// Clients return a call's id unchanged with its result, so the id carries both:
//
//   <base>[_ts_<signature as base64url, unpadded>]
//
// where <base> is the call's own id when Gemini gave one, else "call_<k>_<tag>": k counts the
// answer's calls and tag is a hash of the responseId (of the call itself when the answer has no
// responseId), so calls of different answers get different ids. Every id matches
// ^[a-zA-Z0-9_-]+$, the rule Anthropic sets for tool_use ids.
#include <cstdint>
#include <utility>

#include "translate/gemini/internal.hpp"

namespace shepherd::translate::detail::gemini {
namespace {

// Between a tool call's own id and the thought signature it carries.
constexpr std::string_view kSignatureMark = "_ts_";
constexpr std::size_t kTagLength = 16;

bool is_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

bool is_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

// Whether `id` may be sent to clients as is.
bool valid_id(std::string_view id) {
  if (id.empty()) return false;
  for (char c : id) {
    if (!is_alnum(c) && c != '_' && c != '-') return false;
  }
  return true;
}

std::uint64_t fnv1a(std::string_view s) {
  std::uint64_t h = 14695981039346656037ull;
  for (char c : s) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ull;
  }
  return h;
}

void append_hex(std::string& out, std::uint64_t v) {
  static constexpr char kDigits[] = "0123456789abcdef";
  for (int shift = 60; shift >= 0; shift -= 4) out.push_back(kDigits[(v >> shift) & 0xF]);
}

// `s` over the alphabet [A-Za-z0-9] and the characters of `extra`, each of those written as the
// character of `as` at its place; nullopt when `s` holds any other character.
std::optional<std::string> recode(std::string_view s, std::string_view extra, std::string_view as) {
  std::string out;
  out.reserve(s.size() + 3);
  for (char c : s) {
    if (is_alnum(c)) {
      out.push_back(c);
      continue;
    }
    const std::size_t k = extra.find(c);
    if (k == std::string_view::npos) return std::nullopt;
    out.push_back(as[k]);
  }
  return out;
}

// Gemini sends bytes fields (thoughtSignature) in standard base64; ids take the URL alphabet
// without padding (RFC 4648 §5). Empty when `s` is not base64 of either alphabet.
std::string to_base64url(std::string_view s) {
  while (!s.empty() && s.back() == '=') s.remove_suffix(1);
  return recode(s, "+/-_", "-_-_").value_or(std::string());
}

// The inverse of to_base64url: standard, padded base64. nullopt when `s` cannot be base64url.
std::optional<std::string> from_base64url(std::string_view s) {
  if (s.empty() || s.size() % 4 == 1) return std::nullopt;
  auto out = recode(s, "-_", "+/");
  if (out) out->append((4 - out->size() % 4) % 4, '=');
  return out;
}

}  // namespace

bool generated_id(std::string_view base) {
  if (!base.starts_with("call_")) return false;
  std::size_t i = 5;
  const std::size_t digits = i;
  while (i < base.size() && base[i] >= '0' && base[i] <= '9') ++i;
  if (i == digits || i >= base.size() || base[i] != '_') return false;
  ++i;
  if (base.size() - i != kTagLength) return false;
  for (; i < base.size(); ++i) {
    if (!is_hex(base[i])) return false;
  }
  return true;
}

std::string call_id(int index, const json::object& part, const json::object& call,
                    std::string_view response_id) {
  std::string id;
  const json::string* own = string_member(call, "id");
  if (own && valid_id(sv(*own)) && sv(*own).find(kSignatureMark) == std::string_view::npos) {
    id.assign(sv(*own));
  } else {
    id.append("call_");
    append_int(id, index);
    id.push_back('_');
    append_hex(id, response_id.empty() ? fnv1a(json::serialize(call)) : fnv1a(response_id));
  }
  if (const json::string* signature = string_member(part, "thoughtSignature")) {
    const std::string url = to_base64url(sv(*signature));
    if (!url.empty()) id.append(kSignatureMark).append(url);
  }
  return id;
}

CallId split_call_id(std::string_view id) {
  const std::size_t at = id.find(kSignatureMark);
  if (at == std::string_view::npos || at == 0) return {id, std::nullopt};
  auto signature = from_base64url(id.substr(at + kSignatureMark.size()));
  if (!signature) return {id, std::nullopt};
  return {id.substr(0, at), std::move(signature)};
}

}  // namespace shepherd::translate::detail::gemini
