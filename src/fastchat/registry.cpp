#include "fastchat/registry.hpp"

#include <algorithm>
#include <limits>
#include <set>
#include <utility>

namespace shepherd::fastchat {

std::optional<DispatchMethod> parse_dispatch_method(std::string_view name) {
  if (name == "lottery") return DispatchMethod::kLottery;
  if (name == "shortest_queue") return DispatchMethod::kShortestQueue;
  return std::nullopt;
}

std::string_view dispatch_method_name(DispatchMethod method) {
  return method == DispatchMethod::kLottery ? "lottery" : "shortest_queue";
}

void Registry::upsert(Worker worker, Time now) {
  worker.last_heart_beat = now;
  if (auto* known = find_mutable(worker.name)) {
    *known = std::move(worker);
  } else {
    workers_.push_back(std::move(worker));
  }
}

bool Registry::heartbeat(std::string_view name, std::int64_t queue_length, Time now) {
  auto* w = find_mutable(name);
  if (!w) return false;
  w->queue_length = queue_length;
  w->last_heart_beat = now;
  return true;
}

std::vector<std::string> Registry::expire(Time now, std::chrono::milliseconds expiration) {
  std::vector<std::string> gone;
  std::erase_if(workers_, [&](const Worker& w) {
    if (!w.check_heart_beat || w.last_heart_beat >= now - expiration) return false;
    gone.push_back(w.name);
    return true;
  });
  return gone;
}

bool Registry::remove(std::string_view name) {
  return std::erase_if(workers_, [&](const Worker& w) { return w.name == name; }) > 0;
}

std::vector<Worker> Registry::take_all() { return std::exchange(workers_, {}); }

std::vector<std::string> Registry::models(ModelKind kind) const {
  std::set<std::string> names;
  for (const auto& w : workers_) {
    if (kind == ModelKind::kMultimodal && !w.multimodal) continue;
    if (kind == ModelKind::kLanguage && w.multimodal) continue;
    names.insert(w.model_names.begin(), w.model_names.end());
  }
  return {names.begin(), names.end()};
}

std::optional<std::string> Registry::pick(std::string_view model, DispatchMethod method,
                                          double draw) {
  auto serves = [&](const Worker& w) {
    return std::find(w.model_names.begin(), w.model_names.end(), model) != w.model_names.end();
  };
  if (method == DispatchMethod::kLottery) {
    // FastChat sums the speeds as float32 and gives up below 1e-4. A negative speed (which makes
    // FastChat's numpy call fail) counts as 0 here.
    double total = 0;
    for (const auto& w : workers_) {
      if (serves(w)) total += std::max(w.speed, 0.0);
    }
    if (total < 1e-4) return std::nullopt;
    const double target = std::clamp(draw, 0.0, 1.0) * total;
    double sum = 0;
    const Worker* last = nullptr;
    for (const auto& w : workers_) {
      if (!serves(w) || w.speed <= 0) continue;
      sum += w.speed;
      last = &w;
      if (target < sum) return w.name;
    }
    return last->name;  // draw at 1.0, or rounding at the top end
  }
  // shortest_queue: the first least queue_length / speed. A speed of 0 or less (a division by
  // zero in FastChat) ranks last.
  Worker* best = nullptr;
  double best_score = 0;
  for (auto& w : workers_) {
    if (!serves(w)) continue;
    const double score = w.speed > 0 ? static_cast<double>(w.queue_length) / w.speed
                                     : std::numeric_limits<double>::infinity();
    if (!best || score < best_score) {
      best = &w;
      best_score = score;
    }
  }
  if (!best) return std::nullopt;
  ++best->queue_length;
  return best->name;
}

const Worker* Registry::find(std::string_view name) const {
  for (const auto& w : workers_) {
    if (w.name == name) return &w;
  }
  return nullptr;
}

Worker* Registry::find_mutable(std::string_view name) {
  return const_cast<Worker*>(std::as_const(*this).find(name));
}

}  // namespace shepherd::fastchat
