// A serving process's life: its signals (stop, reload, upgrade), its pid file and what it tells
// systemd.
#include <spdlog/spdlog.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/signal_set.hpp>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <optional>
#include <thread>

#include "app/commands.hpp"
#include "base/text.hpp"
#include "net/handover.hpp"
#include "server/server.hpp"

namespace shepherd::app {

namespace {

namespace asio = boost::asio;

// The deployments the predecessor had drained, one id per line.
constexpr const char* kDrainedEnv = "SHEPHERD_DRAINED";

void write_pid_file(const std::string& path) {
  // Written beside, then renamed: a reader never sees half a number.
  const auto temp = path + ".tmp";
  {
    std::ofstream out(temp, std::ios::trunc);
    out << ::getpid() << "\n";
    if (!out) {
      spdlog::error("cannot write the pid file {}", path);
      return;
    }
  }
  if (std::rename(temp.c_str(), path.c_str()) != 0) {
    spdlog::error("cannot write the pid file {}", path);
  }
}

void remove_pid_file(const std::string& path) {
  std::ifstream in(path);
  long pid = 0;
  // After an upgrade the file names the new process: it stays.
  if (in >> pid && pid == static_cast<long>(::getpid())) std::remove(path.c_str());
}

// SIGUSR2: the new process, and what happens when it reports (or fails to).
class Upgrade {
 public:
  Upgrade(asio::io_context& ctx, server::Server& server) : ctx_(ctx), server_(server) {}

  void begin() {
    if (ready_) {
      spdlog::warn("SIGUSR2: an upgrade is already under way (process {})", child_);
      return;
    }
    if (handed_over_) {
      spdlog::warn("SIGUSR2: this process has handed its listeners over already");
      return;
    }
    std::string error;
    // Deployments drained through the admin API stay drained in the new process.
    std::string drained = std::string(kDrainedEnv) + "=";
    for (const auto& id : server_.drained_deployments()) drained.append(id).append("\n");
    const auto successor = net::spawn_successor(error, {drained});
    if (!successor) {
      spdlog::error("SIGUSR2: the upgrade did not start: {}", error);
      return;
    }
    child_ = successor->pid;
    spdlog::info("SIGUSR2: upgrading: process {} starts with this one's listening sockets", child_);
    ready_.emplace(ctx_, successor->ready_fd);
    ready_->async_read_some(
        asio::buffer(&byte_, 1),
        [this](const boost::system::error_code& ec, std::size_t n) { on_report(!ec && n == 1); });
  }

 private:
  void on_report(bool ready) {
    ready_.reset();
    if (ready) {
      handed_over_ = true;
      spdlog::info("upgrade: process {} serves; this one drains its requests and stops", child_);
      server_.stop();
      return;
    }
    int status = 0;
    ::waitpid(child_, &status, 0);
    const auto how = WIFEXITED(status) ? "exited with code " + std::to_string(WEXITSTATUS(status))
                     : WIFSIGNALED(status)
                         ? "was killed by signal " + std::to_string(WTERMSIG(status))
                         : std::string("stopped");
    spdlog::error(
        "upgrade failed: process {} {} before it served (its errors are in the log above); this "
        "process goes on serving",
        child_, how);
  }

  asio::io_context& ctx_;
  server::Server& server_;
  std::optional<asio::posix::stream_descriptor> ready_;
  char byte_ = 0;
  pid_t child_ = -1;
  bool handed_over_ = false;
};

}  // namespace

void keep_drained(server::Server& server) {
  const char* list = std::getenv(kDrainedEnv);
  if (!list) return;
  std::vector<std::string> ids;
  for (const auto id : base::split(list, '\n')) ids.emplace_back(id);
  ::unsetenv(kDrainedEnv);
  const auto drained = server.drain_deployments(ids);
  if (!drained.empty()) {
    spdlog::info("deployments drained before the upgrade stay drained: {}", base::join(drained));
  }
}

void announce_ready(const std::string& pid_file) {
  const bool upgraded = net::inherited_any();
  net::report_ready();
  if (!pid_file.empty()) write_pid_file(pid_file);
  if (upgraded) {
    net::notify_service_manager("MAINPID=" + std::to_string(::getpid()) + "\nREADY=1");
  } else {
    net::notify_service_manager("READY=1");
  }
}

void run_until_stopped(server::Server& server, const std::string& pid_file,
                       const std::function<void()>& ready) {
  asio::io_context signals_ctx;
  asio::signal_set signals(signals_ctx, SIGINT, SIGTERM, SIGHUP);
  signals.add(SIGUSR2);
  ready();
  Upgrade upgrade(signals_ctx, server);
  std::function<void(const boost::system::error_code&, int)> on_signal =
      [&](const boost::system::error_code& ec, int sig) {
        if (ec) return;
        if (sig == SIGHUP) {
          // Reloading reads the file here, on the signal thread, never on an event loop.
          spdlog::info("SIGHUP: reloading the configuration");
          net::notify_service_manager("RELOADING=1");
          (void)server.reload();  // logs the outcome; an invalid file keeps the running version
          net::notify_service_manager("READY=1");
        } else if (sig == SIGUSR2) {
          upgrade.begin();
        } else {
          spdlog::info("signal {}: draining and stopping", sig);
          net::notify_service_manager("STOPPING=1");
          server.stop();
          return;
        }
        signals.async_wait(on_signal);
      };
  signals.async_wait(on_signal);
  std::thread signal_thread([&] { signals_ctx.run(); });
  server.wait();
  signals_ctx.stop();
  signal_thread.join();
  if (!pid_file.empty()) remove_pid_file(pid_file);
}

}  // namespace shepherd::app
