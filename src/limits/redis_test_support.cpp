#include "limits/redis_test_support.hpp"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace shepherd::limits::test {

namespace {

struct ScriptResult {
  int status = -1;
  std::string out;  // stdout
  std::string err;  // stderr
};

ScriptResult run_script(const std::string& args) {
  char log[] = "/tmp/shepherd-redis-log-XXXXXX";
  const int fd = mkstemp(log);
  if (fd < 0) throw std::runtime_error("mkstemp failed");
  close(fd);
  const std::string command = std::string(SHEPHERD_REDIS_SH) + " " + args + " 2>" + log;
  ScriptResult r;
  if (FILE* p = popen(command.c_str(), "r")) {
    char buf[256];
    std::size_t n;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
    r.status = pclose(p);
  }
  std::ifstream in(log);
  std::stringstream ss;
  ss << in.rdbuf();
  r.err = ss.str();
  std::remove(log);
  return r;
}

}  // namespace

RedisServer::RedisServer(int port) {
  char dir[] = "/tmp/shepherd-redis-XXXXXX";
  if (!mkdtemp(dir)) throw std::runtime_error("mkdtemp failed");
  dir_ = dir;
  std::string args = "start " + dir_;
  if (port) args += " " + std::to_string(port);
  auto r = run_script(args);
  while (!r.out.empty() && (r.out.back() == '\n' || r.out.back() == '\r')) r.out.pop_back();
  const auto colon = r.out.rfind(':');
  if (r.status != 0 || r.out.rfind("redis://", 0) != 0 || colon == std::string::npos) {
    run_script("stop " + dir_);
    throw std::runtime_error("tools/redis.sh " + args + " failed (status " +
                             std::to_string(r.status) + "):\n" + r.out + "\n" + r.err);
  }
  url_ = r.out;
  port_ = std::stoi(r.out.substr(colon + 1));
}

RedisServer::~RedisServer() { stop(); }

void RedisServer::stop() {
  if (dir_.empty()) return;
  run_script("stop " + dir_);
  dir_.clear();
}

const std::string& shared_redis_url() {
  static const std::string url = [] {
    if (const char* env = std::getenv("SHEPHERD_TEST_REDIS_URL"); env && *env) {
      return std::string(env);
    }
    static RedisServer server;  // stopped at exit
    return server.url();
  }();
  return url;
}

std::string unique_key(const std::string& name) {
  static std::atomic<int> counter{0};
  const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  return "test-" + name + "-" + std::to_string(getpid()) + "-" + std::to_string(now) + "-" +
         std::to_string(counter++);
}

Loop::Loop() : guard_(ctx_.get_executor()), thread_([this] { ctx_.run(); }) {}

Loop::~Loop() {
  // A test that failed early may leave work behind: stop rather than wait for it.
  if (thread_.joinable()) {
    ctx_.stop();
    thread_.join();
  }
}

void Loop::finish() {
  guard_.reset();
  if (thread_.joinable()) thread_.join();
}

Instance::Instance(const std::string& id, RedisOptions options, bool heartbeat) {
  limiter =
      std::make_unique<RedisLimiter>(loop.executor(), std::move(options), id, fallback, health);
  if (heartbeat) running = asio::co_spawn(loop.executor(), limiter->run(), asio::use_future);
}

Instance::~Instance() { shutdown(); }

void Instance::shutdown() {
  if (!limiter) return;
  limiter->stop();
  loop.finish();
  if (running.valid()) running.get();
  limiter.reset();
}

}  // namespace shepherd::limits::test
