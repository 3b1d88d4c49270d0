#include "fastchat/registry.hpp"

#include <gtest/gtest.h>

#include <map>

namespace shepherd::fastchat {
namespace {

using namespace std::chrono_literals;
using Time = Registry::Time;

const Time kStart{1000s};

Worker worker(std::string name, std::vector<std::string> models, double speed = 1,
              std::int64_t queue = 0) {
  Worker w;
  w.name = std::move(name);
  w.model_names = std::move(models);
  w.speed = speed;
  w.queue_length = queue;
  return w;
}

TEST(DispatchMethod, ParsesFastChatsNames) {
  EXPECT_EQ(parse_dispatch_method("lottery"), DispatchMethod::kLottery);
  EXPECT_EQ(parse_dispatch_method("shortest_queue"), DispatchMethod::kShortestQueue);
  EXPECT_EQ(parse_dispatch_method("round_robin"), std::nullopt);
  EXPECT_EQ(dispatch_method_name(DispatchMethod::kShortestQueue), "shortest_queue");
}

TEST(Registry, ListsTheUnionOfModelsSortedAndByKind) {
  Registry r;
  r.upsert(worker("http://a", {"vicuna", "llama"}), kStart);
  auto vision = worker("http://b", {"llava", "llama"});
  vision.multimodal = true;
  r.upsert(vision, kStart);
  EXPECT_EQ(r.models(), (std::vector<std::string>{"llama", "llava", "vicuna"}));
  EXPECT_EQ(r.models(ModelKind::kMultimodal), (std::vector<std::string>{"llama", "llava"}));
  EXPECT_EQ(r.models(ModelKind::kLanguage), (std::vector<std::string>{"llama", "vicuna"}));
}

TEST(Registry, RegisteringAKnownNameReplacesItInPlace) {
  Registry r;
  r.upsert(worker("http://a", {"m"}), kStart);
  r.upsert(worker("http://b", {"m"}), kStart);
  r.upsert(worker("http://a", {"m", "n"}, 2), kStart + 1s);
  ASSERT_EQ(r.workers().size(), 2u);
  EXPECT_EQ(r.workers()[0].name, "http://a");
  EXPECT_EQ(r.workers()[0].model_names, (std::vector<std::string>{"m", "n"}));
  EXPECT_EQ(r.workers()[0].speed, 2);
  EXPECT_EQ(r.workers()[0].last_heart_beat, kStart + 1s);
}

TEST(Registry, HeartbeatOfAnUnknownWorkerSaysItDoesNotExist) {
  Registry r;
  EXPECT_FALSE(r.heartbeat("http://a", 3, kStart));
  r.upsert(worker("http://a", {"m"}), kStart);
  EXPECT_TRUE(r.heartbeat("http://a", 3, kStart + 10s));
  EXPECT_EQ(r.find("http://a")->queue_length, 3);
  EXPECT_EQ(r.find("http://a")->last_heart_beat, kStart + 10s);
}

TEST(Registry, ExpiresWorkersWhoseLastHeartbeatIsOlderThanTheExpiration) {
  Registry r;
  r.upsert(worker("http://a", {"m"}), kStart);
  r.upsert(worker("http://b", {"m"}), kStart);
  auto manual = worker("http://manual", {"m"});
  manual.check_heart_beat = false;
  r.upsert(manual, kStart);
  r.heartbeat("http://b", 0, kStart + 60s);
  // Exactly at the expiration: still there (FastChat removes only older heartbeats).
  EXPECT_TRUE(r.expire(kStart + 90s, 90s).empty());
  EXPECT_EQ(r.expire(kStart + 90s + 1ms, 90s), std::vector<std::string>{"http://a"});
  EXPECT_EQ(r.expire(kStart + 151s, 90s), std::vector<std::string>{"http://b"});
  // A worker that does not check heartbeats stays.
  EXPECT_TRUE(r.expire(kStart + 10000s, 90s).empty());
  ASSERT_EQ(r.workers().size(), 1u);
  EXPECT_EQ(r.workers()[0].name, "http://manual");
}

TEST(Registry, ShortestQueuePicksTheLeastQueuePerSpeedAndCountsTheRequest) {
  Registry r;
  r.upsert(worker("http://a", {"m"}, 1, 2), kStart);
  r.upsert(worker("http://b", {"m"}, 2, 2), kStart);  // 2 / 2 = 1, less than 2 / 1
  r.upsert(worker("http://c", {"other"}, 1, 0), kStart);
  EXPECT_EQ(r.pick("m", DispatchMethod::kShortestQueue, 0), "http://b");
  EXPECT_EQ(r.find("http://b")->queue_length, 3);  // 1.5 now, still less than 2
  EXPECT_EQ(r.pick("m", DispatchMethod::kShortestQueue, 0), "http://b");
  // b at 4 / 2 = 2 ties with a at 2 / 1: the first registered wins.
  EXPECT_EQ(r.pick("m", DispatchMethod::kShortestQueue, 0), "http://a");
  EXPECT_EQ(r.find("http://a")->queue_length, 3);
  // A heartbeat overwrites the optimistic count.
  r.heartbeat("http://a", 0, kStart + 1s);
  EXPECT_EQ(r.pick("m", DispatchMethod::kShortestQueue, 0), "http://a");
  EXPECT_EQ(r.pick("nobody", DispatchMethod::kShortestQueue, 0), std::nullopt);
}

TEST(Registry, ShortestQueueRanksAZeroSpeedWorkerLast) {
  Registry r;
  r.upsert(worker("http://zero", {"m"}, 0, 0), kStart);
  r.upsert(worker("http://busy", {"m"}, 1, 50), kStart);
  EXPECT_EQ(r.pick("m", DispatchMethod::kShortestQueue, 0), "http://busy");
  Registry only;
  only.upsert(worker("http://zero", {"m"}, 0, 0), kStart);
  EXPECT_EQ(only.pick("m", DispatchMethod::kShortestQueue, 0), "http://zero");
}

TEST(Registry, LotteryPicksInProportionToSpeed) {
  Registry r;
  r.upsert(worker("http://a", {"m"}, 1), kStart);
  r.upsert(worker("http://b", {"m"}, 3), kStart);
  r.upsert(worker("http://c", {"other"}, 100), kStart);
  // The draw walks the cumulative speeds: a holds [0, 0.25), b [0.25, 1).
  EXPECT_EQ(r.pick("m", DispatchMethod::kLottery, 0.0), "http://a");
  EXPECT_EQ(r.pick("m", DispatchMethod::kLottery, 0.2499), "http://a");
  EXPECT_EQ(r.pick("m", DispatchMethod::kLottery, 0.25), "http://b");
  EXPECT_EQ(r.pick("m", DispatchMethod::kLottery, 0.9999), "http://b");
  EXPECT_EQ(r.pick("m", DispatchMethod::kLottery, 1.0), "http://b");
  // Evenly spread draws land in proportion.
  std::map<std::string, int> count;
  for (int i = 0; i < 1000; ++i) ++count[*r.pick("m", DispatchMethod::kLottery, i / 1000.0)];
  EXPECT_EQ(count["http://a"], 250);
  EXPECT_EQ(count["http://b"], 750);
  // Lottery leaves queue lengths alone.
  EXPECT_EQ(r.find("http://b")->queue_length, 0);
}

TEST(Registry, LotteryFindsNoWorkerWhenSpeedsAddUpToAlmostNothing) {
  Registry r;
  r.upsert(worker("http://a", {"m"}, 0.00001), kStart);
  r.upsert(worker("http://b", {"m"}, -5), kStart);
  EXPECT_EQ(r.pick("m", DispatchMethod::kLottery, 0.5), std::nullopt);
  EXPECT_EQ(r.pick("none", DispatchMethod::kLottery, 0.5), std::nullopt);
  // A negative speed counts as nothing beside a positive one.
  r.upsert(worker("http://c", {"m"}, 1), kStart);
  for (double d : {0.001, 0.5, 0.999})
    EXPECT_EQ(r.pick("m", DispatchMethod::kLottery, d), "http://c");
}

TEST(Registry, RemoveAndTakeAll) {
  Registry r;
  r.upsert(worker("http://a", {"m"}), kStart);
  r.upsert(worker("http://b", {"n"}), kStart);
  EXPECT_TRUE(r.remove("http://a"));
  EXPECT_FALSE(r.remove("http://a"));
  const auto all = r.take_all();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].name, "http://b");
  EXPECT_TRUE(r.workers().empty());
  EXPECT_TRUE(r.models().empty());
}

}  // namespace
}  // namespace shepherd::fastchat
