// The OTLP/HTTP span exporter (tracing.otlp_endpoint): spans are queued by the event loops and
// sent by a thread of its own, in batches, as OTLP JSON to <endpoint>/v1/traces. A queue past
// kMaxQueued spans drops new ones (counted), so an unreachable collector costs memory no more
// than that and never slows a request.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "config/config.hpp"
#include "net/asio.hpp"
#include "observability/trace.hpp"

namespace shepherd::server {

class OtlpExporter final : public observability::SpanSink {
 public:
  explicit OtlpExporter(const config::TracingConfig& config);
  ~OtlpExporter() override;  // stop()
  OtlpExporter(const OtlpExporter&) = delete;
  OtlpExporter& operator=(const OtlpExporter&) = delete;

  void submit(std::vector<observability::Span> spans) override;
  // Sends what is queued (within a few seconds) and ends the thread. Idempotent.
  void stop();

  // The Prometheus lines of its counters (shepherd_trace_spans_total by outcome).
  std::string prometheus_text() const override;

  static constexpr std::size_t kMaxQueued = 20'000;
  static constexpr std::size_t kBatch = 512;

 private:
  void run();
  net::Task<void> send(std::string body, std::size_t count);

  const config::TracingConfig config_;
  std::mutex mu_;
  std::condition_variable wake_;
  std::vector<observability::Span> queued_;
  bool stopping_ = false;
  std::atomic<std::uint64_t> exported_{0}, dropped_{0}, failed_{0};
  bool failing_ = false;  // the last batch failed: logged once until one succeeds
  std::thread thread_;
};

}  // namespace shepherd::server
