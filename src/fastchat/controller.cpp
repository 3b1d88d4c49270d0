#include "fastchat/controller.hpp"

#include <spdlog/spdlog.h>

#include <boost/json.hpp>
#include <optional>
#include <random>
#include <set>
#include <stdexcept>

#include "api/sse.hpp"
#include "fastchat/http_client.hpp"
#include "fastchat/protocol.hpp"
#include "net/handover.hpp"
#include "net/http_connection.hpp"
#include "net/listener.hpp"

namespace shepherd::fastchat {

namespace {

namespace asio = net::asio;
namespace http = net::http;
using namespace std::chrono_literals;

constexpr auto kWriteTimeout = 10s;
constexpr auto kSweepEvery = 1s;
const net::ReadLimits kLimits{64 * 1024, 16 * 1024 * 1024, 60s, 30s};

}  // namespace

struct Controller::Impl {
  explicit Impl(ControllerOptions o) : options(std::move(o)), connections(ioc) {
    if (!options.clock)
      options.clock = [] { return Registry::Time(std::chrono::steady_clock::now()); };
    if (!options.random) {
      options.random = [rng = std::mt19937_64(std::random_device{}())]() mutable {
        return std::uniform_real_distribution<double>(0.0, 1.0)(rng);
      };
    }
  }

  ControllerOptions options;
  asio::io_context ioc{1};
  net::ConnectionSet connections;
  std::vector<net::Acceptor> acceptors;  // one, or those a predecessor handed over
  net::ServerTls tls;
  std::optional<net::Timer> sweep_timer;
  std::thread thread;
  std::uint16_t port = 0;
  Registry registry;
  std::set<CallHandle*> calls;  // calls to workers under way, ended by stop()

  // A call to a worker, known to stop() while it runs.
  struct Tracked {
    explicit Tracked(Impl& owner) : impl(owner) { impl.calls.insert(&handle); }
    ~Tracked() { impl.calls.erase(&handle); }
    Tracked(const Tracked&) = delete;
    Tracked& operator=(const Tracked&) = delete;
    Impl& impl;
    CallHandle handle;
  };

  void sweep() {
    const auto expired = registry.expire(options.clock(), options.expiration);
    for (const auto& name : expired) spdlog::info("controller: worker {} expired", name);
    connections.sweep(net::Clock::now());
    sweep_timer->expires_after(kSweepEvery);
    sweep_timer->async_wait([this](net::error_code ec) {
      if (!ec) sweep();
    });
  }

  // The status a worker reports at /worker_get_status, or an error when it does not answer.
  net::Task<base::Result<WorkerStatus>> poll(std::string name) {
    Tracked call(*this);
    std::string path = "/worker_get_status";
    std::string empty = "{}";
    auto reply = co_await post_json(name, std::move(path), std::move(empty), options.worker_timeout,
                                    &call.handle);
    if (!reply) co_return std::move(reply).error();
    if (reply->status != 200) {
      co_return base::make_error(base::ErrorCode::kUpstreamUnreachable,
                                 name + " answered " + std::to_string(reply->status));
    }
    co_return parse_worker_status(reply->body);
  }

  net::Task<void> respond(net::ClientConnection& conn, int status, std::string_view body) {
    const std::string_view no_extra;
    co_await conn.respond(status, "application/json", body, no_extra, kWriteTimeout);
  }

  // A whole stream of frames at once.
  net::Task<void> octet_stream(net::ClientConnection& conn, std::string_view frames) {
    const std::string_view no_extra;
    co_await conn.respond(200, "application/octet-stream", frames, no_extra, kWriteTimeout);
  }

  net::Task<void> bad_request(net::ClientConnection& conn, const base::Error& e) {
    const auto body = write_detail(e.message);
    co_await respond(conn, 400, body);
  }

  net::Task<void> register_worker(net::ClientConnection& conn, const std::string& body) {
    auto request = parse_register_worker(body);
    if (!request) co_return co_await bad_request(conn, request.error());
    Worker w;
    w.name = request->worker_name;
    w.check_heart_beat = request->check_heart_beat;
    w.multimodal = request->multimodal;
    auto status = request->worker_status;
    if (!status) {
      // As FastChat: ask the worker itself; one that does not answer is not added (still 200).
      auto polled = co_await poll(w.name);
      if (!polled) {
        spdlog::warn("controller: not registering {}: {}", w.name, polled.error().message);
        co_return co_await respond(conn, 200, "null");
      }
      status = std::move(*polled);
    }
    w.model_names = status->model_names;
    w.speed = status->speed;
    w.queue_length = status->queue_length;
    spdlog::info("controller: registered {} ({} models)", w.name, w.model_names.size());
    registry.upsert(std::move(w), options.clock());
    co_await respond(conn, 200, "null");
  }

  net::Task<void> refresh_all(net::ClientConnection& conn) {
    for (auto& w : registry.take_all()) {
      auto status = co_await poll(w.name);
      if (!status) {
        spdlog::info("controller: removing stale worker {}: {}", w.name, status.error().message);
        continue;
      }
      w.model_names = std::move(status->model_names);
      w.speed = status->speed;
      w.queue_length = status->queue_length;
      registry.upsert(std::move(w), options.clock());
    }
    co_await respond(conn, 200, "null");
  }

  // The controller as a worker of a parent controller: the sum of its workers' statuses.
  net::Task<void> aggregate_status(net::ClientConnection& conn) {
    WorkerStatus all;
    all.speed = 0;
    std::vector<std::string> names;
    for (const auto& w : registry.workers()) names.push_back(w.name);
    for (const auto& name : names) {
      auto status = co_await poll(name);
      if (!status) continue;
      all.model_names.insert(all.model_names.end(), status->model_names.begin(),
                             status->model_names.end());
      all.speed += status->speed;
      all.queue_length += status->queue_length;
    }
    std::sort(all.model_names.begin(), all.model_names.end());
    all.model_names.erase(std::unique(all.model_names.begin(), all.model_names.end()),
                          all.model_names.end());
    const auto answer = write_worker_status(all);
    co_await respond(conn, 200, answer);
  }

  // Relays a generate stream from the worker the dispatch picks, frame bytes as they come.
  net::Task<void> proxy_stream(net::ClientConnection& conn, const std::string& body) {
    auto model = parse_model_request(body);
    if (!model) co_return co_await bad_request(conn, model.error());
    const auto worker = registry.pick(model->model, options.dispatch, options.random());
    std::string out;
    if (!worker) {
      GenerateChunk chunk;
      chunk.text = std::string(kServerErrorMsg);
      chunk.error_code = error_codes::kControllerNoWorker;
      append_frame(out, write_generate_chunk(chunk));
      co_return co_await octet_stream(conn, out);
    }
    bool started = false;
    BodySink forward = [&](std::string_view piece) -> net::Task<bool> {
      std::string chunk;
      api::append_http_chunk(chunk, piece);
      std::string_view head;
      if (!started) {
        started = true;
        head = conn.head(200, "application/octet-stream", std::nullopt);
      }
      co_await conn.write(head, chunk, kWriteTimeout);
      co_return !conn.write_failed();
    };
    Tracked call(*this);
    std::string path = "/worker_generate_stream";
    auto status = co_await post_stream(*worker, std::move(path), body, options.stream_timeout,
                                       options.stream_timeout, forward, &call.handle);
    if (!status && registry.remove(*worker)) {
      // It could not be reached, or broke off: out of the dispatch until its next heartbeat
      // registers it again (FastChat keeps sending requests to it until it expires).
      spdlog::warn("worker {} failed a stream ({}); dropped until it registers again", *worker,
                   status.error().message);
    }
    if (!status || *status != 200) {
      GenerateChunk chunk;
      chunk.text = std::string(kServerErrorMsg);
      chunk.error_code = error_codes::kControllerWorkerTimeout;
      append_frame(out, write_generate_chunk(chunk));
      if (!started) co_return co_await octet_stream(conn, out);
      std::string framed;
      api::append_http_chunk(framed, out);
      const std::string_view no_head;
      co_await conn.write(no_head, framed, kWriteTimeout);
    }
    if (started) {
      const std::string_view no_head;
      co_await conn.write(no_head, api::kLastHttpChunk, kWriteTimeout);
    }
  }

  // The answers that need no call to a worker: status and body.
  std::pair<int, std::string> answer(const net::Request& request) {
    const auto path = request.path();
    if (path == "/test_connection") return {200, "\"success\""};
    if (request.method != http::verb::post) return {405, R"({"detail":"Method Not Allowed"})"};
    if (path == "/list_models") return {200, write_model_list(ModelList{registry.models()})};
    if (path == "/list_multimodal_models") {
      return {200, write_model_list(ModelList{registry.models(ModelKind::kMultimodal)})};
    }
    if (path == "/list_language_models") {
      return {200, write_model_list(ModelList{registry.models(ModelKind::kLanguage)})};
    }
    if (path == "/get_worker_address") {
      auto model = parse_model_request(request.body);
      if (!model) return {400, write_detail(model.error().message)};
      const auto worker = registry.pick(model->model, options.dispatch, options.random());
      return {200, write_worker_address(WorkerAddress{worker.value_or("")})};
    }
    if (path == "/receive_heart_beat") {
      auto beat = parse_heart_beat(request.body);
      if (!beat) return {400, write_detail(beat.error().message)};
      const bool exist = registry.heartbeat(beat->worker_name, beat->queue_length, options.clock());
      return {200, write_heart_beat_answer(HeartBeatAnswer{exist})};
    }
    return {404, R"({"detail":"Not Found"})"};
  }

  net::Task<void> dispatch(net::ClientConnection& conn, const net::Request& request) {
    const auto path = request.path();
    if (request.method == http::verb::post) {
      if (path == "/register_worker") co_return co_await register_worker(conn, request.body);
      if (path == "/refresh_all_workers") co_return co_await refresh_all(conn);
      if (path == "/worker_get_status") co_return co_await aggregate_status(conn);
      if (path == "/worker_generate_stream") co_return co_await proxy_stream(conn, request.body);
    }
    const auto [status, body] = answer(request);
    co_await respond(conn, status, body);
  }

  net::Task<void> serve(std::shared_ptr<net::ClientConnection> conn) {
    net::Request request;
    while (conn->keep_alive() && !connections.stopping()) {
      const auto read = co_await conn->read_request(request, kLimits);
      if (read.status == net::ReadStatus::kClosed) break;
      if (read.status != net::ReadStatus::kRequest) {
        conn->close_after_answer();
        const int status = read.status == net::ReadStatus::kTimeout           ? 408
                           : read.status == net::ReadStatus::kHeadersTooLarge ? 431
                           : read.status == net::ReadStatus::kBodyTooLarge    ? 413
                                                                              : 400;
        const auto body = write_detail(read.detail.empty() ? "malformed request" : read.detail);
        co_await respond(*conn, status, body);
        break;
      }
      co_await dispatch(*conn, request);
      if (conn->write_failed()) break;
    }
    conn->close();
  }
};

Controller::Controller(ControllerOptions options)
    : impl_(std::make_unique<Impl>(std::move(options))) {}

Controller::~Controller() { stop(); }

void Controller::start() {
  auto& i = *impl_;
  net::error_code ec;
  const auto address = asio::ip::make_address(i.options.host, ec);
  if (ec) throw std::runtime_error("controller: '" + i.options.host + "' is not an IP address");
  if (auto tls = i.tls.load(i.options.tls, i.options.tls_setting); !tls) {
    throw std::runtime_error(tls.error().message);
  }
  try {
    for (auto& [index, acceptor] : net::open_acceptors(
             {&i.ioc}, net::tcp::endpoint(address, i.options.port), "fastchat.controller.listen")) {
      i.acceptors.push_back(std::move(acceptor));
    }
  } catch (const boost::system::system_error& e) {
    throw std::runtime_error("controller: cannot listen on " + i.options.host + ":" +
                             std::to_string(i.options.port) + ": " + e.code().message());
  }
  i.port = i.acceptors.front().local_endpoint().port();
  for (auto& acceptor : i.acceptors) {
    net::AcceptOptions options;
    options.tls = &i.tls;
    asio::co_spawn(
        i.ioc,
        net::accept_loop(
            acceptor, i.connections,
            [p = &i](std::shared_ptr<net::ClientConnection> c) { return p->serve(std::move(c)); },
            std::move(options)),
        asio::detached);
  }
  i.sweep_timer.emplace(i.ioc);
  i.sweep();
  i.thread = std::thread([p = &i] { p->ioc.run(); });
}

std::uint16_t Controller::port() const { return impl_->port; }

net::ServerTls& Controller::tls() { return impl_->tls; }

void Controller::stop() {
  auto& i = *impl_;
  if (!i.thread.joinable()) return;
  asio::post(i.ioc, [p = &i] {
    for (auto& acceptor : p->acceptors) net::close_acceptor(acceptor);
    if (p->sweep_timer) p->sweep_timer->cancel();
    p->connections.abort();
    for (auto* call : p->calls) {
      if (call->close) call->close();
    }
    if (p->connections.empty()) p->ioc.stop();
  });
  i.thread.join();
  i.ioc.restart();
  i.ioc.run();
}

}  // namespace shepherd::fastchat
