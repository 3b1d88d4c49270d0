#include "fastchat/registration.hpp"

#include <spdlog/spdlog.h>

namespace shepherd::fastchat {

Registration::Registration(net::Executor executor, RegistrationOptions options,
                           std::function<WorkerStatus()> status)
    : options_(std::move(options)), status_(std::move(status)), timer_(executor) {}

void Registration::stop() {
  stopped_ = true;
  timer_.cancel();
  if (call_.close) call_.close();
}

net::Task<void> Registration::pause(std::chrono::milliseconds d) {
  timer_.expires_after(d);
  co_await timer_.async_wait(net::kUseTuple);
}

net::Task<bool> Registration::register_once() {
  RegisterWorker request;
  request.worker_name = options_.worker_name;
  request.check_heart_beat = true;
  request.worker_status = status_();
  request.multimodal = options_.multimodal;
  std::string path = "/register_worker";
  std::string body = write_register_worker(request);
  auto reply = co_await post_json(options_.controller, std::move(path), std::move(body),
                                  options_.timeout, &call_);
  if (!reply) {
    spdlog::warn("fastchat worker: cannot register with {}: {}", options_.controller,
                 reply.error().message);
    co_return false;
  }
  if (reply->status != 200) {
    spdlog::warn("fastchat worker: the controller {} answered {} to the registration",
                 options_.controller, reply->status);
    co_return false;
  }
  ++registrations_;
  spdlog::info("fastchat worker: registered {} with {}", options_.worker_name, options_.controller);
  co_return true;
}

net::Task<std::optional<bool>> Registration::heartbeat_once() {
  HeartBeat beat;
  beat.worker_name = options_.worker_name;
  beat.queue_length = status_().queue_length;
  std::string path = "/receive_heart_beat";
  std::string body = write_heart_beat(beat);
  auto reply = co_await post_json(options_.controller, std::move(path), std::move(body),
                                  options_.timeout, &call_);
  if (!reply || reply->status != 200) co_return std::nullopt;
  auto answer = parse_heart_beat_answer(reply->body);
  if (!answer) co_return std::nullopt;
  co_return answer->exist;
}

net::Task<void> Registration::run() {
  while (!stopped_) {
    if (!registered_) {
      registered_ = co_await register_once();
      if (stopped_) break;
      co_await pause(registered_ ? options_.interval : options_.retry);
      continue;
    }
    const auto exist = co_await heartbeat_once();
    if (stopped_) break;
    if (!exist) {
      spdlog::warn("fastchat worker: heartbeat to {} failed; retrying", options_.controller);
      co_await pause(options_.retry);
    } else if (!*exist) {
      spdlog::info("fastchat worker: the controller {} does not know this worker; registering",
                   options_.controller);
      registered_ = false;
    } else {
      co_await pause(options_.interval);
    }
  }
}

}  // namespace shepherd::fastchat
