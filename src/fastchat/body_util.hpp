// What FastChat's body parsers and writers share (protocol.cpp, generate.cpp): reading one JSON
// object field by field with errors that name the field, and Python's two ways of printing.
// Not for other modules.
#pragma once

#include <boost/json.hpp>
#include <boost/json/monotonic_resource.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/result.hpp"

namespace shepherd::fastchat::detail {

namespace json = boost::json;

// A kBadRequest error: "the FastChat <body_name> <what>", with `param` naming the field.
base::Error bad_request(std::string_view body_name, std::string_view what, std::string param = {});
// `body` parsed as a JSON object (numbers as Python reads them; nesting at most kMaxJsonDepth).
// The object in `body`, allocated from `storage` (the default resource when null).
base::Result<json::object> parse_object(std::string_view body, std::string_view body_name,
                                        json::storage_ptr storage = {});

enum class Need { kRequired, kOptional };

// The integer value of `v`: an integer, or a double with an integral value, in the int64 range.
std::optional<std::int64_t> as_int(const json::value& v);
// The finite number `v` holds (a bool is not a number here).
std::optional<double> as_number(const json::value& v);

// Reads the fields of one JSON object. The first error is kept and every later read does
// nothing, so a parser reads all its fields and checks error() once.
class ObjectReader {
 public:
  ObjectReader(const json::object& object, std::string_view body_name, std::string prefix = {})
      : object_(object), body_name_(body_name), prefix_(std::move(prefix)) {}

  const std::optional<base::Error>& error() const { return error_; }
  void fail(base::Error e) {
    if (!error_) error_ = std::move(e);
  }

  std::string path(std::string_view key) const {
    return prefix_.empty() ? std::string(key) : prefix_ + "." + std::string(key);
  }

  // The member `key` when present and not null, else nullptr; records an error when it is
  // required (null: the wrong type; absent: missing).
  const json::value* find(std::string_view key, Need need, std::string_view type) {
    if (error_) return nullptr;
    const auto* v = object_.if_contains(json::string_view(key.data(), key.size()));
    if (v && !v->is_null()) return v;
    if (need == Need::kRequired && v) {
      wrong(key, type);
    } else if (need == Need::kRequired) {
      fail(bad_request(body_name_,
                       "lacks the required field " + path(key) + " (" + std::string(type) + ")",
                       path(key)));
    }
    return nullptr;
  }

  void wrong(std::string_view key, std::string_view type) {
    fail(
        bad_request(body_name_, "field " + path(key) + " must be " + std::string(type), path(key)));
  }

  void string(std::string_view key, std::string& out, Need need, bool non_empty = false) {
    const char* type = non_empty ? "a non-empty string" : "a string";
    const auto* v = find(key, need, type);
    if (!v) return;
    if (!v->is_string() || (non_empty && v->get_string().empty())) return wrong(key, type);
    out.assign(v->get_string().data(), v->get_string().size());
  }
  void string(std::string_view key, std::optional<std::string>& out) {
    const auto* v = find(key, Need::kOptional, "a string");
    if (!v) return;
    if (!v->is_string()) return wrong(key, "null or a string");
    out.emplace(v->get_string().data(), v->get_string().size());
  }

  void boolean(std::string_view key, bool& out, Need need) {
    const auto* v = find(key, need, "true or false");
    if (!v) return;
    if (!v->is_bool()) return wrong(key, "true or false");
    out = v->get_bool();
  }
  void boolean(std::string_view key, std::optional<bool>& out) {
    bool b = false;
    if (!find(key, Need::kOptional, "")) return;
    boolean(key, b, Need::kOptional);
    if (!error_) out = b;
  }

  void integer(std::string_view key, std::int64_t& out, Need need, bool non_negative = false) {
    const char* type = non_negative ? "a non-negative integer" : "an integer";
    const auto* v = find(key, need, type);
    if (!v) return;
    const auto n = as_int(*v);
    if (!n || (non_negative && *n < 0)) return wrong(key, type);
    out = *n;
  }
  void integer(std::string_view key, std::optional<std::int64_t>& out) {
    std::int64_t n = 0;
    if (!find(key, Need::kOptional, "")) return;
    integer(key, n, Need::kOptional);
    if (!error_) out = n;
  }

  void number(std::string_view key, double& out, Need need, bool non_negative = false) {
    const char* type = non_negative ? "a non-negative number" : "a number";
    const auto* v = find(key, need, type);
    if (!v) return;
    const auto d = as_number(*v);
    if (!d || (non_negative && *d < 0)) return wrong(key, type);
    out = *d;
  }
  void number(std::string_view key, std::optional<double>& out) {
    double d = 0;
    if (!find(key, Need::kOptional, "")) return;
    number(key, d, Need::kOptional);
    if (!error_) out = d;
  }

  void string_list(std::string_view key, std::vector<std::string>& out, Need need) {
    const auto* v = find(key, need, "a list of strings");
    if (!v) return;
    if (!v->is_array()) return wrong(key, "a list of strings");
    std::vector<std::string> items;
    items.reserve(v->get_array().size());
    for (const auto& item : v->get_array()) {
      if (!item.is_string()) {
        return wrong(std::string(key) + "[" + std::to_string(items.size()) + "]", "a string");
      }
      items.emplace_back(item.get_string().data(), item.get_string().size());
    }
    out = std::move(items);
  }

  void int_list(std::string_view key, std::optional<std::vector<std::int64_t>>& out) {
    const auto* v = find(key, Need::kOptional, "a list of integers");
    if (!v) return;
    if (!v->is_array()) return wrong(key, "null or a list of integers");
    std::vector<std::int64_t> items;
    items.reserve(v->get_array().size());
    for (const auto& item : v->get_array()) {
      const auto n = as_int(item);
      if (!n) {
        return wrong(std::string(key) + "[" + std::to_string(items.size()) + "]", "an integer");
      }
      items.push_back(*n);
    }
    out = std::move(items);
  }

  const json::object& object() const { return object_; }
  std::string_view body_name() const { return body_name_; }

 private:
  const json::object& object_;
  std::string_view body_name_;
  std::string prefix_;
  std::optional<base::Error> error_;
};

// Runs `read(ObjectReader&, T&)` over the object in `body`. The parsed body is scratch, in an
// arena on the stack (one for the whole body, not an allocation per value: the worker and the
// fastchat provider read one for every request): `read` copies out what it keeps, and a
// json::value it keeps goes to the default resource (json::value(v, json::storage_ptr())).
template <typename T, typename Read>
base::Result<T> parse_body(std::string_view body, std::string_view body_name, Read&& read) {
  unsigned char arena[4096];
  json::monotonic_resource scratch(arena, sizeof arena);
  auto object = parse_object(body, body_name, &scratch);
  if (!object) return std::move(object).error();
  ObjectReader r(*object, body_name);
  T out;
  read(r, out);
  if (r.error()) return *r.error();
  return out;
}

json::array strings_value(const std::vector<std::string>& items);
// Python's json.dumps(v) and Starlette's JSONResponse(v) bodies.
std::string dumps(const json::value& v);
std::string response(const json::value& v);

}  // namespace shepherd::fastchat::detail
