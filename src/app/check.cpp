// `shepherd check`: the original system's integration check (S8) against a running gateway.
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <chrono>
#include <cstdio>
#include <iostream>

#include "app/commands.hpp"
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

}  // namespace

int check(const CheckOptions& options) {
  auto endpoint = config::parse_endpoint(options.url);
  if (!endpoint) {
    std::cerr << "check: --url: " << endpoint.error().message << "\n";
    return 2;
  }
  if (endpoint->tls) {
    std::cerr << "check: only http:// URLs are supported; run it next to the gateway\n";
    return 2;
  }
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
  std::printf("models         %zu: ", names.size());
  for (std::size_t i = 0; i < names.size(); ++i)
    std::printf("%s%s", i ? ", " : "", names[i].c_str());
  std::printf("\n\n%-24s %-8s %12s %8s %8s  %s\n", "model", "result", "latency_ms", "prompt",
              "output", "note");

  int successes = 0;
  double total_ms = 0;
  for (const auto& name : names) {
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
    std::printf("%-24s %-8s %12.1f %8ld %8ld  %s\n", name.c_str(), ok ? "ok" : "FAILED", ms, prompt,
                output,
                ok ? "" : (reply.status == 200 ? "answer has no usage" : describe(reply).c_str()));
  }
  std::printf("\nsummary        %d/%zu models answered, average latency %.1f ms\n", successes,
              names.size(), successes ? total_ms / successes : 0.0);
  return successes == static_cast<int>(names.size()) && !names.empty() ? 0 : 1;
}

}  // namespace shepherd::app
