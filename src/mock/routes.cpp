// Routing by path, and the routes that answer at once: the model routes, /mock/stats,
// /mock/last-request and /mock/reset. Synchronous, on the connection's thread; the counters and
// the last request are shared by all threads.
#include <algorithm>
#include <boost/json/serialize.hpp>

#include "mock/http_shell.hpp"
#include "mock/text.hpp"

namespace shepherd::mock::detail {
namespace {

namespace http = boost::beast::http;

bool is_get(Operation op) { return op == Operation::kModelList || op == Operation::kModel; }

}  // namespace

Connection::Next Connection::route() {
  const std::string_view target = req_.target;
  const auto question = target.find('?');
  const std::string_view path = target.substr(0, question);
  const std::string_view query =
      question == std::string_view::npos ? std::string_view() : target.substr(question + 1);

  for (const Dialect* dialect : kDialects) {
    const bool marked =
        !dialect->marker_header.empty() && req_.header(dialect->marker_header) != nullptr;
    const Endpoint endpoint = dialect->match(path, query, marked);
    if (endpoint.op == Operation::kNone) continue;
    dialect_ = dialect;
    return route_endpoint(path, endpoint);
  }
  const http::verb verb = req_.verb;
  if (path == "/mock/stats") {
    if (verb != http::verb::get) return method_not_allowed(path);
    stats();
    return Next::kReply;
  }
  if (path == "/mock/last-request") {
    if (verb != http::verb::get) return method_not_allowed(path);
    last_request();
    return Next::kReply;
  }
  if (path == "/mock/reset") {
    if (verb != http::verb::post) return method_not_allowed(path);
    reset_counters();
    reply(200, "application/json", "{\"reset\":true}");
    return Next::kReply;
  }
  std::string message = "Unknown request URL: ";
  message.append(req_.method);
  message.push_back(' ');
  message.append(path);
  reply_error(404, message, "unknown_url");
  return Next::kReply;
}

Connection::Next Connection::route_endpoint(std::string_view path, const Endpoint& endpoint) {
  if (endpoint.op == Operation::kReject) {
    reply_error(endpoint.status, endpoint.message);
    return Next::kReply;
  }
  const http::verb wanted = is_get(endpoint.op) ? http::verb::get : http::verb::post;
  if (req_.verb != wanted) return method_not_allowed(path);
  switch (endpoint.op) {
    case Operation::kModelList:
      model_list();
      return Next::kReply;
    case Operation::kModel:
      model(endpoint.model);
      return Next::kReply;
    default:
      answering_chat_ = true;
      disconnect_counted_ = false;
      return prepare_request(endpoint);
  }
}

Connection::Next Connection::method_not_allowed(std::string_view path) {
  std::string message = "method ";
  message.append(req_.method);
  message.append(" is not allowed on ");
  message.append(path);
  reply_error(405, message);
  return Next::kReply;
}

void Connection::model_list() {
  shared_.counters.models_requests.fetch_add(1, std::memory_order_relaxed);
  const auto i = static_cast<std::size_t>(std::find(kDialects.begin(), kDialects.end(), dialect_) -
                                          kDialects.begin());
  reply(200, "application/json", shared_.model_lists[i]);
}

void Connection::model(std::string_view id) {
  const auto& models = shared_.options.models;
  if (std::find(models.begin(), models.end(), id) == models.end()) {
    std::string message = "The model '";
    message.append(id);
    message.append("' does not exist");
    reply_error(404, message, "model_not_found");
    return;
  }
  body_.clear();
  dialect_->append_model(body_, id);
  reply(200, "application/json", body_);
}

void Connection::stats() {
  const Counters& c = shared_.counters;
  body_.clear();
  body_.append("{\"requests\":");
  append_int(body_, static_cast<std::int64_t>(c.requests.load()));
  body_.append(",\"chat_requests\":");
  append_int(body_, static_cast<std::int64_t>(c.chat_requests.load()));
  body_.append(",\"models_requests\":");
  append_int(body_, static_cast<std::int64_t>(c.models_requests.load()));
  body_.append(",\"embeddings_requests\":");
  append_int(body_, static_cast<std::int64_t>(c.embeddings_requests.load()));
  body_.append(",\"count_tokens_requests\":");
  append_int(body_, static_cast<std::int64_t>(c.count_tokens_requests.load()));
  body_.append(",\"streams_started\":");
  append_int(body_, static_cast<std::int64_t>(c.streams_started.load()));
  body_.append(",\"streams_completed\":");
  append_int(body_, static_cast<std::int64_t>(c.streams_completed.load()));
  body_.append(",\"client_disconnects\":");
  append_int(body_, static_cast<std::int64_t>(c.client_disconnects.load()));
  body_.append(",\"open_connections\":");
  append_int(body_, c.open_connections.load());
  body_.append(",\"connections_accepted\":");
  append_int(body_, static_cast<std::int64_t>(c.connections_accepted.load()));
  body_.push_back('}');
  reply(200, "application/json", body_);
}

void Connection::last_request() {
  body_.clear();
  {
    std::lock_guard lock(shared_.last.mutex);
    if (shared_.last.present) {
      const RequestHead& head = shared_.last.head;
      json::object headers;
      for (std::size_t i = 0; i < head.header_count; ++i) {
        const auto& [name, value] = head.headers[i];
        if (json::value* existing = headers.if_contains(name)) {
          // A repeated field: join as HTTP does (RFC 9110 §5.3).
          json::string& joined = existing->as_string();
          joined.append(", ");
          joined.append(value);
        } else {
          headers.emplace(name, value);
        }
      }
      json::object obj;
      obj.emplace("method", head.method);
      obj.emplace("target", head.target);
      obj.emplace("headers", std::move(headers));
      obj.emplace("body", head.body);
      body_ = json::serialize(obj);
    }
  }
  if (body_.empty()) {
    reply_error(404, "no API request received yet");
  } else {
    reply(200, "application/json", body_);
  }
}

void Connection::reset_counters() {
  Counters& c = shared_.counters;
  c.requests = 0;
  c.chat_requests = 0;
  c.models_requests = 0;
  c.embeddings_requests = 0;
  c.count_tokens_requests = 0;
  c.streams_started = 0;
  c.streams_completed = 0;
  c.client_disconnects = 0;
  c.connections_accepted = 0;
  shared_.fault_selector.reset(shared_.options.seed);
  std::lock_guard lock(shared_.last.mutex);
  shared_.last.present = false;
}

void Connection::record_last_request() {
  std::lock_guard lock(shared_.last.mutex);
  RequestHead& last = shared_.last.head;
  last.method.assign(req_.method);
  last.target.assign(req_.target);
  last.body.assign(req_.body);
  last.header_count = 0;
  for (std::size_t i = 0; i < req_.header_count; ++i) {
    last.add_header(req_.headers[i].first, req_.headers[i].second);
  }
  shared_.last.present = true;
}

}  // namespace shepherd::mock::detail
