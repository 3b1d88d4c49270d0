// The web UI's files, embedded in the binary at build time (ui/build.mjs bundles ui/src with the
// npm libraries pinned by ui/package-lock.json and writes the generated assets.cpp).
#pragma once

#include <span>
#include <string_view>

namespace shepherd::ui {

struct Asset {
  std::string_view path;          // relative to the UI's root, e.g. "index.html", "app.js"
  std::string_view content_type;  // e.g. "text/javascript; charset=utf-8"
  std::string_view body;          // the file as served
  std::string_view gzip;          // the same, gzip-compressed; empty when that is not smaller
  std::string_view etag;          // a strong validator with its quotes, e.g. "\"3f2a…\""
};

// Every embedded file, sorted by path.
std::span<const Asset> assets();

}  // namespace shepherd::ui
