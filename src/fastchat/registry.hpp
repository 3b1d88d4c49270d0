// The controller's state (docs/fastchat-protocol.md §1): the registered workers in registration
// order, their model names, speeds, queue lengths and heartbeats, and FastChat's two dispatch
// methods. Pure: callers pass the time and the random draw, so tests run on an injected clock
// without sleeping.
//
// Semantics kept from FastChat 0.2.36's controller, which clients and workers rely on:
// - A worker's name is its base URL. Registering a known name again replaces its entry in place
//   (it keeps its position, as a Python dict key does), which matters for shortest_queue's ties.
// - A heartbeat from an unknown name answers false, and the worker registers again.
// - Workers registered with check_heart_beat expire once their last heartbeat is older than the
//   expiration; others stay until a refresh finds them unreachable.
// - lottery picks a worker with probability proportional to its speed; shortest_queue picks the
//   first worker with the least queue_length / speed and counts one more request in its queue
//   until the worker's next heartbeat says otherwise.
//
// Not thread-safe: the controller touches it from one event loop.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace shepherd::fastchat {

enum class DispatchMethod { kLottery, kShortestQueue };

// "lottery" or "shortest_queue" (FastChat's --dispatch-method values).
std::optional<DispatchMethod> parse_dispatch_method(std::string_view name);
std::string_view dispatch_method_name(DispatchMethod method);

// Which models list_models() returns (/list_models, /list_multimodal_models,
// /list_language_models).
enum class ModelKind { kAll, kMultimodal, kLanguage };

struct Worker {
  using Time = std::chrono::steady_clock::time_point;

  std::string name;  // its base URL, e.g. "http://10.0.0.5:21002"
  std::vector<std::string> model_names;
  double speed = 1;
  std::int64_t queue_length = 0;
  bool check_heart_beat = true;
  bool multimodal = false;
  Time last_heart_beat{};
};

class Registry {
 public:
  using Time = Worker::Time;

  // Adds `worker` (its last_heart_beat set to `now`), or replaces the entry of that name in place.
  void upsert(Worker worker, Time now);
  // A heartbeat: false for an unknown name; else records the queue length and the time.
  bool heartbeat(std::string_view name, std::int64_t queue_length, Time now);
  // Removes the workers that check heartbeats and whose last one is older than `now - expiration`;
  // returns their names.
  std::vector<std::string> expire(Time now, std::chrono::milliseconds expiration);
  // Removes one worker (a refresh that could not reach it); false when unknown.
  bool remove(std::string_view name);
  // Takes every worker out (a refresh re-registers those that answer).
  std::vector<Worker> take_all();

  // The models of the workers of `kind`, sorted, without repeats.
  std::vector<std::string> models(ModelKind kind = ModelKind::kAll) const;
  // The worker to send a request for `model` to, by `method`; nullopt when no worker serves it (or,
  // for lottery, when their speeds add up to almost nothing, as FastChat has it). `draw` is a
  // uniform random number in [0, 1), used by lottery only. shortest_queue counts the request in
  // the chosen worker's queue.
  std::optional<std::string> pick(std::string_view model, DispatchMethod method, double draw);

  const std::vector<Worker>& workers() const { return workers_; }
  const Worker* find(std::string_view name) const;

 private:
  Worker* find_mutable(std::string_view name);

  std::vector<Worker> workers_;  // registration order
};

}  // namespace shepherd::fastchat
