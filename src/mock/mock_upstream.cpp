// MockUpstream: the listener, the worker threads and their start and stop, TLS set-up, and the
// CLI entry point; see mock_upstream.hpp. Connections are served by the HTTP shell
// (http_shell.hpp). start() and stop() run on the owner's thread; the accept loop runs on worker 0.
#include "mock/mock_upstream.hpp"

#include <openssl/ssl.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/error.hpp>
#include <csignal>
#include <iostream>
#include <stdexcept>

#include "base/json_escape.hpp"
#include "mock/http_shell.hpp"

namespace shepherd::mock {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace ssl = asio::ssl;
using detail::Clock;
using detail::Connection;
using detail::kDialects;
using detail::kMaxChunks;
using detail::kMaxDelayMs;
using detail::Shared;
using detail::tcp;
using detail::Worker;
using std::chrono::milliseconds;

constexpr auto kUse = asio::as_tuple(asio::use_awaitable);

constexpr auto kStopGrace = std::chrono::seconds(2);
constexpr int kMaxThreads = 256;

std::string url_host(const std::string& host) {
  if (host.find(':') != std::string::npos) return "[" + host + "]";
  return host;
}

}  // namespace

class MockUpstream::Impl {
 public:
  explicit Impl(MockOptions options) { shared_.options = std::move(options); }

  ~Impl() { stop(); }

  void start() {
    if (start_called_) throw std::runtime_error("mock-upstream: start() called twice");
    start_called_ = true;
    const MockOptions& o = shared_.options;
    if (o.threads < 1 || o.threads > kMaxThreads) {
      throw std::runtime_error("mock-upstream: threads must be between 1 and 256");
    }
    if (o.chunks < 0 || o.chunks > kMaxChunks) {
      throw std::runtime_error("mock-upstream: chunks must be between 0 and 100000");
    }
    if (o.first_token_delay.count() < 0 || o.first_token_delay.count() > kMaxDelayMs ||
        o.chunk_delay.count() < 0 || o.chunk_delay.count() > kMaxDelayMs) {
      throw std::runtime_error("mock-upstream: delays must be between 0 and 3600000 ms");
    }
    auto fault = detail::parse_fault_spec(o.fault);
    if (!fault) throw std::runtime_error("mock-upstream: " + fault.error().message);
    shared_.default_fault = std::move(fault).value();
    shared_.fault_selector.reset(o.seed);
    // Each token is a word with the whitespace before it, so the tokens join to the text.
    for (std::size_t i = 0; i < o.content.size();) {
      auto end = o.content.find_first_not_of(" \t\r\n", i);
      end = end == std::string::npos ? o.content.size() : o.content.find_first_of(" \t\r\n", end);
      if (end == std::string::npos) end = o.content.size();
      std::string token;
      base::append_json_escaped(token, std::string_view(o.content).substr(i, end - i));
      shared_.content_tokens.push_back(std::move(token));
      i = end;
    }
    for (std::size_t i = 0; i < kDialects.size(); ++i) {
      if (kDialects[i]->render_model_list != nullptr) {
        shared_.model_lists[i] = kDialects[i]->render_model_list(o.models);
      }
    }

    if (o.tls_cert_file.empty() != o.tls_key_file.empty()) {
      throw std::runtime_error("mock-upstream: TLS needs both a certificate and a key file");
    }
    if (!o.tls_cert_file.empty()) load_tls(o.tls_cert_file, o.tls_key_file);

    for (int i = 0; i < o.threads; ++i) workers_.push_back(std::make_unique<Worker>());
    listen(o.host, o.port);

    started_ = true;
    asio::co_spawn(workers_[0]->ioc, accept_loop(), asio::detached);
    for (auto& w : workers_) {
      w->guard.emplace(w->ioc.get_executor());
      w->thread = std::thread([worker = w.get()] {
        for (;;) {
          try {
            worker->ioc.run();
            return;
          } catch (const std::exception&) {
            // A handler threw; the connection it served is gone, the others go on.
          }
        }
      });
    }
  }

  std::uint16_t port() const { return port_; }

  void stop() {
    if (!started_ || stopped_) return;
    stopped_ = true;
    shared_.stopping = true;
    asio::post(workers_[0]->ioc, [this] {
      beast::error_code ec;
      acceptor_->close(ec);
    });
    for (auto& w : workers_) {
      asio::co_spawn(w->ioc, drain(w.get()), asio::detached);
      w->guard.reset();
    }
    for (auto& w : workers_) {
      if (w->thread.joinable()) w->thread.join();
    }
  }

 private:
  void load_tls(const std::string& cert, const std::string& key) {
    tls_.emplace(ssl::context::tls_server);
    tls_->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                      ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 |
                      ssl::context::single_dh_use);
    SSL_CTX_set_min_proto_version(tls_->native_handle(), TLS1_2_VERSION);
    beast::error_code ec;
    tls_->use_certificate_chain_file(cert, ec);
    if (ec) {
      throw std::runtime_error("mock-upstream: cannot load TLS certificate '" + cert +
                               "': " + ec.message());
    }
    tls_->use_private_key_file(key, ssl::context::pem, ec);
    if (ec) {
      throw std::runtime_error("mock-upstream: cannot load TLS key '" + key + "': " + ec.message());
    }
  }

  void listen(const std::string& host, std::uint16_t port) {
    const std::string where = host + ":" + std::to_string(port);
    beast::error_code ec;
    tcp::endpoint endpoint;
    const auto address = asio::ip::make_address(host, ec);
    if (!ec) {
      endpoint = tcp::endpoint(address, port);
    } else {
      tcp::resolver resolver(workers_[0]->ioc);
      const auto results = resolver.resolve(host, std::to_string(port), ec);
      if (ec || results.empty()) {
        throw std::runtime_error("mock-upstream: cannot resolve host '" + host +
                                 "': " + (ec ? ec.message() : "no address"));
      }
      endpoint = results.begin()->endpoint();
    }
    acceptor_.emplace(workers_[0]->ioc);
    const auto fail = [&](const char* step) {
      throw std::runtime_error("mock-upstream: cannot listen on " + where + " (" + step +
                               "): " + ec.message());
    };
    acceptor_->open(endpoint.protocol(), ec);
    if (ec) fail("open");
    acceptor_->set_option(asio::socket_base::reuse_address(true), ec);
    if (ec) fail("setsockopt");
    acceptor_->bind(endpoint, ec);
    if (ec) fail("bind");
    acceptor_->listen(asio::socket_base::max_listen_connections, ec);
    if (ec) fail("listen");
    port_ = acceptor_->local_endpoint(ec).port();
    if (ec) fail("getsockname");
  }

  // Runs on worker 0; hands connections round-robin to the workers.
  asio::awaitable<void> accept_loop() {
    std::size_t next = 0;
    asio::steady_timer backoff(workers_[0]->ioc);
    for (;;) {
      Worker& worker = *workers_[next];
      next = (next + 1) % workers_.size();
      auto [ec, socket] = co_await acceptor_->async_accept(worker.ioc, kUse);
      if (ec) {
        if (ec == asio::error::operation_aborted || !acceptor_->is_open()) co_return;
        // Out of descriptors and the like: wait instead of spinning.
        backoff.expires_after(milliseconds(20));
        co_await backoff.async_wait(kUse);
        continue;
      }
      beast::error_code opt_ec;
      socket.set_option(tcp::no_delay(true), opt_ec);
      asio::co_spawn(
          worker.ioc,
          detail::start_session(&shared_, &worker, tls_ ? &*tls_ : nullptr, std::move(socket)),
          asio::detached);
    }
  }

  // Closes every connection of `worker`, then lets its run() return. A connection that does not
  // finish within kStopGrace (a bug) is abandoned by stopping the io_context.
  static asio::awaitable<void> drain(Worker* worker) {
    worker->stopping = true;
    for (Connection* c = worker->sessions; c != nullptr; c = c->next) c->close_now();
    asio::steady_timer timer(worker->ioc);
    const auto give_up = Clock::now() + kStopGrace;
    while (worker->sessions != nullptr) {
      if (Clock::now() >= give_up) {
        worker->ioc.stop();
        co_return;
      }
      timer.expires_after(milliseconds(5));
      co_await timer.async_wait(kUse);
    }
  }

  // Declaration order is destruction order reversed: sessions (destroyed with the io_contexts)
  // use shared_ and tls_; the acceptor must go before its io_context.
  Shared shared_;
  std::optional<ssl::context> tls_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::optional<tcp::acceptor> acceptor_;
  std::uint16_t port_ = 0;
  bool start_called_ = false;
  bool started_ = false;  // threads running
  bool stopped_ = false;
};

MockUpstream::MockUpstream(MockOptions options)
    : impl_(std::make_unique<Impl>(std::move(options))) {}

MockUpstream::~MockUpstream() = default;

void MockUpstream::start() { impl_->start(); }

std::uint16_t MockUpstream::port() const { return impl_->port(); }

void MockUpstream::stop() { impl_->stop(); }

int run_mock_upstream(const MockOptions& options) {
  // Writes to a vanished peer must fail with EPIPE, not kill the process.
  std::signal(SIGPIPE, SIG_IGN);
  asio::io_context signals_context(1);
  asio::signal_set signals(signals_context, SIGINT, SIGTERM);
  MockUpstream server(options);
  try {
    server.start();
  } catch (const std::exception& e) {
    std::cerr << e.what() << std::endl;
    return 1;
  }
  const bool tls = !options.tls_cert_file.empty();
  std::cout << "mock-upstream listening on " << (tls ? "https" : "http") << "://"
            << url_host(options.host) << ":" << server.port() << std::endl;
  signals.async_wait([](const beast::error_code&, int) {});
  signals_context.run();
  server.stop();
  return 0;
}

}  // namespace shepherd::mock
