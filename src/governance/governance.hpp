// Keys, limits, budgets and the audit log at run time: the store's query thread (keys and
// reports), the audit writer, the key table every event loop reads, and the limiters. Owned by
// the server; built once at start (storage, keys.secret, audit and redis take effect at
// restart, not on reload).
//
// Threads: the query thread owns one Store connection and runs every blocking call the admin
// API and the key refresh make; the audit writer owns another on its own thread. Event loops
// never block on either: they await query() (which resumes them on their own executor) and
// submit audit records to a bounded queue.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "auth/virtual_keys.hpp"
#include "base/result.hpp"
#include "config/config.hpp"
#include "limits/limiter.hpp"
#include "net/asio.hpp"
#include "storage/audit_writer.hpp"
#include "storage/store.hpp"

namespace shepherd::limits {
class RedisLimiter;
struct RedisHealth;
}  // namespace shepherd::limits

namespace shepherd::governance {

using net::Task;

class Governance {
 public:
  // Hands a new key table to every event loop (called on the query thread).
  using PublishKeys = std::function<void(std::shared_ptr<const auth::KeyTable>)>;

  // Opens the store (migrating it) on the calling thread: an unreachable or invalid store is a
  // start-up error (std::runtime_error naming it, without its password).
  Governance(const config::Config& config, int loops);
  ~Governance();

  // Starts the query thread (key refresh) and the audit writer; loads the keys once before it
  // returns, so that the first request already sees them. `executors`: the event loops'.
  void start(PublishKeys publish, std::vector<net::Executor> executors);
  // Once loop `loop` has ended its requests: ends its limiter's background work (so that the loop
  // can run out its remaining handlers). Any thread.
  void stop_limiter(int loop);
  // Once the loops have run out: flushes the audit queue (to the store, else the spool) and
  // joins the threads.
  void stop();
  // HMAC of presented tokens under keys.secret; null when virtual keys are off.
  std::shared_ptr<const auth::KeyHasher> hasher() const { return hasher_; }

  // The loop's limiter (Redis-backed when redis.url is set).
  limits::Limiter& limiter(int loop);
  // Coroutines a loop must run while it lives (the Redis limiter's connection and heartbeat);
  // empty without Redis.
  Task<void> run_loop(int loop);
  // null when audit.enabled is false.
  storage::AuditWriter* audit() { return audit_.get(); }
  const storage::AuditWriter* audit() const { return audit_.get(); }
  const limits::RedisHealth* redis_health() const { return redis_health_.get(); }
  bool bodies_by_default() const { return audit_bodies_; }
  const std::string& backend() const { return backend_; }

  // Prometheus text of the audit writer and the Redis limiter: queue depth, records written,
  // dropped and waiting in the spool, store errors; Redis failures and whether it is degraded.
  std::string prometheus_text() const;

  // Runs `f(store)` on the query thread and resumes the caller on its own executor with the
  // result. After a write to the keys, call refresh_keys() inside `f`.
  template <typename R>
  Task<R> query(std::function<R(storage::Store&)> f);
  // Reloads the key table now (query thread only).
  void refresh_keys();

 private:
  void schedule_refresh();

  std::unique_ptr<storage::Store> store_;  // the query thread's connection
  std::string backend_;
  config::StorageConfig storage_;
  config::KeysConfig keys_;
  std::string redis_url_;
  config::Millis redis_timeout_{50};
  bool audit_bodies_ = false;
  net::asio::io_context query_ctx_;
  std::optional<net::Timer> refresh_timer_;
  std::thread query_thread_;
  std::int64_t keys_version_ = -1;
  PublishKeys publish_;
  std::unique_ptr<storage::AuditWriter> audit_;
  std::shared_ptr<const auth::KeyHasher> hasher_;
  limits::LocalCounters counters_;
  std::unique_ptr<limits::RedisHealth> redis_health_;
  std::vector<std::unique_ptr<limits::Limiter>> limiters_;  // by loop
  std::vector<limits::RedisLimiter*> redis_limiters_;       // the same, when Redis is on
  bool stopped_ = false;
};

template <typename R>
Task<R> Governance::query(std::function<R(storage::Store&)> f) {
  namespace asio = net::asio;
  auto initiate = [this, f = std::move(f)](auto handler) mutable {
    asio::post(query_ctx_, [this, f = std::move(f), handler = std::move(handler)]() mutable {
      auto result = f(*store_);
      auto ex = asio::get_associated_executor(handler);
      asio::post(ex, [handler = std::move(handler), result = std::move(result)]() mutable {
        std::move(handler)(std::move(result));
      });
    });
  };
  co_return co_await asio::async_initiate<const asio::use_awaitable_t<net::Executor>&, void(R)>(
      std::move(initiate), asio::use_awaitable_t<net::Executor>{});
}

}  // namespace shepherd::governance
