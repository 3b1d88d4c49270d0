// `shepherd check`: the original system's integration check (S8) against a running gateway.
#include <algorithm>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <optional>

#include "app/commands.hpp"
#include "app/table.hpp"
#include "base/text.hpp"
#include "config/config.hpp"

namespace shepherd::app {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
using tcp = asio::ip::tcp;

struct Reply {
  int status = 0;
  std::string body;
  std::string error;  // transport failure
};

class Client {
 public:
  Client(config::Endpoint endpoint, std::string key, int timeout_seconds)
      : endpoint_(std::move(endpoint)), key_(std::move(key)), timeout_(timeout_seconds) {}

  Reply call(http::verb method, const std::string& path, const std::string& body = {}) {
    Reply r;
    try {
      beast::tcp_stream stream(ioc_);
      stream.expires_after(std::chrono::seconds(timeout_));
      tcp::resolver resolver(ioc_);
      stream.connect(resolver.resolve(endpoint_.host, std::to_string(endpoint_.port)));
      http::request<http::string_body> req(method, endpoint_.path_prefix + path, 11);
      req.set(http::field::host, endpoint_.host_header);
      req.set(http::field::user_agent, "shepherd-check");
      if (!key_.empty()) req.set(http::field::authorization, "Bearer " + key_);
      if (!body.empty()) {
        req.set(http::field::content_type, "application/json");
        req.body() = body;
        req.prepare_payload();
      }
      http::write(stream, req);
      beast::flat_buffer buffer;
      http::response_parser<http::string_body> parser;
      parser.body_limit(64 * 1024 * 1024);
      http::read(stream, buffer, parser);
      r.status = static_cast<int>(parser.get().result_int());
      r.body = parser.get().body();
      beast::error_code ec;
      stream.socket().shutdown(tcp::socket::shutdown_both, ec);
    } catch (const std::exception& e) {
      r.error = e.what();
    }
    return r;
  }

 private:
  asio::io_context ioc_;
  config::Endpoint endpoint_;
  std::string key_;
  int timeout_;
};

std::string describe(const Reply& r) {
  if (!r.error.empty()) return "connection failed: " + r.error;
  std::string message = r.body.substr(0, 200);
  boost::system::error_code ec;
  auto v = json::parse(r.body, ec);
  if (!ec && v.is_object()) {
    if (const auto* e = v.as_object().if_contains("error"); e && e->is_object()) {
      if (const auto* m = e->as_object().if_contains("message"); m && m->is_string()) {
        message = std::string(m->as_string());
      }
    }
  }
  return "HTTP " + std::to_string(r.status) + ": " + message;
}

// The endpoint of a --url, --controller or --worker value; nullopt (with the reason printed).
std::optional<config::Endpoint> endpoint_of(const std::string& flag, const std::string& url) {
  auto endpoint = config::parse_endpoint(url);
  if (!endpoint) {
    std::cerr << "check: " << flag << ": " << endpoint.error().message << "\n";
    return std::nullopt;
  }
  if (endpoint->tls) {
    std::cerr << "check: " << flag << ": only http:// URLs are supported; run it next to them\n";
    return std::nullopt;
  }
  return std::move(endpoint).value();
}

// A JSON object body, or null.
const json::object* object_of(const Reply& r, json::value& holder) {
  boost::system::error_code ec;
  holder = json::parse(r.body, ec);
  return !ec && holder.is_object() ? &holder.as_object() : nullptr;
}

std::vector<std::string> strings_at(const json::object* o, std::string_view key) {
  std::vector<std::string> out;
  if (!o) return out;
  if (const auto* a = o->if_contains(key); a && a->is_array()) {
    for (const auto& v : a->as_array()) {
      if (v.is_string()) out.emplace_back(v.as_string());
    }
  }
  return out;
}

// A FastChat controller: it answers, lists models, and has a worker for each. Returns success.
bool check_controller(const config::Endpoint& at, int timeout) {
  Client c(at, "", timeout);
  const auto alive = c.call(http::verb::get, "/test_connection");
  if (alive.status != 200 || alive.body != "\"success\"") {
    std::printf("controller     %s\n", describe(alive).c_str());
    return false;
  }
  json::value holder;
  const auto list = c.call(http::verb::post, "/list_models", "{}");
  auto models = strings_at(object_of(list, holder), "models");
  std::sort(models.begin(), models.end());
  std::printf("controller     ok, %zu models: %s\n", models.size(), base::join(models).c_str());
  bool ok = !models.empty();
  for (const auto& m : models) {
    const auto reply = c.call(http::verb::post, "/get_worker_address",
                              json::serialize(json::object{{"model", m}}));
    json::value h;
    const auto* o = object_of(reply, h);
    const auto* a = o ? o->if_contains("address") : nullptr;
    const std::string address = a && a->is_string() ? std::string(a->as_string()) : "";
    std::printf("  %-22s %s\n", m.c_str(), address.empty() ? "NO WORKER" : address.c_str());
    ok = ok && !address.empty();
  }
  return ok;
}

// A FastChat worker: its status, then one generation per model. Returns success.
bool check_worker(const config::Endpoint& at, const std::string& prompt, int timeout) {
  Client c(at, "", timeout);
  json::value holder;
  const auto status = c.call(http::verb::post, "/worker_get_status", "{}");
  const auto* o = object_of(status, holder);
  const auto models = strings_at(o, "model_names");
  if (status.status != 200 || models.empty()) {
    std::printf("worker         %s\n", describe(status).c_str());
    return false;
  }
  const auto* queue = o->if_contains("queue_length");
  std::printf("worker         ok, queue %s, %zu models: %s\n",
              queue ? json::serialize(*queue).c_str() : "?", models.size(),
              base::join(models).c_str());
  bool ok = true;
  for (const auto& m : models) {
    const json::object body{
        {"model", m}, {"prompt", prompt}, {"max_new_tokens", 32}, {"echo", false}};
    const auto started = std::chrono::steady_clock::now();
    const auto reply = c.call(http::verb::post, "/worker_generate", json::serialize(body));
    const double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started)
            .count();
    json::value h;
    const auto* answer = object_of(reply, h);
    const auto* code = answer ? answer->if_contains("error_code") : nullptr;
    const bool answered = reply.status == 200 && code && code->is_int64() && code->as_int64() == 0;
    std::string note;
    if (!answered) {
      const auto* text = answer ? answer->if_contains("text") : nullptr;
      note = text && text->is_string() ? std::string(text->as_string()).substr(0, 200)
                                       : describe(reply);
    }
    std::printf("  %-22s %-8s %10.1f ms  %s\n", m.c_str(), answered ? "ok" : "FAILED", ms,
                note.c_str());
    ok = ok && answered;
  }
  return ok;
}

}  // namespace

int check(const CheckOptions& options) {
  bool pieces_ok = true;
  if (!options.controller.empty()) {
    auto at = endpoint_of("--controller", options.controller);
    if (!at) return 2;
    pieces_ok = check_controller(*at, options.timeout_seconds) && pieces_ok;
  }
  if (!options.worker.empty()) {
    auto at = endpoint_of("--worker", options.worker);
    if (!at) return 2;
    pieces_ok = check_worker(*at, options.prompt, options.timeout_seconds) && pieces_ok;
  }
  if (!options.gateway) return pieces_ok ? 0 : 1;
  if (!options.controller.empty() || !options.worker.empty()) std::printf("\n");
  auto endpoint = endpoint_of("--url", options.url);
  if (!endpoint) return 2;
  std::string key = options.key;
  if (key.empty()) {
    if (const char* k = std::getenv("SHEPHERD_API_KEY")) key = k;
  }
  Client client(*endpoint, key, options.timeout_seconds);

  auto health = client.call(http::verb::get, "/health");
  std::printf("health         %s\n", health.status == 200 ? "ok" : describe(health).c_str());
  if (health.status != 200) return 1;

  auto models = client.call(http::verb::get, "/v1/models");
  std::vector<std::string> names;
  boost::system::error_code ec;
  auto list = json::parse(models.body, ec);
  if (models.status == 200 && !ec && list.is_object()) {
    if (const auto* data = list.as_object().if_contains("data"); data && data->is_array()) {
      for (const auto& m : data->as_array()) {
        if (m.is_object() && m.as_object().contains("id") && m.as_object().at("id").is_string()) {
          names.emplace_back(m.as_object().at("id").as_string());
        }
      }
    }
  }
  if (models.status != 200) {
    std::printf("models         %s\n", describe(models).c_str());
    return 1;
  }
  std::printf("models         %zu: %s\n\n", names.size(), base::join(names).c_str());

  // Each model's line starts before its request and ends when the answer is in, so a slow model
  // shows where the check waits.
  using A = Table::Align;
  Table table({{"model"},
               {"result"},
               {"latency ms", A::kRight},
               {"prompt", A::kRight},
               {"output", A::kRight},
               {"note"}});
  int successes = 0;
  double total_ms = 0;
  for (std::size_t i = 0; i < names.size(); ++i) {
    const auto& name = names[i];
    std::printf("[%zu/%zu] %s ... ", i + 1, names.size(), name.c_str());
    std::fflush(stdout);
    json::object body{
        {"model", name},
        {"max_tokens", 32},
        {"messages", json::array{json::object{{"role", "user"}, {"content", options.prompt}}}}};
    const auto started = std::chrono::steady_clock::now();
    auto reply = client.call(http::verb::post, "/v1/chat/completions", json::serialize(body));
    const double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started)
            .count();
    long prompt = -1, output = -1;
    bool ok = reply.status == 200;
    if (ok) {
      auto v = json::parse(reply.body, ec);
      const json::object* usage = nullptr;
      if (!ec && v.is_object()) {
        if (const auto* u = v.as_object().if_contains("usage"); u && u->is_object()) {
          usage = &u->as_object();
        }
      }
      if (usage && usage->contains("prompt_tokens") && usage->contains("completion_tokens")) {
        prompt = static_cast<long>(usage->at("prompt_tokens").to_number<double>());
        output = static_cast<long>(usage->at("completion_tokens").to_number<double>());
      } else {
        ok = false;
      }
    }
    if (ok) {
      ++successes;
      total_ms += ms;
    }
    const std::string note =
        ok ? "" : (reply.status == 200 ? "answer has no usage" : describe(reply));
    std::printf("%s in %s ms%s%s\n", ok ? "ok" : "FAILED", fixed(ms, 1).c_str(),
                note.empty() ? "" : ": ", note.c_str());
    std::fflush(stdout);
    table.add({name, ok ? "ok" : "FAILED", fixed(ms, 1), ok ? thousands(prompt) : "-",
               ok ? thousands(output) : "-", note});
  }
  std::printf("\n%s\nsummary        %d/%zu models answered, average latency %s ms\n",
              table.render().c_str(), successes, names.size(),
              fixed(successes ? total_ms / successes : 0.0, 1).c_str());
  return pieces_ok && successes == static_cast<int>(names.size()) && !names.empty() ? 0 : 1;
}

}  // namespace shepherd::app
