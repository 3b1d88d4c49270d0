#include "server/server.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <random>
#include <stdexcept>

#include "base/text.hpp"
#include "net/handover.hpp"
#include "observability/metrics_text.hpp"
#include "providers/fastchat/fastchat_adapter.hpp"
#include "server/control.hpp"
#include "server/loop.hpp"
#include "server/tracing.hpp"
#include "server/worker.hpp"

namespace shepherd::server {

using base::ErrorCode;

namespace {

// Every secret value a config holds, longest first, for redaction from audited bodies.
std::vector<std::string> secret_values(const config::Config& c) {
  std::vector<std::string> out = c.server.api_keys;
  if (!c.server.master_key.empty()) out.push_back(c.server.master_key);
  if (!c.server.metrics_token.empty()) out.push_back(c.server.metrics_token);
  if (!c.keys.secret.empty()) out.push_back(c.keys.secret);
  for (const auto& p : c.providers) {
    if (!p.api_key.empty()) out.push_back(p.api_key);
  }
  std::sort(out.begin(), out.end(),
            [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
  return out;
}

}  // namespace

Server::Server(std::shared_ptr<const config::Config> config, std::string config_path,
               Listeners listeners)
    : config_path_(std::move(config_path)),
      control_(std::make_unique<Control>()),
      listeners_(listeners) {
  descriptor_limit_ = net::raise_descriptor_limit();
  int n = config->server.threads;
  if (n <= 0) n = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  metrics_ = std::make_unique<observability::Metrics>(n);
  std::random_device rd;
  const std::uint64_t salt = (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
  for (int i = 0; i < n; ++i) {
    const std::uint64_t seed = (static_cast<std::uint64_t>(rd()) << 32) ^ rd() ^ salt;
    loops_.push_back(
        std::make_unique<Loop>(*this, i, *metrics_, salt & 0x00ffffffffffffffULL, seed));
  }
  control_->on_models = [this](const std::string& provider, std::vector<std::string> models) {
    set_discovered(provider, std::move(models));
  };
  // Opens the store: a store that cannot be opened stops the start here, with the reason.
  governance_ = std::make_unique<governance::Governance>(*config, n);
  // tracing applies at start.
  if (!config->tracing.otlp_endpoint.empty()) {
    tracer_ = std::make_unique<OtlpExporter>(config->tracing);
    for (auto& loop : loops_) {
      loop->context.spans = tracer_.get();
      loop->context.trace_sample_ratio = config->tracing.sample_ratio;
    }
  }
  // log.access applies at start, as the log's format does.
  if (config->log.access) {
    access_log_ = std::make_unique<observability::AccessLog>(n);
    for (auto& loop : loops_) {
      loop->context.access_log = access_log_.get();
      loop->context.access_json = config->log.json;
    }
  }
  // The first version; the loops are not running yet, so it is installed directly.
  auto applied = apply(std::move(config));
  if (!applied) throw std::runtime_error(applied.error().message);
}

Server::~Server() {
  stop();
  wait();
  // Before the loops: the Redis limiters hold sockets and timers of the loops' io_contexts.
  governance_.reset();
}

std::shared_ptr<const Snapshot> Server::snapshot() const {
  std::lock_guard lock(mu_);
  return current_snapshot_;
}

net::Executor Server::control_executor() { return control_->executor(); }

base::Result<std::uint64_t> Server::apply(std::shared_ptr<const config::Config> config) {
  std::lock_guard lock(mu_);
  return apply_locked(std::move(config),
                      history_.empty() ? std::nullopt : std::optional<std::size_t>(current_));
}

base::Result<Server::TlsContexts> Server::read_tls(const config::Config& c) const {
  TlsContexts out;
  // The API listener follows the config, TLS on or off. The FastChat listeners' TLS is fixed at
  // start, as their addresses are: only their files are read again.
  auto read = [](const config::ListenerTlsConfig& tls, std::string_view path,
                 std::shared_ptr<net::asio::ssl::context>& into) -> base::Status {
    auto context = net::make_server_tls_context(tls, path);
    if (!context) return std::move(context).error();
    into = std::move(context).value();
    return base::Ok{};
  };
  if (c.server.tls.enabled()) {
    if (auto r = read(c.server.tls, "server.tls", out.api); !r) return std::move(r).error();
  } else {
    out.api_plain = true;
  }
  if (worker_tls_.current() && c.fastchat.worker.tls.enabled()) {
    auto r = read(c.fastchat.worker.tls, "fastchat.worker.tls", out.worker);
    if (!r) return std::move(r).error();
  }
  if (controller_tls_ && controller_tls_->current() && c.fastchat.controller.tls.enabled()) {
    auto r = read(c.fastchat.controller.tls, "fastchat.controller.tls", out.controller);
    if (!r) return std::move(r).error();
  }
  return out;
}

base::Result<std::uint64_t> Server::apply_locked(std::shared_ptr<const config::Config> base,
                                                 std::optional<std::size_t> previous,
                                                 bool read_tls) {
  if (auto s = providers::fastchat::check_templates(*base); !s) return std::move(s).error();
  std::optional<TlsContexts> tls;
  if (read_tls) {
    auto contexts = this->read_tls(*base);
    if (!contexts) return std::move(contexts).error();
    tls = std::move(contexts).value();
  }
  auto config =
      discovered_.empty()
          ? base
          : std::make_shared<const config::Config>(config::with_discovered(*base, discovered_));
  auto routes = metrics_->add_routes(*config);
  if (!routes) return std::move(routes).error();
  auto snap = std::make_shared<Snapshot>();
  snap->router = std::make_shared<routing::Router>(
      config, current_snapshot_ ? current_snapshot_->router.get() : nullptr, net::Clock::now());
  snap->hasher = governance_->hasher();
  snap->secrets = secret_values(*config);
  snap->config = std::move(config);
  snap->routes = std::move(routes).value();
  snap->version = next_version_++;
  history_.push_back(
      Applied{snap->version, snap->config->source, std::move(base), std::time(nullptr), previous});
  if (history_.size() > kMaxVersions) {
    // The oldest goes; indexes move down by one, and a rollback target that went is gone.
    history_.erase(history_.begin());
    for (auto& h : history_) {
      if (h.previous) h.previous = *h.previous == 0 ? std::nullopt : std::optional(*h.previous - 1);
    }
  }
  current_ = history_.size() - 1;
  publish(snap);
  if (tls) {
    // From the next connection on; those open keep theirs.
    if (tls->api || tls->api_plain) api_tls_.set(std::move(tls->api));
    if (tls->worker) worker_tls_.set(std::move(tls->worker));
    if (tls->controller) controller_tls_->set(std::move(tls->controller));
  }
  return snap->version;
}

void Server::publish(std::shared_ptr<const Snapshot> snap) {
  current_snapshot_ = snap;
  set_connection_limits(snap->config->server);
  for (auto& loop : loops_) {
    if (threads_.empty()) {
      loop->install(snap);  // not running yet
    } else {
      net::asio::post(loop->ioc, [l = loop.get(), snap] { l->install(snap); });
    }
  }
  // Health checks follow the new providers.
  control_->check_health(snap, stopping_);
}

void Server::set_discovered(const std::string& provider, std::vector<std::string> models) {
  std::lock_guard lock(mu_);
  auto it = std::find_if(discovered_.begin(), discovered_.end(),
                         [&](const auto& d) { return d.first == provider; });
  if (it == discovered_.end()) {
    discovered_.emplace_back(provider, std::vector<std::string>{});
    it = discovered_.end() - 1;
  }
  if (it->second == models) return;
  it->second = std::move(models);
  if (history_.empty() || stopping_) return;
  // The current config as written, with the new lists: a version of its own (the admin API's
  // version list says the models came from FastChat workers).
  auto version = apply_locked(history_[current_].base, history_[current_].previous, false);
  if (version) {
    spdlog::info("provider {}: FastChat workers serve {}; configuration version {}", provider,
                 it->second.empty() ? std::string("no model") : base::join(it->second), *version);
  }
}

base::Result<std::uint64_t> Server::reload() {
  if (config_path_.empty()) {
    return base::make_error(ErrorCode::kBadRequest,
                            "this server was not started from a config file; nothing to reload");
  }
  auto loaded = config::load_config_file(config_path_, config::process_env());
  if (!loaded) {
    metrics_->count_reload(false);
    spdlog::warn("config reload refused, the running version stays: {}", loaded.error().message);
    return std::move(loaded).error();
  }
  auto config = std::move(loaded).value();
  {
    // Listeners and threads are fixed at start: the running values stay.
    auto current = snapshot();
    const auto& running = current->config->server;
    if (config.server.host != running.host || config.server.port != running.port ||
        config.server.threads != running.threads) {
      spdlog::warn("config reload: server.listen and server.threads apply at the next start");
    }
    if (config.server.ui_enabled != running.ui_enabled ||
        config.server.ui_host != running.ui_host || config.server.ui_port != running.ui_port) {
      spdlog::warn("config reload: server.ui_listen applies at the next start");
    }
    config.server.host = running.host;
    config.server.port = running.port;
    config.server.threads = running.threads;
    config.server.ui_enabled = running.ui_enabled;
    config.server.ui_given = running.ui_given;
    config.server.ui_host = running.ui_host;
    config.server.ui_port = running.ui_port;
  }
  auto version = apply(std::make_shared<const config::Config>(std::move(config)));
  metrics_->count_reload(version.ok());
  if (version) {
    spdlog::info("configuration version {} applied from {}", *version, config_path_);
  } else {
    spdlog::warn("config reload refused, the running version stays: {}", version.error().message);
  }
  return version;
}

base::Result<std::uint64_t> Server::rollback() {
  std::lock_guard lock(mu_);
  const auto target = history_[current_].previous;
  if (!target) {
    return base::make_error(ErrorCode::kConflict,
                            "there is no earlier configuration version to roll back to");
  }
  // The earlier config is applied as a new version whose predecessor is the earlier one's, so
  // rolling back again steps further back.
  const auto target_version = history_[*target].version;
  auto version = apply_locked(history_[*target].base, history_[*target].previous);
  if (version) {
    spdlog::info("rolled back to the configuration of version {} (now version {})", target_version,
                 *version);
  }
  return version;
}

std::vector<admin::Version> Server::versions() const {
  std::lock_guard lock(mu_);
  std::vector<admin::Version> out;
  for (std::size_t i = 0; i < history_.size(); ++i) {
    out.push_back(admin::Version{history_[i].version, history_[i].source, history_[i].applied_at,
                                 i == current_});
  }
  return out;
}

namespace {

// The listening sockets of `role` on host:port for every loop (those a predecessor handed over,
// else one SO_REUSEPORT socket per loop; port 0: one ephemeral port for all); the port.
template <typename Loops>
std::uint16_t open_listeners(Loops& loops, Server::Loop::Role role, const std::string& host,
                             std::uint16_t port, std::string_view setting) {
  net::error_code ec;
  const auto address = net::asio::ip::make_address(host, ec);
  if (ec) throw std::runtime_error(std::string(setting) + ": '" + host + "' is not an IP address");
  std::vector<net::asio::io_context*> contexts;
  for (auto& loop : loops) contexts.push_back(&loop->ioc);
  try {
    auto opened = net::open_acceptors(contexts, net::tcp::endpoint(address, port), setting);
    const auto bound = opened.front().second.local_endpoint().port();
    for (auto& [index, acceptor] : opened) {
      loops[index]->listening.push_back(Server::Loop::Listening{role, std::move(acceptor)});
    }
    return bound;
  } catch (const boost::system::system_error& e) {
    throw std::runtime_error("cannot listen on " + host + ":" + std::to_string(port) + " (" +
                             std::string(setting) + "): " + e.code().message());
  }
}

}  // namespace

std::string Server::worker_address() const {
  if (!worker_) return {};
  return worker_->address;
}

void Server::start_ui(const config::ServerConfig& s) {
  try {
    ui_port_ = open_listeners(loops_, Loop::Role::kUi, s.ui_host, s.ui_port, "server.ui_listen");
  } catch (const std::runtime_error& e) {
    // The default port may be taken (another instance): the UI stays at /ui on the API port.
    // A port the config names must open.
    if (s.ui_given) throw;
    spdlog::warn(
        "the web UI's own listener did not open ({}); it is served at /ui on the API "
        "port. Set server.ui_listen to another address, or off",
        e.what());
  }
}

void Server::set_connection_limits(const config::ServerConfig& s) {
  const auto room = net::client_connection_room(descriptor_limit_);
  const auto total = s.max_connections == 0 ? room : std::min(s.max_connections, room);
  if (s.max_connections > room) {
    spdlog::warn(
        "server.limits.max_connections {} is more than the descriptor limit ({}) leaves room for "
        "({}: each client connection may need an upstream one, and a reserve is kept back); {} "
        "applies. Raise LimitNOFILE or ulimit -n",
        s.max_connections, descriptor_limit_, room, room);
  }
  connection_limits_.set(total, s.max_connections_per_client);
}

std::vector<std::string> Server::drained_deployments() const {
  const auto snap = snapshot();
  std::vector<std::string> out;
  const auto& models = snap->config->models;
  for (std::size_t m = 0; m < models.size(); ++m) {
    for (std::size_t d = 0; d < models[m].deployments.size(); ++d) {
      if (snap->router->state(m, d).drained()) out.push_back(models[m].deployments[d].id);
    }
  }
  return out;
}

std::vector<std::string> Server::drain_deployments(const std::vector<std::string>& ids) {
  const auto snap = snapshot();
  std::vector<std::string> drained;
  for (const auto& id : ids) {
    if (const auto at = snap->config->find_deployment(id)) {
      snap->router->state(at->first, at->second).set_drained(true);
      drained.push_back(id);
    }
  }
  return drained;
}

std::string Server::connection_metrics() const {
  using R = net::ConnectionLimits::Refusal;
  using observability::detail::header;
  const auto& c = connection_limits_;
  std::string out;
  header(out, "shepherd_client_connections", "gauge", "Client connections open now.");
  out.append("shepherd_client_connections ").append(std::to_string(c.open())).append("\n");
  header(out, "shepherd_client_connections_limit", "gauge",
         "Client connections allowed at once (server.limits.max_connections within the "
         "descriptor limit).");
  out.append("shepherd_client_connections_limit ")
      .append(std::to_string(c.max_total()))
      .append("\n");
  header(out, "shepherd_connections_refused_total", "counter",
         "New connections refused with 503, by the limit they met.");
  for (const auto& [why, reason] :
       {std::pair{R::kTotal, "max_connections"}, std::pair{R::kPerClient, "per_client"}}) {
    out.append("shepherd_connections_refused_total{reason=\"").append(reason).append("\"} ");
    out.append(std::to_string(c.refused(why))).append("\n");
  }
  return out;
}

void Server::start_worker(const config::Config& c) {
  const auto& w = c.fastchat.worker;
  auto catalog = fastchat::WorkerCatalog::make(c);
  if (!catalog) throw std::runtime_error(catalog.error().message);
  worker_ = std::make_unique<Worker>(std::move(catalog).value(), w);
  if (auto tls = worker_tls_.load(w.tls, "fastchat.worker.tls"); !tls) {
    throw std::runtime_error(tls.error().message);
  }
  worker_port_ =
      open_listeners(loops_, Loop::Role::kWorker, w.host, w.port, "fastchat.worker.listen");
  worker_->address = w.address;
  if (worker_->address.empty()) {
    worker_->address = w.tls.scheme();
    worker_->address.append("://").append(w.host).append(":").append(std::to_string(worker_port_));
  }
  if (w.controller.empty()) return;
  fastchat::RegistrationOptions o;
  o.controller = w.controller;
  o.worker_name = worker_->address;
  o.interval = w.heart_beat_interval;
  auto* worker = worker_.get();
  worker_->registration = std::make_unique<fastchat::Registration>(
      loops_.front()->ioc.get_executor(), std::move(o),
      [worker] { return worker->catalog.status(worker->gate.queue_length()); });
}

void Server::start() {
  const auto current = snapshot();
  const auto& s = current->config->server;
  if (listeners_ == Listeners::kAll) {
    port_ = open_listeners(loops_, Loop::Role::kApi, s.host, s.port, "server.listen");
    if (s.ui_enabled) start_ui(s);
  }
  if (current->config->fastchat.worker.enabled) start_worker(*current->config);
  std::vector<net::Executor> executors;
  for (auto& loop : loops_) executors.push_back(loop->ioc.get_executor());
  // Key tables reach each loop by a post once the loops run (directly before, on this thread).
  governance_->start(
      [this](std::shared_ptr<const auth::KeyTable> table) {
        for (auto& loop : loops_) {
          if (threads_.empty()) {
            loop->context.keys = table;
          } else {
            net::asio::post(loop->ioc, [l = loop.get(), table] { l->context.keys = table; });
          }
        }
      },
      std::move(executors));
  for (auto& loop : loops_) {
    auto& context = loop->context;
    context.limiter = &governance_->limiter(context.index);
    context.audit = governance_->audit();
    context.audit_bodies = governance_->bodies_by_default();
  }
  for (auto& loop : loops_) {
    auto* l = loop.get();
    net::asio::co_spawn(loop->ioc, governance_->run_loop(loop->context.index), net::asio::detached);
    for (auto& listening : loop->listening) {
      net::AcceptOptions options;
      options.limits = &connection_limits_;
      options.refuse = [l](std::shared_ptr<net::ClientConnection> c,
                           net::ConnectionLimits::Refusal why) {
        return serve_refused(*l, std::move(c), why);
      };
      net::ServeConnection serve;
      switch (listening.role) {
        case Loop::Role::kApi:
          options.tls = &api_tls_;
          serve = [l](std::shared_ptr<net::ClientConnection> c) {
            return serve_connection(*l, std::move(c));
          };
          break;
        case Loop::Role::kUi:
          options.tls = &api_tls_;
          serve = [l](std::shared_ptr<net::ClientConnection> c) {
            return serve_ui_connection(*l, std::move(c));
          };
          break;
        case Loop::Role::kWorker:
          options.tls = &worker_tls_;
          serve = [l](std::shared_ptr<net::ClientConnection> c) {
            return serve_worker_connection(*l, std::move(c));
          };
          break;
      }
      net::asio::co_spawn(loop->ioc,
                          net::accept_loop(listening.acceptor, loop->context.connections,
                                           std::move(serve), std::move(options)),
                          net::asio::detached);
    }
    loop->sweep_timer.emplace(loop->ioc);
    loop->sweep();
    threads_.emplace_back([l] { l->ioc.run(); });
  }
  if (worker_ && worker_->registration) {
    net::asio::co_spawn(loops_.front()->ioc, worker_->registration->run(), net::asio::detached);
  }
  control_->start();
}

void Server::stop() {
  if (stopping_.exchange(true)) return;
  // Requests waiting for a worker slot are sent away now rather than at the drain timeout.
  if (worker_) worker_->gate.close();
  for (auto& loop : loops_) {
    net::asio::post(loop->ioc, [l = loop.get()] { l->begin_stop(); });
  }
  control_->stop();
}

void Server::wait() {
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
  control_->join();
  // Each loop ends its last requests, then its limiter (finish()); the audit queue is flushed
  // once that work (the last requests' records) is done.
  for (auto& loop : loops_) loop->finish();
  if (access_log_) access_log_->stop();  // every line of the last requests
  if (tracer_) tracer_->stop();          // and every span
  governance_->stop();
}

// ---- Loop

void Server::Loop::install(std::shared_ptr<const Snapshot> snap) {
  context.view = pipeline::LoopView::make(std::move(snap), context.view.get(), ioc.get_executor(),
                                          context.metrics);
}

void Server::Loop::sweep() {
  if (finishing) return;
  const auto now = net::Clock::now();
  context.connections.sweep(now);
  for (const auto& p : context.view->providers) p.pool->trim(now);
  if (context.access_log) context.access_log->flush(context.index);
  sweep_timer->expires_after(net::ClientConnection::kWatchDelay);
  sweep_timer->async_wait([this](net::error_code ec) {
    if (!ec) sweep();
  });
}

void Server::Loop::begin_stop() {
  for (auto& l : listening) net::close_acceptor(l.acceptor);
  if (auto* w = server.worker(); w && w->registration && context.index == 0) {
    w->registration->stop();
  }
  context.connections.shutdown(context.view->config().server.drain_idle);
  for (auto& p : context.view->providers) p.pool->close_all();
  // Requests in flight may finish within the drain timeout; then the loop stops.
  drain_timer.emplace(ioc, context.view->config().server.drain_timeout);
  drain_timer->async_wait([this](net::error_code e) {
    if (!e) ioc.stop();
  });
  if (context.connections.empty()) ioc.stop();  // otherwise the last connection to end stops it
}

void Server::Loop::finish() {
  finishing = true;
  for (auto& l : listening) net::close_acceptor(l.acceptor);
  if (drain_timer) drain_timer->cancel();
  if (sweep_timer) sweep_timer->cancel();
  if (context.view) {
    for (auto& p : context.view->providers) p.pool->close_all();
  }
  // Requests still in flight past the drain timeout end here: their sockets close and each runs
  // its record stage, settling with the Redis limiter still connected, before its connection
  // leaves the set; the last to leave stops the context (ConnectionSet::remove()).
  if (!context.connections.empty()) {
    context.connections.abort();
    ioc.restart();
    ioc.run();
  }
  server.governance_->stop_limiter(context.index);
  ioc.restart();
  ioc.run();
}

// ---- Worker

std::string Server::Worker::prometheus_text() const {
  std::string out =
      "# HELP shepherd_fastchat_worker_queue_length Generate requests running or waiting for a "
      "slot (FastChat's queue_length).\n"
      "# TYPE shepherd_fastchat_worker_queue_length gauge\n"
      "shepherd_fastchat_worker_queue_length ";
  out += std::to_string(gate.queue_length());
  out +=
      "\n# HELP shepherd_fastchat_worker_concurrency_limit Generate requests the worker runs at "
      "once.\n"
      "# TYPE shepherd_fastchat_worker_concurrency_limit gauge\n"
      "shepherd_fastchat_worker_concurrency_limit ";
  out += std::to_string(gate.limit());
  out += "\n";
  return out;
}

}  // namespace shepherd::server
