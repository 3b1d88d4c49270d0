// `shepherd controller`: FastChat's controller (fastchat/controller.hpp), with FastChat's flags.
#include <spdlog/spdlog.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <csignal>
#include <cstdio>
#include <exception>

#include "app/commands.hpp"
#include "fastchat/controller.hpp"

namespace shepherd::app {

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
  // Before the ready line: a signal sent as soon as it is printed must find the handler.
  boost::asio::io_context signals_ctx;
  boost::asio::signal_set signals(signals_ctx, SIGINT, SIGTERM);
  signals.async_wait([](const boost::system::error_code&, int sig) {
    spdlog::info("signal {}: stopping the controller", sig);
  });
  fastchat::Controller controller(options);
  try {
    controller.start();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
  // The line scripts and tests wait for (as `serve` and `mock-upstream` print theirs).
  std::printf("controller listening on http://%s:%u (dispatch %s, heartbeat expiration %g s)\n",
              options.host.c_str(), static_cast<unsigned>(controller.port()),
              command.dispatch_method.c_str(), command.expiration_seconds);
  std::fflush(stdout);
  signals_ctx.run();
  controller.stop();
  return 0;
}

}  // namespace shepherd::app
