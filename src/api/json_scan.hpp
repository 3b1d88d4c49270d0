// Byte-level access to the top-level fields of a JSON object without building a DOM. Used on the
// hot path to read or replace one field (model, usage) of bodies Shepherd otherwise forwards
// untouched.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace shepherd::api {

// The raw text of the value of top-level key `key` in the JSON object `json` (a string value
// includes its quotes). nullopt when `json` is not an object, is malformed before the key is
// found, or has no such key. Keys are compared as raw bytes: an escaped key never matches.
std::optional<std::string_view> find_top_level_value(std::string_view json, std::string_view key);

// The raw text of the JSON value at the start of `json` (after whitespace); nullopt when it is
// not structurally complete.
std::optional<std::string_view> leading_value(std::string_view json);

// How many top-level members of the object `json` have the raw key `key`, or how many there are
// at all when `key` is nullopt. JSON allows duplicate keys and parsers disagree on which one
// wins, so Shepherd refuses them in bodies it rewrites.
std::size_t count_top_level_key(std::string_view json, std::optional<std::string_view> key);

// One pass over the top-level members of the object `json`: counts how many have each raw key
// in `keys` (and keeps the first one's raw value). Returns the number of members, or nullopt
// when `json` is not a well-structured object.
struct KeyCount {
  std::string_view key;
  std::size_t count = 0;
  std::string_view first_value;
};
std::optional<std::size_t> scan_top_level_keys(std::string_view json, std::span<KeyCount> keys);

// Copies `json` with the value of every top-level member named `key` replaced by `raw_value`
// (raw JSON text). Unlike the functions above it also matches a key spelled with escapes, so no
// JSON parser, whichever duplicate it keeps, reads the old value. nullopt when no such member
// comes before the end of the object or the first malformation.
std::optional<std::string> replace_top_level_value(std::string_view json, std::string_view key,
                                                   std::string_view raw_value);

// `text` as a JSON string literal, quotes included.
std::string json_quote(std::string_view text);

}  // namespace shepherd::api
