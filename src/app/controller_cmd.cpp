// `shepherd controller`: FastChat's controller (fastchat/controller.hpp), with FastChat's flags.
#include <spdlog/spdlog.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <functional>

#include "app/commands.hpp"
#include "fastchat/controller.hpp"

namespace shepherd::app {

base::Result<config::ListenerTlsConfig> ssl_settings(const SslFlags& flags) {
  config::ListenerTlsConfig tls;
  if (!flags.ssl) return tls;
  auto file = [](const std::string& flag, const char* flag_name, const char* env,
                 std::string& into) -> base::Status {
    into = flag;
    if (into.empty()) {
      if (const char* e = std::getenv(env)) into = e;
    }
    if (into.empty()) {
      return base::make_error(base::ErrorCode::kBadRequest,
                              std::string("--ssl needs ") + flag_name + " FILE or " + env);
    }
    return base::Ok{};
  };
  if (auto r = file(flags.certfile, "--ssl-certfile", "SSL_CERTFILE", tls.cert); !r) {
    return std::move(r).error();
  }
  if (auto r = file(flags.keyfile, "--ssl-keyfile", "SSL_KEYFILE", tls.key); !r) {
    return std::move(r).error();
  }
  return tls;
}

int controller_command(const ControllerCommand& command) {
  fastchat::ControllerOptions options;
  options.host = command.host == "localhost" ? "127.0.0.1" : command.host;
  options.port = command.port;
  const auto method = fastchat::parse_dispatch_method(command.dispatch_method);
  if (!method) {
    std::fprintf(stderr, "--dispatch-method: lottery or shortest_queue, not '%s'\n",
                 command.dispatch_method.c_str());
    return 2;
  }
  options.dispatch = *method;
  if (command.expiration_seconds <= 0) {
    std::fprintf(stderr, "the heartbeat expiration must be positive\n");
    return 2;
  }
  options.expiration =
      std::chrono::milliseconds(static_cast<std::int64_t>(command.expiration_seconds * 1000));
  auto tls = ssl_settings(command.ssl);
  if (!tls) {
    std::fprintf(stderr, "%s\n", tls.error().message.c_str());
    return 2;
  }
  options.tls = *tls;
  // Before the ready line: a signal sent as soon as it is printed must find the handler.
  boost::asio::io_context signals_ctx;
  boost::asio::signal_set signals(signals_ctx, SIGINT, SIGTERM, SIGHUP);
  signals.add(SIGUSR2);
  fastchat::Controller controller(options);
  // SIGHUP reads the certificate and key again (new connections use them); others stop.
  std::function<void(const boost::system::error_code&, int)> on_signal =
      [&](const boost::system::error_code& ec, int sig) {
        if (ec) return;
        if (sig == SIGUSR2) {
          // Its registry lives in memory: a new process would start empty until every worker's
          // next heartbeat. Restart it instead (workers re-register on their own).
          spdlog::warn(
              "SIGUSR2: the controller does not upgrade in place; restart it (workers register "
              "again on their next heartbeat)");
          signals.async_wait(on_signal);
          return;
        }
        if (sig != SIGHUP) {
          spdlog::info("signal {}: stopping the controller", sig);
          return;
        }
        if (auto r = controller.tls().load(options.tls, "--ssl"); !r) {
          spdlog::warn("SIGHUP: the certificate in use stays: {}", r.error().message);
        } else if (options.tls.enabled()) {
          spdlog::info("SIGHUP: certificate and key read again");
        }
        signals.async_wait(on_signal);
      };
  signals.async_wait(on_signal);
  try {
    controller.start();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
  // The line scripts and tests wait for (as `serve` and `mock-upstream` print theirs).
  std::printf("controller listening on %s://%s:%u (dispatch %s, heartbeat expiration %g s)\n",
              options.tls.scheme(), options.host.c_str(), static_cast<unsigned>(controller.port()),
              command.dispatch_method.c_str(), command.expiration_seconds);
  std::fflush(stdout);
  signals_ctx.run();
  controller.stop();
  return 0;
}

}  // namespace shepherd::app
