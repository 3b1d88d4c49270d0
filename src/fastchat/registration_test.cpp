// A worker's registration against Shepherd's own controller, in process on loopback: it
// registers, keeps its heartbeat, and registers again with a controller that restarted or
// was down for a while.
#include "fastchat/registration.hpp"

#include <gtest/gtest.h>

#include <memory>

#include "fastchat/controller.hpp"

namespace shepherd::fastchat {
namespace {

using namespace std::chrono_literals;

WorkerStatus status_of(std::string model) {
  WorkerStatus s;
  s.model_names.push_back(std::move(model));
  s.queue_length = 2;
  return s;
}

// What the scenarios saw, checked once the event loop has run them.
struct Seen {
  std::vector<int> registrations;   // the count at each step
  std::vector<std::string> models;  // the controller's models at each step, joined
  std::vector<bool> registered;     // registered() at each step
  bool finished = false;
};

class RegistrationTest : public ::testing::Test {
 protected:
  void start_controller(std::uint16_t port) {
    ControllerOptions o;
    o.port = port;
    controller_ = std::make_unique<Controller>(o);
    controller_->start();
    port_ = controller_->port();
  }
  void stop_controller() {
    controller_->stop();
    controller_.reset();
  }
  RegistrationOptions options(std::string worker) const {
    RegistrationOptions o;
    o.controller = "http://127.0.0.1:" + std::to_string(port_);
    o.worker_name = std::move(worker);
    o.interval = 50ms;
    o.retry = 20ms;
    return o;
  }

  // The controller's models, joined with commas ("" when it does not answer).
  net::Task<std::string> models() {
    std::string url = "http://127.0.0.1:" + std::to_string(port_);
    std::string path = "/list_models";
    std::string body = "{}";
    auto reply = co_await post_json(std::move(url), std::move(path), std::move(body), 1s);
    std::string joined;
    if (!reply) co_return joined;
    auto list = parse_model_list(reply->body);
    if (!list) co_return joined;
    for (const auto& m : list->models) joined += (joined.empty() ? "" : ",") + m;
    co_return joined;
  }

  // Waits, a bounded number of 10 ms steps (5 s), until reg has made `count` registrations.
  net::Task<void> until_registrations(Registration& reg, int count) {
    net::Timer t(co_await net::asio::this_coro::executor);
    for (int i = 0; i < 500 && reg.registrations() < count; ++i) {
      t.expires_after(10ms);
      co_await t.async_wait(net::kUseTuple);
    }
  }

  net::Task<void> pause(std::chrono::milliseconds d) {
    net::Timer t(co_await net::asio::this_coro::executor);
    t.expires_after(d);
    co_await t.async_wait(net::kUseTuple);
  }

  void note(Seen& seen, const Registration& reg, std::string models) {
    seen.registrations.push_back(reg.registrations());
    seen.registered.push_back(reg.registered());
    seen.models.push_back(std::move(models));
  }

  net::Task<void> restart_scenario(Registration& reg, Seen& seen) {
    co_await until_registrations(reg, 1);
    auto seen_models_1 = co_await models();
    note(seen, reg, std::move(seen_models_1));
    // A new controller on the same port knows nothing: the next heartbeat hears exist: false.
    stop_controller();
    start_controller(port_);
    co_await until_registrations(reg, 2);
    auto seen_models_2 = co_await models();
    note(seen, reg, std::move(seen_models_2));
    // Down for a while (heartbeats fail and are retried), then back.
    stop_controller();
    co_await pause(200ms);
    note(seen, reg, "");
    start_controller(port_);
    co_await until_registrations(reg, 3);
    auto seen_models_3 = co_await models();
    note(seen, reg, std::move(seen_models_3));
    reg.stop();
    seen.finished = true;
  }

  net::Task<void> late_controller_scenario(Registration& reg, Seen& seen, std::uint16_t port) {
    co_await pause(100ms);
    note(seen, reg, "");
    start_controller(port);
    co_await until_registrations(reg, 1);
    auto seen_models_4 = co_await models();
    note(seen, reg, std::move(seen_models_4));
    reg.stop();
    seen.finished = true;
  }

  std::unique_ptr<Controller> controller_;
  std::uint16_t port_ = 0;
};

TEST_F(RegistrationTest, RegistersAndRegistersAgainAfterTheControllerRestarts) {
  start_controller(0);
  net::asio::io_context ioc;
  Registration reg(ioc.get_executor(), options("http://127.0.0.1:1"),
                   [] { return status_of("relay-model"); });
  Seen seen;
  net::asio::co_spawn(ioc, reg.run(), net::asio::detached);
  net::asio::co_spawn(ioc, restart_scenario(reg, seen), net::asio::detached);
  ioc.run_for(20s);
  ASSERT_TRUE(seen.finished);
  EXPECT_EQ(seen.registrations, (std::vector<int>{1, 2, 2, 3}));
  EXPECT_EQ(seen.models,
            (std::vector<std::string>{"relay-model", "relay-model", "", "relay-model"}));
  EXPECT_TRUE(seen.registered.back());
}

TEST_F(RegistrationTest, KeepsTryingUntilTheControllerComesUp) {
  start_controller(0);
  const auto port = port_;
  stop_controller();
  net::asio::io_context ioc;
  Registration reg(ioc.get_executor(), options("http://127.0.0.1:2"),
                   [] { return status_of("late"); });
  Seen seen;
  net::asio::co_spawn(ioc, reg.run(), net::asio::detached);
  net::asio::co_spawn(ioc, late_controller_scenario(reg, seen, port), net::asio::detached);
  ioc.run_for(20s);
  ASSERT_TRUE(seen.finished);
  EXPECT_EQ(seen.registered, (std::vector<bool>{false, true}));
  EXPECT_EQ(seen.models.back(), "late");
}

}  // namespace
}  // namespace shepherd::fastchat
