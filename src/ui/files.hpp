// Answers for the web UI's embedded files (assets.hpp): what a GET of a path under the UI's root
// gets, with the headers every UI answer carries (a Content-Security-Policy without inline
// scripts, no framing, no sniffing, no referrer), revalidated by ETag and gzip-compressed for
// clients that accept it. Pure: the listener writes the answer.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "ui/assets.hpp"

namespace shepherd::ui {

inline constexpr std::string_view kSecurityHeaders =
    "Content-Security-Policy: default-src 'self'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'; form-action 'self'\r\n"
    "X-Content-Type-Options: nosniff\r\n"
    "X-Frame-Options: DENY\r\n"
    "Referrer-Policy: no-referrer\r\n";

struct FileAnswer {
  int status = 200;  // 200, or 304 when the client's copy is current
  std::string_view content_type;
  std::string_view body;  // the file as served (304: what a GET would get; not sent)
  std::string headers;    // each line ending in CRLF
};

// The file at `path` relative to the UI's root ("" or "/": index.html); nullopt when there is
// none. `if_none_match` and `accepts_gzip` come from the request.
std::optional<FileAnswer> answer_file(std::string_view path, std::string_view if_none_match,
                                      bool accepts_gzip);

// Whether `path` (absolute, e.g. "/app.js") names an embedded file at the root.
bool is_root_file(std::string_view path);

}  // namespace shepherd::ui
