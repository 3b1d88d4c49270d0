// How fast the store takes audit records: appends N records (default 200 000) in batches of 1000,
// one transaction per batch as the audit writer does, and prints records/s; then times the
// admin queries over them (spend by model, the newest 100 requests, a key's spend).
//
//   bench_audit_store [N] [postgres://URL]
//
// SQLite: a new database in a temp folder, removed afterwards. PostgreSQL (when a URL is given,
// e.g. from tools/postgres.sh start): the store at that URL; the records get request ids of
// their own, so runs add to each other.
#include <stdlib.h>
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "storage/sql_common.hpp"
#include "storage/store.hpp"

namespace {

using shepherd::storage::AuditRecord;
using shepherd::storage::Millis;
using shepherd::storage::Store;
using Clock = std::chrono::steady_clock;

constexpr std::size_t kBatch = 1000;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// User and system CPU time of this process so far: on a shared machine, records per CPU second
// say more than records per second.
double cpu_seconds() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  auto s = [](const timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec / 1e6; };
  return s(u.ru_utime) + s(u.ru_stime);
}

std::vector<AuditRecord> make_records(std::size_t n) {
  const Millis now = std::chrono::duration_cast<std::chrono::milliseconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
  const char* models[] = {"gpt-4o", "gpt-4o-mini", "claude-sonnet", "gemini-flash"};
  std::vector<AuditRecord> records(n);
  for (std::size_t i = 0; i < n; ++i) {
    auto& r = records[i];
    // Shaped as Shepherd's ids: the time first (the stores read time ranges through it).
    r.time = now + static_cast<Millis>(i);
    char seq[24];
    std::snprintf(seq, sizeof seq, "%016zx", i);
    r.request_id = shepherd::storage::sql::id_floor(r.time) + seq;
    r.key_id = "key_" + std::to_string(1000 + i % 50);
    r.model = models[i % 4];
    r.deployment = r.model + "-east";
    r.provider = i % 4 == 2 ? "anthropic" : "openai";
    r.attempts = 1;
    r.status = i % 100 == 0 ? 429 : 200;
    if (r.status != 200) r.error_class = "rate_limited";
    r.prompt_tokens = 500 + static_cast<std::int64_t>(i % 300);
    r.completion_tokens = 120 + static_cast<std::int64_t>(i % 80);
    r.cost_usd = 0.00123 * static_cast<double>(1 + i % 7);
    r.list_cost_usd = r.cost_usd * 1.2;
    r.latency_us = 200'000 + static_cast<std::int64_t>(i % 5000) * 100;
    r.ttft_us = 80'000;
    r.client_address = "10.0.0." + std::to_string(i % 250);
    r.streamed = i % 2 == 0;
    r.dialect = "openai";
  }
  return records;
}

int bench(const char* label, Store& store, const std::vector<AuditRecord>& records) {
  auto start = Clock::now();
  const double cpu_start = cpu_seconds();
  std::int64_t written = 0;
  for (std::size_t i = 0; i < records.size(); i += kBatch) {
    const std::size_t n = std::min(kBatch, records.size() - i);
    auto r =
        store.append(std::span<const AuditRecord>(records).subspan(i, n), Store::Stored::kNone);
    if (!r) {
      std::fprintf(stderr, "%s: append failed: %s\n", label, r.error().message.c_str());
      return 1;
    }
    written += *r;
  }
  const double append_s = seconds_since(start);
  const double append_cpu = cpu_seconds() - cpu_start;
  const auto n = static_cast<double>(records.size());
  std::printf(
      "%-8s append   %zu records in batches of %zu: %.2f s, %.0f records/s; %.2f CPU s, %.0f "
      "records per CPU s (%lld written)\n",
      label, records.size(), kBatch, append_s, n / append_s, append_cpu, n / append_cpu,
      static_cast<long long>(written));

  start = Clock::now();
  auto spend = store.spend(shepherd::storage::SpendBy::kModel, records.front().time,
                           records.back().time + 1);
  std::printf("%-8s spend    by model over them: %.3f s (%zu groups)\n", label,
              seconds_since(start), spend ? spend->size() : 0);
  start = Clock::now();
  auto newest = store.requests({});
  std::printf("%-8s requests newest 100: %.4f s (%zu)\n", label, seconds_since(start),
              newest ? newest->size() : 0);
  start = Clock::now();
  auto key = store.key_spend(records.front().key_id, 0);
  std::printf("%-8s key_spend of one key: %.5f s ($%.2f)\n", label, seconds_since(start),
              key ? *key : -1.0);
  return spend && newest && key ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  const std::size_t n = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 200'000;
  if (n == 0) {
    std::fprintf(stderr, "usage: %s [RECORDS] [postgres://URL]\n", argv[0]);
    return 2;
  }
  const auto records = make_records(n);

  std::string dir = (std::filesystem::temp_directory_path() / "shepherd-bench-XXXXXX").string();
  if (!::mkdtemp(dir.data())) {
    std::perror("mkdtemp");
    return 1;
  }
  int status = 0;
  {
    auto store = shepherd::storage::open_store("sqlite://" + dir + "/audit.db");
    if (!store) {
      std::fprintf(stderr, "%s\n", store.error().message.c_str());
      status = 1;
    } else {
      status |= bench("sqlite", **store, records);
    }
  }
  std::filesystem::remove_all(dir);

  if (argc > 2) {
    auto store = shepherd::storage::open_store(argv[2]);
    if (!store) {
      std::fprintf(stderr, "%s\n", store.error().message.c_str());
      return 1;
    }
    status |= bench("postgres", **store, records);
  }
  return status;
}
