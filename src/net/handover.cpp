#include "net/handover.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <charconv>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>

#include "base/text.hpp"
#include "net/listener.hpp"

extern char** environ;

namespace shepherd::net {

namespace {

constexpr const char* kListenFds = "SHEPHERD_LISTEN_FDS";
constexpr const char* kUpgradeFd = "SHEPHERD_UPGRADE_FD";

struct Listener {
  std::string setting;
  int fd = -1;
};

// Process-wide: what the predecessor handed over, and the listening sockets open now.
struct Registry {
  std::mutex mutex;
  std::map<std::string, std::vector<int>, std::less<>> inherited;
  bool inherited_any = false;
  int upgrade_fd = -1;
  std::vector<Listener> open;
  std::string exe;
  std::vector<std::string> argv;
};

Registry& registry() {
  static Registry r;
  return r;
}

std::optional<int> parse_fd(std::string_view s) {
  int fd = -1;
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), fd);
  if (ec != std::errc{} || p != s.data() + s.size() || fd < 3) return std::nullopt;
  return fd;
}

// The address a listening socket is bound to; nullopt when `fd` is not a listening TCP socket.
std::optional<tcp::endpoint> local_endpoint(int fd) {
  int listening = 0;
  socklen_t optlen = sizeof listening;
  if (::getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &optlen) != 0 || !listening) {
    return std::nullopt;
  }
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return std::nullopt;
  if (ss.ss_family != AF_INET && ss.ss_family != AF_INET6) return std::nullopt;
  tcp::endpoint ep;
  if (len > ep.capacity()) return std::nullopt;
  std::memcpy(ep.data(), &ss, len);
  ep.resize(len);
  return ep;
}

Acceptor adopt(asio::io_context& ioc, int fd, const tcp::endpoint& ep) {
  Acceptor a(ioc);
  a.assign(ep.protocol(), fd);
  return a;
}

}  // namespace

void adopt_inherited() {
  auto& r = registry();
  std::lock_guard lock(r.mutex);
  if (const char* fds = std::getenv(kListenFds)) {
    // "setting=3,4;other=5"
    for (const auto entry : base::split(fds, ';')) {
      const auto eq = entry.find('=');
      if (eq == std::string_view::npos) continue;
      auto& into = r.inherited[std::string(entry.substr(0, eq))];
      for (const auto item : base::split(entry.substr(eq + 1), ',')) {
        if (const auto fd = parse_fd(item); fd && local_endpoint(*fd)) {
          ::fcntl(*fd, F_SETFD, FD_CLOEXEC);
          into.push_back(*fd);
          r.inherited_any = true;
        }
      }
    }
    ::unsetenv(kListenFds);
  }
  if (const char* fd = std::getenv(kUpgradeFd)) {
    if (const auto parsed = parse_fd(fd)) {
      r.upgrade_fd = *parsed;
      ::fcntl(r.upgrade_fd, F_SETFD, FD_CLOEXEC);
    }
    ::unsetenv(kUpgradeFd);
  }
}

bool inherited_any() {
  auto& r = registry();
  std::lock_guard lock(r.mutex);
  return r.inherited_any;
}

std::vector<std::pair<std::size_t, Acceptor>> open_acceptors(
    const std::vector<asio::io_context*>& contexts, const tcp::endpoint& endpoint,
    std::string_view setting) {
  auto& r = registry();
  std::vector<std::pair<int, tcp::endpoint>> handed;
  {
    std::lock_guard lock(r.mutex);
    if (auto it = r.inherited.find(setting); it != r.inherited.end()) {
      for (const int fd : it->second) {
        const auto ep = local_endpoint(fd);
        if (ep && ep->address() == endpoint.address() &&
            (endpoint.port() == 0 || ep->port() == endpoint.port())) {
          handed.emplace_back(fd, *ep);
        } else {
          spdlog::warn("{} changed: the listening socket handed over for it is closed", setting);
          ::close(fd);
        }
      }
      r.inherited.erase(it);
    }
  }
  std::vector<std::pair<std::size_t, Acceptor>> out;
  auto bound = endpoint;
  for (std::size_t i = 0; i < handed.size(); ++i) {
    const auto& [fd, ep] = handed[i];
    out.emplace_back(i % contexts.size(), adopt(*contexts[i % contexts.size()], fd, ep));
    bound.port(ep.port());
  }
  for (std::size_t i = handed.size(); i < contexts.size(); ++i) {
    out.emplace_back(i, open_acceptor(*contexts[i], bound));
    if (bound.port() == 0) bound.port(out.back().second.local_endpoint().port());
  }
  std::lock_guard lock(r.mutex);
  for (auto& [index, acceptor] : out) {
    r.open.push_back(Listener{std::string(setting), acceptor.native_handle()});
  }
  return out;
}

void unregister_listener(int fd) {
  auto& r = registry();
  std::lock_guard lock(r.mutex);
  std::erase_if(r.open, [fd](const Listener& l) { return l.fd == fd; });
}

void remember_command_line(int argc, char** argv) {
  auto& r = registry();
  std::lock_guard lock(r.mutex);
  std::error_code ec;
  // The path as started, symlinks kept (a link switched to a new version is followed at the
  // upgrade); when started through PATH, the binary /proc names.
  if (argc > 0 && std::string_view(argv[0]).find('/') != std::string_view::npos) {
    r.exe = std::filesystem::absolute(argv[0], ec).string();
  }
  if (r.exe.empty()) r.exe = std::filesystem::read_symlink("/proc/self/exe", ec).string();
  r.argv.assign(argv, argv + argc);
}

std::optional<Successor> spawn_successor(std::string& error,
                                         const std::vector<std::string>& extra_env) {
  auto& r = registry();
  std::lock_guard lock(r.mutex);
  if (r.exe.empty() || r.argv.empty()) {
    error = "the binary's path is unknown";
    return std::nullopt;
  }
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) {
    error = std::string("pipe: ") + std::strerror(errno);
    return std::nullopt;
  }
  // The child's descriptors: 3 the readiness pipe, then the listening sockets in order.
  std::vector<int> sources{pipe_fds[1]};
  std::map<std::string, std::string> by_setting;
  for (const auto& l : r.open) {
    auto& list = by_setting[l.setting];
    if (!list.empty()) list += ',';
    list += std::to_string(3 + sources.size());
    sources.push_back(l.fd);
  }
  std::string fds_value;
  for (const auto& [setting, list] : by_setting) {
    if (!fds_value.empty()) fds_value += ';';
    fds_value.append(setting).append("=").append(list);
  }
  std::vector<std::string> env;
  for (char** e = environ; e && *e; ++e) {
    const std::string_view entry(*e);
    if (entry.starts_with(std::string(kListenFds) + "=") ||
        entry.starts_with(std::string(kUpgradeFd) + "=")) {
      continue;
    }
    env.emplace_back(entry);
  }
  for (const auto& e : extra_env) {
    const auto eq = e.find('=');
    if (eq == std::string::npos) continue;  // not NAME=value
    const auto name = e.substr(0, eq + 1);
    std::erase_if(env, [&](const std::string& x) { return x.starts_with(name); });
    env.push_back(e);
  }
  env.push_back(std::string(kListenFds) + "=" + fds_value);
  env.push_back(std::string(kUpgradeFd) + "=3");
  std::vector<char*> envp, argvp;
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  for (auto& a : r.argv) argvp.push_back(a.data());
  argvp.push_back(nullptr);
  const int count = static_cast<int>(sources.size());

  const pid_t pid = ::fork();
  if (pid == 0) {
    // Only async-signal-safe calls from here to exec. First every source moves above the range
    // it goes to, so placing one never overwrites another not yet placed.
    int moved[1024];
    if (count > 1024) ::_exit(127);
    for (int i = 0; i < count; ++i) {
      moved[i] = ::fcntl(sources[static_cast<std::size_t>(i)], F_DUPFD_CLOEXEC, 3 + count);
      if (moved[i] < 0) ::_exit(127);
    }
    for (int i = 0; i < count; ++i) {
      if (::dup2(moved[i], 3 + i) < 0) ::_exit(127);  // dup2 clears close-on-exec
    }
    ::close_range(static_cast<unsigned>(3 + count), ~0U, 0);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::execve(r.exe.c_str(), argvp.data(), envp.data());
    ::_exit(127);
  }
  ::close(pipe_fds[1]);
  if (pid < 0) {
    error = std::string("fork: ") + std::strerror(errno);
    ::close(pipe_fds[0]);
    return std::nullopt;
  }
  return Successor{pid, pipe_fds[0]};
}

void report_ready() {
  auto& r = registry();
  std::lock_guard lock(r.mutex);
  // Sockets handed over for a listener this process does not open would never be accepted from.
  for (auto& [setting, fds] : r.inherited) {
    for (const int fd : fds) ::close(fd);
    spdlog::warn("{} is not configured any more: its listening socket is closed", setting);
  }
  r.inherited.clear();
  if (r.upgrade_fd < 0) return;
  const char ready = 'R';
  (void)!::write(r.upgrade_fd, &ready, 1);
  ::close(r.upgrade_fd);
  r.upgrade_fd = -1;
}

void notify_service_manager(std::string_view state) {
  const char* path = std::getenv("NOTIFY_SOCKET");
  if (!path || !*path) return;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  const std::size_t n = std::strlen(path);
  if (n >= sizeof addr.sun_path || (path[0] != '/' && path[0] != '@')) return;
  std::memcpy(addr.sun_path, path, n);
  if (path[0] == '@') addr.sun_path[0] = '\0';  // an abstract socket
  const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return;
  const auto len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + n);
  (void)::sendto(fd, state.data(), state.size(), MSG_NOSIGNAL, reinterpret_cast<sockaddr*>(&addr),
                 len);
  ::close(fd);
}

}  // namespace shepherd::net
