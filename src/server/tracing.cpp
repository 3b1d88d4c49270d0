#include "server/tracing.hpp"

#include <spdlog/spdlog.h>

#include "fastchat/http_client.hpp"

namespace shepherd::server {

namespace {

constexpr auto kSendTimeout = std::chrono::seconds(5);

}  // namespace

OtlpExporter::OtlpExporter(const config::TracingConfig& config)
    : config_(config), thread_([this] { run(); }) {}

OtlpExporter::~OtlpExporter() { stop(); }

void OtlpExporter::submit(std::vector<observability::Span> spans) {
  bool wake = false;
  {
    std::lock_guard lock(mu_);
    if (queued_.size() + spans.size() > kMaxQueued) {
      dropped_.fetch_add(spans.size(), std::memory_order_relaxed);
      return;
    }
    for (auto& s : spans) queued_.push_back(std::move(s));
    wake = queued_.size() >= kBatch;
  }
  if (wake) wake_.notify_one();
}

void OtlpExporter::stop() {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  wake_.notify_one();
  thread_.join();
}

void OtlpExporter::run() {
  net::asio::io_context ioc;
  for (;;) {
    std::vector<observability::Span> batch;
    bool last = false;
    {
      std::unique_lock lock(mu_);
      wake_.wait_for(lock, config_.interval,
                     [this] { return stopping_ || queued_.size() >= kBatch; });
      last = stopping_;
      const auto n = std::min(queued_.size(), kBatch);
      batch.assign(std::make_move_iterator(queued_.begin()),
                   std::make_move_iterator(queued_.begin() + static_cast<std::ptrdiff_t>(n)));
      queued_.erase(queued_.begin(), queued_.begin() + static_cast<std::ptrdiff_t>(n));
      if (last && !queued_.empty()) last = false;  // the rest goes in the next rounds
    }
    if (!batch.empty()) {
      auto body = observability::otlp_json(batch, config_.service_name);
      net::asio::co_spawn(ioc, send(std::move(body), batch.size()), net::asio::detached);
      ioc.run();
      ioc.restart();
    }
    if (last) return;
  }
}

net::Task<void> OtlpExporter::send(std::string body, std::size_t count) {
  std::string base = config_.otlp_endpoint;
  std::string path = "/v1/traces";
  auto reply =
      co_await fastchat::post_json(std::move(base), std::move(path), std::move(body), kSendTimeout);
  const bool ok = reply && reply->status >= 200 && reply->status < 300;
  (ok ? exported_ : failed_).fetch_add(count, std::memory_order_relaxed);
  if (!ok && !failing_) {
    spdlog::warn("tracing: the OTLP endpoint {} refused spans: {}", config_.otlp_endpoint,
                 reply ? "status " + std::to_string(reply->status) : reply.error().message);
  } else if (ok && failing_) {
    spdlog::info("tracing: the OTLP endpoint {} takes spans again", config_.otlp_endpoint);
  }
  failing_ = !ok;
}

std::string OtlpExporter::prometheus_text() const {
  std::string out =
      "# HELP shepherd_trace_spans_total Spans for the OTLP endpoint, by outcome (exported, "
      "failed: the endpoint refused or could not be reached, dropped: the queue was full).\n"
      "# TYPE shepherd_trace_spans_total counter\n";
  auto line = [&out](const char* outcome, std::uint64_t n) {
    out.append("shepherd_trace_spans_total{outcome=\"").append(outcome).append("\"} ");
    out.append(std::to_string(n)).append("\n");
  };
  line("exported", exported_.load(std::memory_order_relaxed));
  line("failed", failed_.load(std::memory_order_relaxed));
  line("dropped", dropped_.load(std::memory_order_relaxed));
  return out;
}

}  // namespace shepherd::server
