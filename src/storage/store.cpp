#include "storage/store.hpp"

#include <strings.h>

#include "storage/postgres/postgres_store.hpp"
#include "storage/sqlite/sqlite_store.hpp"

namespace shepherd::storage {

namespace {

bool starts_with(const std::string& s, std::string_view prefix) { return s.rfind(prefix, 0) == 0; }

// The query parameters whose values are secrets (libpq's connection parameters).
bool secret_parameter(std::string_view name) {
  auto is = [name](std::string_view secret) {
    return name.size() == secret.size() &&
           ::strncasecmp(name.data(), secret.data(), name.size()) == 0;
  };
  return is("password") || is("sslpassword");
}

}  // namespace

base::Result<std::unique_ptr<Store>> open_store(const std::string& url,
                                                const std::string& base_dir) {
  if (starts_with(url, "sqlite:")) {
    auto path = sqlite_path(url, base_dir);
    if (!path) return std::move(path).error();
    auto store = SqliteStore::open(*path);
    if (!store) return std::move(store).error();
    return std::unique_ptr<Store>(std::move(*store));
  }
  if (starts_with(url, "postgres://") || starts_with(url, "postgresql://")) {
    auto store = PostgresStore::open(url);
    if (!store) return std::move(store).error();
    return std::unique_ptr<Store>(std::move(*store));
  }
  return base::make_error(base::ErrorCode::kBadRequest,
                          "storage: unsupported storage URL " + redact_url(url) +
                              "; expected sqlite://PATH (relative to the config's folder), "
                              "sqlite:///ABSOLUTE/PATH, sqlite::memory:, or "
                              "postgres://USER:PASSWORD@HOST:PORT/DATABASE (or postgresql://)");
}

std::string redact_url(const std::string& url) {
  // SQLite URLs are paths: nothing secret, and ':' or '@' in a file name are not credentials.
  if (starts_with(url, "sqlite:")) return url;
  std::string out = url;
  const auto scheme = out.find("://");
  const auto authority = scheme == std::string::npos ? 0 : scheme + 3;
  // The user information ends at the last '@' before the query: a password may hold an
  // unescaped '/' or '@', and redacting too much is the safe mistake.
  const auto query = out.find_first_of("?#", authority);
  const auto at = out.rfind('@', query == std::string::npos ? std::string::npos : query);
  if (scheme != std::string::npos && at != std::string::npos && at >= authority) {
    const auto colon = out.find(':', authority);
    if (colon != std::string::npos && colon < at) out.replace(colon + 1, at - colon - 1, "***");
  }
  // password=... in the query (a URI), or anywhere (a key=value connection string).
  std::size_t pos = 0;
  while ((pos = out.find('=', pos)) != std::string::npos) {
    std::size_t name_start = pos;
    while (name_start > 0 && out[name_start - 1] != '?' && out[name_start - 1] != '&' &&
           out[name_start - 1] != ' ') {
      --name_start;
    }
    const auto value_end = out.find_first_of("& #", pos + 1);
    const auto end = value_end == std::string::npos ? out.size() : value_end;
    if (secret_parameter(std::string_view(out).substr(name_start, pos - name_start))) {
      out.replace(pos + 1, end - pos - 1, "***");
      pos += 4;
    } else {
      pos = end;
    }
  }
  return out;
}

}  // namespace shepherd::storage
