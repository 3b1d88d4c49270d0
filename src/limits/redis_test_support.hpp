// What the Redis tests share: real redis-server processes (tools/redis.sh) and event loops on
// their own threads.
#pragma once

#include <future>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <type_traits>

#include "limits/redis_limiter.hpp"
#include "net/asio.hpp"

namespace shepherd::limits::test {

namespace asio = net::asio;

// A redis-server of its own, in a temporary folder, on 127.0.0.1. Throws std::runtime_error
// with tools/redis.sh's output when it cannot start (a test never skips silently).
class RedisServer {
 public:
  explicit RedisServer(int port = 0);  // 0: a free port
  ~RedisServer();
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  const std::string& url() const { return url_; }
  int port() const { return port_; }
  // Stops the server now (its port is free again afterwards).
  void stop();

 private:
  std::string dir_;
  std::string url_;
  int port_ = 0;
};

// The server most tests share: SHEPHERD_TEST_REDIS_URL when set, else one started for this
// process on first use (and stopped at exit).
const std::string& shared_redis_url();

// A key id no earlier run has used, so that tests sharing one server never meet old counts.
std::string unique_key(const std::string& name);

// An io_context run by a thread of its own.
class Loop {
 public:
  Loop();
  ~Loop();
  net::Executor executor() { return ctx_.get_executor(); }

  // Runs `task` on the loop and waits for its result.
  template <typename T>
  T run(net::Task<T> task) {
    if constexpr (std::is_void_v<T>) {
      asio::co_spawn(ctx_, std::move(task), asio::use_future).get();
    } else {
      // co_spawn's future wants a default-constructible T, which Result is not.
      std::optional<T> out;
      auto wrap = [&out, t = std::move(task)]() mutable -> net::Task<void> {
        out.emplace(co_await std::move(t));
      };
      asio::co_spawn(ctx_, std::move(wrap), asio::use_future).get();
      return std::move(*out);
    }
  }
  // Runs `f` on the loop and waits until it returned.
  template <typename F>
  void call(F f) {
    std::promise<void> done;
    asio::post(ctx_, [&] {
      f();
      done.set_value();
    });
    done.get_future().get();
  }
  // Lets the loop run out of work and joins its thread: what is still on it (sockets, timers,
  // coroutines) must end by itself, else this waits for ever.
  void finish();

 private:
  asio::io_context ctx_;
  std::optional<asio::executor_work_guard<net::Executor>> guard_;
  std::thread thread_;
};

// One instance of Shepherd as far as limits go: its loop, its fallback counters and health, and a
// RedisLimiter. With `heartbeat`, run() keeps its heartbeat; else the test calls heartbeat().
struct Instance {
  Instance(const std::string& id, RedisOptions options, bool heartbeat = false);
  // stop(), then the loop must run out of work: a limiter that keeps it busy hangs the test.
  ~Instance();

  Ticket admit(const std::string& key, const KeyLimits& limits, std::int64_t reserve, Millis now) {
    return loop.run(limiter->admit(key, limits, reserve, now));
  }
  void settle(const std::string& key, const Ticket& t, std::int64_t tokens, std::int64_t cost,
              Millis now) {
    loop.run(limiter->settle(key, t, tokens, cost, now));
  }
  bool heartbeat() { return loop.run(limiter->heartbeat()); }
  LocalCounters::Spend spend(const std::string& key, Millis period) {
    return loop.run(limiter->spend(key, period));
  }
  void shutdown();

  Loop loop;
  LocalCounters fallback;
  RedisHealth health;
  std::unique_ptr<RedisLimiter> limiter;
  std::future<void> running;  // run(), with `heartbeat`
};

}  // namespace shepherd::limits::test
