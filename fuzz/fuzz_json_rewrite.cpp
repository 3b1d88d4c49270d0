// The byte-level rewrites of forwarded JSON (api::upstream_chat_body, api::with_model, built on
// api/json_scan.hpp), checked against a full parse with Boost.JSON. Properties checked:
//  - for a body parse_chat_request accepts, upstream_chat_body's bytes parse as JSON and equal
//    the original document with only `model` replaced (and, for a stream,
//    stream_options.include_usage set to true): every other member is kept; when nothing needs
//    to change, the bytes are the client's own;
//  - for any JSON object with a top-level string `model`, with_model's bytes parse as JSON and
//    equal the original document with only `model` replaced.
// Input layout: the low five bits of the first byte give the length n of the new model name,
// the next n bytes spell it (byte b < 0x80 is the character b, control characters, quotes and
// backslashes included; b >= 0x80 is a non-ASCII character: the name is always valid UTF-8, as a
// name from the config or a parsed request is), and the rest is the JSON body.
#include <algorithm>
#include <boost/json.hpp>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

#include "api/openai.hpp"

namespace {

namespace json = boost::json;
namespace api = shepherd::api;

constexpr int kMaxDepth = 64;  // the server's default limits.max_json_depth

void check(bool ok) {
  if (!ok) std::abort();
}

void append_utf8(std::string& out, std::uint32_t cp) {
  if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
  }
  out += static_cast<char>(0x80 | (cp & 0x3F));
}

std::string model_name(std::string_view spec) {
  std::string out;
  for (const char c : spec) {
    const auto b = static_cast<unsigned char>(c);
    if (b < 0x80) {
      out += c;
    } else if (b == 0xFF) {
      append_utf8(out, 0x1F600);  // outside the BMP: four bytes, a surrogate pair when escaped
    } else {
      append_utf8(out, 0x80 + (b - 0x80) * 0x101);  // two and three bytes, below the surrogates
    }
  }
  return out;
}

std::optional<json::value> parse(std::string_view text) {
  json::parse_options opt;
  opt.max_depth = kMaxDepth + 1;  // the added stream_options may nest one level deeper
  boost::system::error_code ec;
  auto v = json::parse(json::string_view(text.data(), text.size()), ec, {}, opt);
  if (ec) return std::nullopt;
  return v;
}

// Value equality, except that NaN equals NaN: Boost.JSON reads some numbers as NaN (0e400), and
// a rewrite that keeps them is right.
bool same(const json::value& a, const json::value& b) {
  if (a.is_double() && b.is_double() && std::isnan(a.get_double())) {
    return std::isnan(b.get_double());
  }
  if (a.is_array() && b.is_array()) {
    const auto &x = a.get_array(), &y = b.get_array();
    if (x.size() != y.size()) return false;
    for (std::size_t i = 0; i < x.size(); ++i) {
      if (!same(x[i], y[i])) return false;
    }
    return true;
  }
  if (a.is_object() && b.is_object()) {
    const auto &x = a.get_object(), &y = b.get_object();
    if (x.size() != y.size()) return false;
    for (const auto& [key, value] : x) {
      const auto* other = y.if_contains(key);
      if (!other || !same(value, *other)) return false;
    }
    return true;
  }
  return a == b;
}

// `doc` with its top-level `model` set to `model`.
json::value renamed(json::value doc, std::string_view model) {
  doc.as_object()["model"] = json::string_view(model.data(), model.size());
  return doc;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::size_t n = std::min<std::size_t>(data[0] & 0x1F, size - 1);
  const std::string model =
      model_name(std::string_view(reinterpret_cast<const char*>(data) + 1, n));
  const std::string_view body(reinterpret_cast<const char*>(data) + 1 + n, size - 1 - n);
  const auto original = parse(body);

  if (auto request = api::parse_chat_request(body, kMaxDepth)) {
    check(original && original->is_object());
    const auto rewritten = api::upstream_chat_body(body, *request, model);
    if (!api::upstream_body_changes(*request, model)) check(rewritten == body);
    auto expected = renamed(*original, model);
    if (request->stream) {
      auto& options = expected.as_object()["stream_options"];
      if (!options.is_object()) options = json::object();
      options.as_object()["include_usage"] = true;
    }
    const auto got = parse(rewritten);
    check(got && same(*got, expected));
    if (!model.empty()) {  // an upstream model id is never empty (the config refuses it)
      auto again = api::parse_chat_request(rewritten, kMaxDepth + 1);
      check(again && again->model == model && again->stream == request->stream);
    }
  }

  if (!original || !original->is_object()) return 0;
  const auto* current = original->as_object().if_contains("model");
  if (!current || !current->is_string()) return 0;
  const auto got = parse(api::with_model(body, model));
  check(got && same(*got, renamed(*original, model)));
  return 0;
}
