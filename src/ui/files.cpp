#include "ui/files.hpp"

#include <algorithm>

#include "base/text.hpp"

namespace shepherd::ui {

namespace {

const Asset* find(std::string_view path) {
  const auto all = assets();
  const auto it = std::lower_bound(all.begin(), all.end(), path,
                                   [](const Asset& a, std::string_view p) { return a.path < p; });
  return it != all.end() && it->path == path ? &*it : nullptr;
}

// Whether an If-None-Match list holds `etag` (or "*"); weak validators match by their value.
bool matches(std::string_view if_none_match, std::string_view etag) {
  for (auto tag : base::split(if_none_match, ',')) {
    if (tag.starts_with("W/")) tag.remove_prefix(2);
    if (tag == "*" || tag == etag) return true;
  }
  return false;
}

}  // namespace

std::optional<FileAnswer> answer_file(std::string_view path, std::string_view if_none_match,
                                      bool accepts_gzip) {
  while (path.starts_with('/')) path.remove_prefix(1);
  if (path.empty()) path = "index.html";
  const auto* asset = find(path);
  if (!asset) return std::nullopt;
  FileAnswer out;
  out.content_type = asset->content_type;
  out.headers.append(kSecurityHeaders);
  // Names carry no hash: clients revalidate every time and mostly get a 304.
  out.headers.append("Cache-Control: no-cache\r\nETag: ").append(asset->etag).append("\r\n");
  if (!asset->gzip.empty()) out.headers.append("Vary: Accept-Encoding\r\n");
  if (!if_none_match.empty() && matches(if_none_match, asset->etag)) out.status = 304;
  out.body = asset->body;
  if (accepts_gzip && !asset->gzip.empty()) {
    out.body = asset->gzip;
    out.headers.append("Content-Encoding: gzip\r\n");
  }
  return out;
}

bool is_root_file(std::string_view path) {
  if (!path.starts_with('/')) return false;
  path.remove_prefix(1);
  return !path.empty() && path.find('/') == std::string_view::npos && find(path) != nullptr;
}

}  // namespace shepherd::ui
