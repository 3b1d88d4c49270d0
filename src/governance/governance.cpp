#include "governance/governance.hpp"

#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <stdexcept>

#include "base/clock.hpp"
#include "limits/redis_limiter.hpp"

namespace shepherd::governance {

namespace {

// Where audit records wait while the store is down: beside an SQLite file, else beside the
// config file.
std::string spool_path(const config::Config& config) {
  if (!config.audit.spool.empty()) return config.audit.spool;
  const auto& url = config.storage.url;
  namespace fs = std::filesystem;
  const fs::path base =
      config.storage.base_dir.empty() ? fs::current_path() : fs::path(config.storage.base_dir);
  if (url.rfind("sqlite://", 0) == 0) {
    fs::path file = url.substr(9);
    if (file.is_relative()) file = base / file;
    return file.string() + ".audit-spool";
  }
  return (base / "shepherd.audit-spool").string();
}

}  // namespace

Governance::Governance(const config::Config& config, int loops)
    : storage_(config.storage), keys_(config.keys), audit_bodies_(config.audit.bodies) {
  auto store = storage::open_store(storage_.url, storage_.base_dir);
  if (!store) {
    throw std::runtime_error("storage " + storage::redact_url(storage_.url) + ": " +
                             store.error().message);
  }
  store_ = std::move(store).value();
  if (!config.keys.secret.empty())
    hasher_ = std::make_shared<const auth::KeyHasher>(config.keys.secret);
  backend_ = store_->backend();
  if (config.audit.enabled) {
    storage::AuditWriterOptions o;
    o.open_store = [url = storage_.url, dir = storage_.base_dir] {
      return storage::open_store(url, dir);
    };
    o.queue_capacity = config.audit.queue;
    o.flush_interval = config.audit.flush_interval;
    o.retention = config.audit.retention;
    o.spool_path = spool_path(config);
    audit_ = std::make_unique<storage::AuditWriter>(std::move(o));
  }
  if (!config.redis.url.empty()) {
    redis_health_ = std::make_unique<limits::RedisHealth>();
  }
  limiters_.resize(static_cast<std::size_t>(loops));
  redis_limiters_.assign(static_cast<std::size_t>(loops), nullptr);
  redis_url_ = config.redis.url;
  redis_timeout_ = config.redis.timeout;
}

Governance::~Governance() { stop(); }

void Governance::start(PublishKeys publish, std::vector<net::Executor> executors) {
  publish_ = std::move(publish);
  // An instance id unique among the instances sharing one Redis.
  const auto instance = auth::new_key_id().substr(4);
  for (std::size_t i = 0; i < limiters_.size(); ++i) {
    if (redis_health_) {
      limits::RedisOptions ro;
      ro.url = redis_url_;
      ro.timeout = redis_timeout_;
      auto r = std::make_unique<limits::RedisLimiter>(executors.at(i), ro, instance, counters_,
                                                      *redis_health_);
      redis_limiters_[i] = r.get();
      limiters_[i] = std::move(r);
    } else {
      limiters_[i] = limits::local_limiter(counters_);
    }
  }
  refresh_keys();  // on this thread, before the query thread exists: the first requests see keys
  refresh_timer_.emplace(query_ctx_.get_executor());
  schedule_refresh();
  query_thread_ = std::thread([this] {
    auto guard = net::asio::make_work_guard(query_ctx_);
    query_ctx_.run();
  });
}

void Governance::stop_limiter(int loop) {
  if (auto* r = redis_limiters_.at(static_cast<std::size_t>(loop))) r->stop();
}

void Governance::stop() {
  if (stopped_) return;
  stopped_ = true;
  for (auto* r : redis_limiters_) {
    if (r) r->stop();
  }
  if (query_thread_.joinable()) {
    net::asio::post(query_ctx_, [this] {
      refresh_timer_->cancel();
      query_ctx_.stop();
    });
    query_thread_.join();
  }
  if (audit_) audit_->stop();
}

limits::Limiter& Governance::limiter(int loop) {
  return *limiters_.at(static_cast<std::size_t>(loop));
}

Task<void> Governance::run_loop(int loop) {
  auto* r = redis_limiters_.at(static_cast<std::size_t>(loop));
  if (r) co_await r->run();
}

void Governance::schedule_refresh() {
  refresh_timer_->expires_after(keys_.refresh);
  refresh_timer_->async_wait([this](const net::error_code& ec) {
    if (ec) return;
    refresh_keys();
    schedule_refresh();
  });
}

void Governance::refresh_keys() {
  auto version = store_->keys_version();
  if (!version) {
    spdlog::warn("keys: cannot read the store ({}); keeping the keys loaded before",
                 version.error().message);
    return;
  }
  if (*version == keys_version_) return;
  auto records = store_->keys();
  if (!records) {
    spdlog::warn("keys: cannot read the store ({}); keeping the keys loaded before",
                 records.error().message);
    return;
  }
  // Budgets count from what the store says was spent in the current period, so a restart does
  // not hand a key its budget again.
  const auto now = base::unix_ms();
  for (const auto& r : *records) {
    if (!r.budget || r.revoked_at) continue;
    const auto period = limits::period_start(r.budget->period, now);
    auto spent = store_->key_spend(r.id, period);
    if (spent) limiters_.front()->seed_spend(r.id, period, limits::to_micros(*spent));
  }
  keys_version_ = *version;
  auto table = std::make_shared<const auth::KeyTable>(*records);
  spdlog::debug("keys: {} virtual keys loaded (version {})", table->size(), *version);
  if (publish_) publish_(std::move(table));
}

}  // namespace shepherd::governance

namespace shepherd::governance {

std::string Governance::prometheus_text() const {
  std::string out;
  auto metric = [&](const char* name, const char* type, const char* help, double value) {
    out.append("# HELP ").append(name).append(" ").append(help).append("\n# TYPE ");
    out.append(name).append(" ").append(type).append("\n").append(name).append(" ");
    char digits[32];
    std::snprintf(digits, sizeof digits, "%.17g", value);
    out.append(digits).append("\n");
  };
  if (audit_) {
    const auto a = audit_->stats();
    metric("shepherd_audit_queue_depth", "gauge", "Audit records waiting for the writer thread.",
           static_cast<double>(a.queue_depth));
    metric("shepherd_audit_written_total", "counter", "Audit records committed to the store.",
           static_cast<double>(a.written_total));
    metric("shepherd_audit_dropped_total", "counter",
           "Audit records lost: the queue was full or the spool could not be written.",
           static_cast<double>(a.dropped_total));
    metric("shepherd_audit_spooled", "gauge",
           "Audit records in the spool file, waiting for the store to come back.",
           static_cast<double>(a.spooled));
    metric("shepherd_audit_store_errors_total", "counter",
           "Failed opens, writes and prunes of the audit store.",
           static_cast<double>(a.store_errors_total));
    metric("shepherd_audit_store_failing", "gauge", "1 while the audit store does not work.",
           a.store_failing ? 1 : 0);
  }
  if (redis_health_) {
    metric("shepherd_redis_failures_total", "counter",
           "Redis calls of the shared limiter that failed or missed their deadline.",
           static_cast<double>(redis_health_->failures.load(std::memory_order_relaxed)));
    metric("shepherd_redis_degraded", "gauge",
           "1 while limits are counted locally at this instance's share because Redis is "
           "unreachable.",
           redis_health_->degraded.load(std::memory_order_relaxed) ? 1 : 0);
    metric("shepherd_redis_instances", "gauge",
           "Live instances sharing the limits, as last counted.",
           static_cast<double>(redis_health_->instances.load(std::memory_order_relaxed)));
  }
  return out;
}

}  // namespace shepherd::governance
