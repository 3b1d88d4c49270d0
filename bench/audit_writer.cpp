// bench_audit_writer [RECORDS]: what the audit path sustains end to end. Two threads submit
// RECORDS audit records (default 300 000) as fast as they can to one AuditWriter with its
// default settings (200 ms flush interval, batches of 2000, a queue of 100 000), which writes
// them to a SQLite store in a temporary folder. Prints records/s from the first submit to the
// moment the last record is committed, and checks the store holds every record once.
//
// A full queue refuses a record (submit() returns false); the submitting thread then pauses for
// 200 us (spinning would take the CPU the writer thread needs) and tries again, so the figure is
// what the writer and the store sustain. The refusals are printed too.
#include "storage/audit_writer.hpp"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "storage/sql_common.hpp"
#include "storage/store.hpp"

namespace {

using namespace shepherd::storage;
using Clock = std::chrono::steady_clock;

AuditRecord make_record(int thread, std::int64_t i, Millis now) {
  AuditRecord r;
  // Shaped as Shepherd's ids: the time, then 16 hex digits.
  char id[24];
  std::snprintf(id, sizeof id, "%02x%014llx", thread, static_cast<unsigned long long>(i));
  r.request_id = sql::id_floor(now) + id;
  r.time = now;
  r.key_id = i % 10 == 0 ? "" : "key_00000000000000" + std::to_string(10 + i % 50);
  r.model = i % 3 == 0 ? "gpt-4o-mini" : "claude-3-5-haiku";
  r.deployment = i % 3 == 0 ? "openai-east" : "anthropic-main";
  r.provider = i % 3 == 0 ? "openai" : "anthropic";
  r.attempts = 1 + static_cast<int>(i % 7 == 0);
  r.status = i % 50 == 0 ? 429 : 200;
  r.error_class = r.status == 200 ? "" : "rate_limited";
  r.prompt_tokens = 200 + i % 900;
  r.completion_tokens = 50 + i % 300;
  r.cached_tokens = i % 4 == 0 ? 128 : 0;
  r.cost_usd = 0.000015 * static_cast<double>(r.prompt_tokens + r.completion_tokens);
  r.list_cost_usd = r.cost_usd;
  r.latency_us = 250'000 + i % 100'000;
  if (i % 2 == 0) r.ttft_us = 80'000 + i % 20'000;
  r.client_address = "10.0.0." + std::to_string(i % 250);
  r.streamed = i % 2 == 0;
  r.dialect = "openai";
  return r;
}

Millis unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

int main(int argc, char** argv) {
  const std::int64_t total = argc > 1 ? std::atoll(argv[1]) : 300'000;
  if (total <= 0) {
    std::fprintf(stderr, "usage: bench_audit_writer [RECORDS]\n");
    return 2;
  }
  std::string dir = (std::filesystem::temp_directory_path() / "shepherd-bench-audit-XXXXXX");
  if (!::mkdtemp(dir.data())) {
    std::perror("mkdtemp");
    return 1;
  }
  const std::string url = "sqlite://" + dir + "/audit.db";
  {
    // Create and migrate the database first: the figure is about writing records.
    auto store = open_store(url);
    if (!store) {
      std::fprintf(stderr, "cannot open %s: %s\n", url.c_str(), store.error().message.c_str());
      return 1;
    }
  }

  AuditWriterOptions options;
  options.open_store = [url] { return open_store(url); };
  options.spool_path = dir + "/audit.spool";
  AuditWriter writer(options);

  constexpr int kThreads = 2;
  std::atomic<std::uint64_t> refusals{0};
  const Millis now = unix_ms();
  const auto start = Clock::now();
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      const std::int64_t from = total * t / kThreads, to = total * (t + 1) / kThreads;
      std::uint64_t refused = 0;
      for (std::int64_t i = from; i < to; ++i) {
        AuditRecord r = make_record(t, i, now);
        while (!writer.submit(AuditRecord(r))) {
          ++refused;
          std::this_thread::sleep_for(std::chrono::microseconds(200));
        }
      }
      refusals += refused;
    });
  }
  std::uint64_t max_depth = 0;
  while (writer.stats().written_total < static_cast<std::uint64_t>(total)) {
    const auto s = writer.stats();
    max_depth = std::max(max_depth, s.queue_depth);
    if (s.store_failing) {
      std::fprintf(stderr, "the store failed: see the log\n");
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  for (auto& t : threads) t.join();
  writer.stop();
  const auto s = writer.stats();

  // Every record once: the store's own count.
  std::int64_t stored = -1;
  if (auto store = open_store(url)) {
    if (auto rows = (*store)->spend(SpendBy::kProvider, std::nullopt, std::nullopt)) {
      stored = 0;
      for (const auto& row : *rows) stored += row.requests;
    }
  }

  std::printf("records              %lld (2 threads)\n", static_cast<long long>(total));
  std::printf("seconds              %.3f (first submit to last record committed)\n", seconds);
  std::printf("records/s            %.0f\n", static_cast<double>(total) / seconds);
  std::printf("written / stored     %llu / %lld\n",
              static_cast<unsigned long long>(s.written_total), static_cast<long long>(stored));
  std::printf("queue-full refusals  %llu (retried)\n",
              static_cast<unsigned long long>(refusals.load()));
  std::printf("largest queue seen   %llu\n", static_cast<unsigned long long>(max_depth));
  std::printf("store errors         %llu, spooled %llu\n",
              static_cast<unsigned long long>(s.store_errors_total),
              static_cast<unsigned long long>(s.spooled));
  std::filesystem::remove_all(dir);
  return stored == total ? 0 : 1;
}
