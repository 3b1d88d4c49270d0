#include "net/http_message.hpp"

#include <charconv>

namespace shepherd::net {

RequestParser::RequestParser(HttpRequest& out) : BodyParser(out.body), out_(out) {
  eager(true);
  out_.method = http::verb::unknown;
  out_.method_string.clear();
  out_.target.clear();
  out_.authorization.clear();
  out_.api_key.clear();
  out_.anthropic_version = false;
  out_.origin.clear();
  out_.access_control_request_headers.clear();
  out_.request_id.clear();
  out_.traceparent.clear();
  out_.if_none_match.clear();
  out_.accepts_gzip = false;
  out_.expect_continue = false;
  out_.keep_alive = true;
}

void RequestParser::on_request_impl(http::verb method, beast::string_view method_str,
                                    beast::string_view target, int, error_code&) {
  out_.method = method;
  out_.method_string.assign(method_str.data(), method_str.size());
  out_.target.assign(target.data(), target.size());
}

namespace {

// Whether an Accept-Encoding value allows gzip (listed without q=0).
bool accepts_gzip(beast::string_view value) {
  std::string_view rest(value.data(), value.size());
  while (!rest.empty()) {
    const auto comma = rest.find(',');
    auto item = rest.substr(0, comma);
    rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    const auto semi = item.find(';');
    auto coding = item.substr(0, semi);
    while (!coding.empty() && coding.back() == ' ') coding.remove_suffix(1);
    if (!beast::iequals(coding, "gzip")) continue;
    if (semi == std::string_view::npos) return true;
    auto params = item.substr(semi + 1);
    while (!params.empty() && params.front() == ' ') params.remove_prefix(1);
    if (!params.starts_with("q=")) return true;
    double q = 1;
    std::from_chars(params.data() + 2, params.data() + params.size(), q);
    return q > 0;  // q=0: refused
  }
  return false;
}

}  // namespace

void RequestParser::on_field_impl(http::field name, beast::string_view name_string,
                                  beast::string_view value, error_code&) {
  auto keep_first = [&](bool& seen, std::string& into) {
    if (seen) return;
    seen = true;
    into.assign(value.data(), value.size());
  };
  switch (name) {
    case http::field::authorization:
      keep_first(seen_authorization_, out_.authorization);
      break;
    case http::field::origin:
      keep_first(seen_origin_, out_.origin);
      break;
    case http::field::access_control_request_headers:
      keep_first(seen_acrh_, out_.access_control_request_headers);
      break;
    case http::field::if_none_match:
      keep_first(seen_if_none_match_, out_.if_none_match);
      break;
    case http::field::accept_encoding:
      out_.accepts_gzip = out_.accepts_gzip || accepts_gzip(value);
      break;
    case http::field::expect:
      out_.expect_continue = beast::iequals(value, "100-continue");
      break;
    case http::field::unknown:
      if (beast::iequals(name_string, "x-api-key")) {
        keep_first(seen_api_key_, out_.api_key);
      } else if (beast::iequals(name_string, "anthropic-version")) {
        out_.anthropic_version = true;
      } else if (beast::iequals(name_string, "x-request-id")) {
        keep_first(seen_request_id_, out_.request_id);
      } else if (beast::iequals(name_string, "traceparent")) {
        keep_first(seen_traceparent_, out_.traceparent);
      }
      break;
    default:
      break;
  }
}

void RequestParser::on_header_impl(error_code&) { out_.keep_alive = keep_alive(); }

ResponseParser::ResponseParser(HttpResponse& out) : BodyParser(out.body), out_(out) {
  out_.status = 0;
  out_.keep_alive = true;
  out_.content_type.clear();
  out_.retry_after.clear();
  out_.field_count = 0;
}

void ResponseParser::on_response_impl(int code, beast::string_view, int, error_code&) {
  out_.status = code;
}

void ResponseParser::on_field_impl(http::field name, beast::string_view name_string,
                                   beast::string_view value, error_code&) {
  if (out_.field_count == out_.fields.size()) out_.fields.emplace_back();
  auto& [n, v] = out_.fields[out_.field_count++];
  n.assign(name_string.data(), name_string.size());
  v.assign(value.data(), value.size());
  if (name == http::field::content_type && out_.content_type.empty()) out_.content_type = v;
  if (name == http::field::retry_after && out_.retry_after.empty()) out_.retry_after = v;
}

void ResponseParser::on_header_impl(error_code&) { out_.keep_alive = keep_alive(); }

}  // namespace shepherd::net
