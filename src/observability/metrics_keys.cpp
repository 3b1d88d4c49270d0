// The per-key series and the upstream pools' connections of /metrics (metrics.hpp).
#include <algorithm>
#include <cmath>

#include "base/slots.hpp"
#include "observability/metrics.hpp"
#include "observability/metrics_text.hpp"

namespace shepherd::observability {

using detail::header;
using detail::kRelaxed;
using detail::label;
using detail::number;

std::string Metrics::key_text() const {
  struct Key {
    std::size_t slot = 0;
    std::uint64_t requests = 0, errors = 0, tokens = 0, cost_nano = 0;
    std::int64_t budget_period = 0;
    std::uint64_t budget_ppm = 0;
    bool budgeted = false;
  };
  std::vector<Key> keys;
  for (std::size_t slot = 1; slot < key_slot_count_; ++slot) {
    Key k{slot};
    for (const auto& shard : key_shards_) {
      const auto& c = shard[slot];
      if (!c.used()) continue;
      k.requests += c.requests.load(kRelaxed);
      k.errors += c.errors.load(kRelaxed);
      k.tokens += c.tokens.load(kRelaxed);
      k.cost_nano += c.cost_nano_usd.load(kRelaxed);
      // The latest period wins; within it, the larger use (the shards saw different requests).
      const auto period = c.budget_period.load(kRelaxed);
      const auto ppm = c.budget_ppm.load(kRelaxed);
      if (ppm == 0 && period == 0) continue;
      if (!k.budgeted || period > k.budget_period ||
          (period == k.budget_period && ppm > k.budget_ppm)) {
        k.budget_period = period;
        k.budget_ppm = ppm;
      }
      k.budgeted = true;
    }
    if (k.requests) keys.push_back(k);
  }
  const auto& names = base::key_slots();
  auto name = [&](const Key& k) {
    return k.slot == names.overflow() ? std::string("other") : label(names.name(k.slot));
  };
  // The busiest keys by name; the rest (and keys past the slot table's capacity) as "other".
  std::sort(keys.begin(), keys.end(), [](const Key& a, const Key& b) {
    return a.requests != b.requests ? a.requests > b.requests : a.slot < b.slot;
  });
  Key other{names.overflow()};
  std::string requests, errors, tokens, cost;
  auto line = [](std::string& out, std::string_view metric, const std::string& key,
                 const std::string& value) {
    out.append(metric).append("{key=\"").append(key).append("\"} ").append(value).append("\n");
  };
  auto emit = [&](const Key& k) {
    const auto n = name(k);
    line(requests, "shepherd_key_requests_total", n, std::to_string(k.requests));
    line(errors, "shepherd_key_errors_total", n, std::to_string(k.errors));
    line(tokens, "shepherd_key_tokens_total", n, std::to_string(k.tokens));
    line(cost, "shepherd_key_cost_usd_total", n, number(static_cast<double>(k.cost_nano) / 1e9));
  };
  for (std::size_t i = 0; i < keys.size(); ++i) {
    if (i < kTopKeys && keys[i].slot != names.overflow()) {
      emit(keys[i]);
      continue;
    }
    other.requests += keys[i].requests;
    other.errors += keys[i].errors;
    other.tokens += keys[i].tokens;
    other.cost_nano += keys[i].cost_nano;
  }
  if (other.requests) emit(other);
  // Budgets: the keys closest to spending theirs.
  std::vector<Key> budgeted;
  for (const auto& k : keys) {
    if (k.budgeted && k.slot != names.overflow()) budgeted.push_back(k);
  }
  std::sort(budgeted.begin(), budgeted.end(),
            [](const Key& a, const Key& b) { return a.budget_ppm > b.budget_ppm; });
  if (budgeted.size() > kTopKeys) budgeted.resize(kTopKeys);
  std::string budget;
  for (const auto& k : budgeted) {
    line(budget, "shepherd_key_budget_used_ratio", name(k),
         number(static_cast<double>(k.budget_ppm) / 1e6));
  }
  struct Family {
    const char* name;
    const char* type;
    const char* help;
    const std::string& samples;
  };
  const Family families[] = {
      {"shepherd_key_requests_total", "counter",
       "Requests by virtual key (the busiest keys; the rest as key=\"other\").", requests},
      {"shepherd_key_errors_total", "counter",
       "Requests by virtual key that did not end in a complete answer.", errors},
      {"shepherd_key_tokens_total", "counter", "Tokens (prompt and completion) by virtual key.",
       tokens},
      {"shepherd_key_cost_usd_total", "counter", "Cost by virtual key, at the configured prices.",
       cost},
      {"shepherd_key_budget_used_ratio", "gauge",
       "Share of its budget a key has spent in the current period, as of its last request (the "
       "keys closest to their budget).",
       budget},
  };
  std::string out;
  for (const auto& f : families) {
    header(out, f.name, f.type, f.help);
    out += f.samples;
  }
  return out;
}

std::shared_ptr<base::PoolGauge> Metrics::pool_gauge(const std::string& provider) {
  auto gauge = std::make_shared<base::PoolGauge>();
  std::lock_guard lock(gauges_mu_);
  std::erase_if(pool_gauges_, [](const auto& g) { return g.second.expired(); });
  pool_gauges_.emplace_back(provider, gauge);
  return gauge;
}

std::string Metrics::pool_text() const {
  std::vector<std::pair<std::string, std::pair<std::int64_t, std::int64_t>>> sums;
  {
    std::lock_guard lock(gauges_mu_);
    for (const auto& entry : pool_gauges_) {
      const auto gauge = entry.second.lock();
      if (!gauge) continue;
      const auto& provider = entry.first;
      auto it = std::find_if(sums.begin(), sums.end(),
                             [&provider](const auto& s) { return s.first == provider; });
      if (it == sums.end()) it = sums.insert(sums.end(), {provider, {0, 0}});
      it->second.first += gauge->in_use.load(kRelaxed);
      it->second.second += gauge->idle.load(kRelaxed);
    }
  }
  std::string out;
  header(out, "shepherd_upstream_connections", "gauge",
         "Upstream connections by provider: open (in use or idle) and idle.");
  for (const auto& [provider, counts] : sums) {
    const auto p = label(provider);
    out.append("shepherd_upstream_connections{provider=\"").append(p).append("\",state=\"open\"} ");
    out.append(std::to_string(counts.first + counts.second)).append("\n");
    out.append("shepherd_upstream_connections{provider=\"").append(p).append("\",state=\"idle\"} ");
    out.append(std::to_string(counts.second)).append("\n");
  }
  return out;
}

}  // namespace shepherd::observability
