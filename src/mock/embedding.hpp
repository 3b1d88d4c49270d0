// The mock's embeddings, the same in every dialect: a text's vector is the 8 bytes of its 64-bit
// FNV-1a hash, least significant first, each byte b as (b - 128) / 128 — deterministic, distinct
// for distinct texts, and exact in float32 and in decimal. A dialect hashes its input as it reads
// it (a text in several parts hashes as their concatenation) and renders the vector here. Pure.
#pragma once

#include <array>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace shepherd::mock::detail {

inline constexpr int kEmbeddingSize = 8;

struct TextHash {
  std::uint64_t value = 14695981039346656037ull;  // the FNV-1a 64 offset basis

  void add(std::string_view bytes) {
    for (const char c : bytes) {
      value ^= static_cast<unsigned char>(c);
      value *= 1099511628211ull;  // the FNV-1a 64 prime
    }
  }
};

inline double embedding_value(std::uint64_t hash, int k) {
  const auto byte = static_cast<int>((hash >> (8 * k)) & 0xff);
  return (byte - 128) / 128.0;
}

// The vector as a JSON array of numbers.
inline void append_embedding_array(std::string& out, std::uint64_t hash) {
  out.push_back('[');
  for (int k = 0; k < kEmbeddingSize; ++k) {
    if (k != 0) out.push_back(',');
    char buf[32];
    const auto r = std::to_chars(buf, buf + sizeof buf, embedding_value(hash, k));
    out.append(buf, r.ptr);
  }
  out.push_back(']');
}

// The vector as OpenAI's encoding_format "base64": little-endian float32s, base64 (RFC 4648 §4),
// quotes included.
inline void append_embedding_base64(std::string& out, std::uint64_t hash) {
  static_assert(sizeof(float) == 4);
  std::array<unsigned char, 4 * kEmbeddingSize> bytes{};
  for (int k = 0; k < kEmbeddingSize; ++k) {
    const auto f = static_cast<float>(embedding_value(hash, k));
    std::uint32_t bits = 0;
    std::memcpy(&bits, &f, sizeof bits);
    for (int b = 0; b < 4; ++b) bytes[4 * k + b] = static_cast<unsigned char>(bits >> (8 * b));
  }
  constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  out.push_back('"');
  std::size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const std::uint32_t v = (bytes[i] << 16) | (bytes[i + 1] << 8) | bytes[i + 2];
    out.push_back(kAlphabet[(v >> 18) & 63]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out.push_back(kAlphabet[(v >> 6) & 63]);
    out.push_back(kAlphabet[v & 63]);
  }
  // 32 bytes leave 2: three characters and one pad.
  const std::uint32_t v = (bytes[i] << 16) | (bytes[i + 1] << 8);
  out.push_back(kAlphabet[(v >> 18) & 63]);
  out.push_back(kAlphabet[(v >> 12) & 63]);
  out.push_back(kAlphabet[(v >> 6) & 63]);
  out.append("=\"");
}

}  // namespace shepherd::mock::detail
