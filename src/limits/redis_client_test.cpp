#include "limits/redis_client.hpp"

#include <gtest/gtest.h>

#include <chrono>

#include "limits/redis_test_support.hpp"

namespace shepherd::limits {
namespace {

namespace asio = net::asio;
using namespace std::chrono_literals;
using net::tcp;
using test::Loop;
using Type = RedisReply::Type;
using Command = RedisClient::Command;

RedisClientOptions options(const std::string& url) {
  RedisClientOptions o;
  o.url = url;
  // Generous: the pass/fail of these tests must not depend on the machine's speed.
  o.deadline = 2000ms;
  o.connect_timeout = 2000ms;
  return o;
}

// A client on its own loop; closed and drained before it goes.
struct Client {
  explicit Client(RedisClientOptions o) : client(loop.executor(), std::move(o)) {}
  ~Client() {
    loop.call([this] { client.close(); });
    loop.finish();
  }
  base::Result<RedisReply> command(Command c) { return loop.run(client.command(c)); }
  // A command expected to succeed with a reply that is not an error.
  void expect_ok(Command c) {
    auto r = command(std::move(c));
    ASSERT_TRUE(r.ok()) << r.error().detail;
    EXPECT_FALSE(r->is_error()) << r->str;
  }

  Loop loop;
  RedisClient client;
};

TEST(RedisUrl, ParsesEveryPart) {
  auto u = parse_redis_url("redis://:s3cret@cache.internal:6380/2");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->host, "cache.internal");
  EXPECT_EQ(u->port, 6380);
  EXPECT_EQ(u->user, "");
  EXPECT_EQ(u->password, "s3cret");
  EXPECT_EQ(u->db, 2);
  u = parse_redis_url("redis://app:p%40ss@[::1]:7000");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->host, "::1");
  EXPECT_EQ(u->user, "app");
  EXPECT_EQ(u->password, "p@ss");
  EXPECT_EQ(u->port, 7000);
  u = parse_redis_url("redis://localhost");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->port, 6379);
  EXPECT_EQ(u->db, 0);
}

TEST(RedisUrl, RejectsMalformedUrlsWithoutShowingThePassword) {
  for (const char* bad : {"http://host:1", "redis://", "redis://:pw@host:0", "redis://host:x",
                          "redis://host:1/db", "redis://:pw@host:70000", "redis://[::1"}) {
    auto u = parse_redis_url(bad);
    ASSERT_FALSE(u.ok()) << bad;
    EXPECT_EQ(u.error().message.find("pw"), std::string::npos) << u.error().message;
  }
  EXPECT_THROW(RedisClient(asio::io_context().get_executor(), RedisClientOptions{}),
               std::invalid_argument);
}

TEST(RedisClient, RepliesOfEveryType) {
  Client c(options(test::shared_redis_url()));
  const auto key = test::unique_key("types");
  auto r = c.command({"SET", key, "v"});
  ASSERT_TRUE(r.ok()) << r.error().detail;
  EXPECT_EQ(r->type, Type::kStatus);
  EXPECT_EQ(r->str, "OK");
  r = c.command({"GET", key});
  EXPECT_EQ(r->type, Type::kString);
  EXPECT_EQ(r->str, "v");
  r = c.command({"GET", key + "-missing"});
  EXPECT_EQ(r->type, Type::kNil);
  r = c.command({"RPUSH", key + "-list", "a", std::string("b\0c", 3)});
  EXPECT_EQ(r->type, Type::kInteger);
  EXPECT_EQ(r->integer, 2);
  r = c.command({"LRANGE", key + "-list", "0", "-1"});
  ASSERT_EQ(r->type, Type::kArray);
  ASSERT_EQ(r->elements.size(), 2u);
  EXPECT_EQ(r->elements[1].str, std::string("b\0c", 3));  // binary-safe
  c.expect_ok({"DEL", key, key + "-list"});
  EXPECT_EQ(c.client.connections(), 1u);
}

TEST(RedisClient, ErrorRepliesAreValuesAndTheConnectionStaysUsable) {
  Client c(options(test::shared_redis_url()));
  const auto key = test::unique_key("error");
  c.expect_ok({"SET", key, "not a number"});
  auto r = c.command({"INCR", key});
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->is_error());
  EXPECT_NE(r->str.find("not an integer"), std::string::npos) << r->str;
  r = c.command({"NO-SUCH-COMMAND"});
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->is_error());
  r = c.command({"DEL", key});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->integer, 1);
  EXPECT_EQ(c.client.connections(), 1u);
}

TEST(RedisClient, PipelinedCallsGetTheirOwnRepliesInOrder) {
  Client c(options(test::shared_redis_url()));
  constexpr int kCalls = 300;
  std::vector<std::string> got(kCalls);
  std::vector<std::future<void>> done;
  for (int i = 0; i < kCalls; ++i) {
    done.push_back(asio::co_spawn(
        c.loop.executor(),
        [&, i]() -> net::Task<void> {
          // Values of different sizes, so that replies split across reads at varied places.
          Command echo{"ECHO",
                       std::to_string(i) + std::string(static_cast<std::size_t>(i * 37), 'x')};
          auto r = co_await c.client.command(echo);
          if (r) got[static_cast<std::size_t>(i)] = r->str;
        },
        asio::use_future));
  }
  for (auto& d : done) d.get();
  for (int i = 0; i < kCalls; ++i) {
    EXPECT_EQ(got[static_cast<std::size_t>(i)],
              std::to_string(i) + std::string(static_cast<std::size_t>(i * 37), 'x'));
  }
  // All of them travelled on one connection.
  EXPECT_EQ(c.client.connections(), 1u);

  const auto key = test::unique_key("pipeline");
  std::vector<Command> batch{{"SET", key, "1"}, {"INCR", key}, {"INCRBY", key, "10"}, {"DEL", key}};
  auto replies = c.loop.run(c.client.pipeline(batch));
  ASSERT_TRUE(replies.ok());
  ASSERT_EQ(replies->size(), 4u);
  EXPECT_EQ((*replies)[1].integer, 2);
  EXPECT_EQ((*replies)[2].integer, 12);
  EXPECT_EQ((*replies)[3].integer, 1);
}

TEST(RedisClient, LargeRepliesArriveWhole) {
  Client c(options(test::shared_redis_url()));
  const auto key = test::unique_key("large");
  std::string value(300'000, 'v');
  value[12'345] = 'w';
  c.expect_ok({"SET", key, value});
  auto r = c.command({"GET", key});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->str, value);
  c.expect_ok({"DEL", key});
}

TEST(RedisClient, AuthenticatesAndSelectsTheDatabase) {
  Client admin(options(test::shared_redis_url()));
  const auto user = test::unique_key("user");
  auto r = admin.command({"ACL", "SETUSER", user, "on", ">pa:ss@word", "~*", "&*", "+@all"});
  ASSERT_TRUE(r.ok());
  ASSERT_FALSE(r->is_error()) << r->str;
  const auto host_port = test::shared_redis_url().substr(std::string("redis://").size());
  const auto key = test::unique_key("db");
  {
    Client c(options("redis://" + user + ":pa%3Ass%40word@" + host_port + "/3"));
    auto set = c.command({"SET", key, "in-3"});
    ASSERT_TRUE(set.ok()) << set.error().detail;
    EXPECT_FALSE(set->is_error()) << set->str;
  }
  EXPECT_EQ(admin.command({"GET", key})->type, Type::kNil);  // not in database 0
  admin.expect_ok({"SELECT", "3"});
  EXPECT_EQ(admin.command({"GET", key})->str, "in-3");
  admin.expect_ok({"DEL", key});
  {
    Client wrong(options("redis://" + user + ":nope@" + host_port));
    auto fail = wrong.command({"PING"});
    ASSERT_FALSE(fail.ok());
    EXPECT_TRUE(fail.error().retryable);
    EXPECT_NE(fail.error().detail.find("AUTH failed"), std::string::npos) << fail.error().detail;
    EXPECT_EQ(fail.error().detail.find("nope"), std::string::npos);
    EXPECT_EQ(wrong.client.connections(), 0u);
  }
  admin.expect_ok({"ACL", "DELUSER", user});
}

TEST(RedisClient, AServerThatNeverAnswersFailsTheCallAtItsDeadline) {
  // The kernel completes the TCP handshake into the backlog; nothing ever reads or answers.
  asio::io_context io;
  tcp::acceptor silent(io, tcp::endpoint(asio::ip::address_v4::loopback(), 0));
  const auto port = silent.local_endpoint().port();
  auto o = options("redis://127.0.0.1:" + std::to_string(port));
  o.deadline = 100ms;
  o.backoff_min = o.backoff_max = 10s;
  Client c(o);
  const auto start = net::Clock::now();
  auto r = c.command({"PING"});
  const auto elapsed = net::Clock::now() - start;
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, base::ErrorCode::kUnavailable);
  EXPECT_TRUE(r.error().retryable);
  EXPECT_NE(r.error().detail.find("no reply within 100 ms"), std::string::npos) << r.error().detail;
  EXPECT_GE(elapsed, 100ms);
  EXPECT_LT(elapsed, 5s);  // only guards against waiting for ever
  // The connection was dropped, and the next call does not dial again during the back-off.
  EXPECT_FALSE(c.client.connected());
  r = c.command({"PING"});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().detail.find("not dialling again yet"), std::string::npos) << r.error().detail;
}

TEST(RedisClient, ConnectionRefusedFailsAtOnceAndBacksOff) {
  std::uint16_t port;
  {
    asio::io_context io;
    tcp::acceptor probe(io, tcp::endpoint(asio::ip::address_v4::loopback(), 0));
    port = probe.local_endpoint().port();
  }
  auto o = options("redis://127.0.0.1:" + std::to_string(port));
  o.backoff_min = o.backoff_max = 10s;
  Client c(o);
  auto r = c.command({"PING"});
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.error().retryable);
  EXPECT_NE(r.error().detail.find("connect to 127.0.0.1"), std::string::npos) << r.error().detail;
  r = c.command({"PING"});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().detail.find("not dialling again yet"), std::string::npos);
  EXPECT_EQ(c.client.connections(), 0u);
}

TEST(RedisClient, DialsAgainAfterTheServerDroppedTheConnection) {
  auto o = options(test::shared_redis_url());
  o.backoff_min = o.backoff_max = 0ms;
  Client c(o);
  Client killer(options(test::shared_redis_url()));
  auto id = c.command({"CLIENT", "ID"});
  ASSERT_TRUE(id.ok());
  auto killed = killer.command({"CLIENT", "KILL", "ID", std::to_string(id->integer)});
  ASSERT_EQ(killed->integer, 1);
  // The call that meets the closed connection may fail; the one after it dials again.
  auto r = c.command({"PING"});
  if (!r.ok()) r = c.command({"PING"});
  ASSERT_TRUE(r.ok()) << r.error().detail;
  EXPECT_EQ(r->str, "PONG");
  EXPECT_EQ(c.client.connections(), 2u);
}

TEST(RedisClient, CloseFailsWaitingCallsAndLeavesTheLoopWithoutWork) {
  asio::io_context io;
  tcp::acceptor silent(io, tcp::endpoint(asio::ip::address_v4::loopback(), 0));
  asio::io_context loop;
  auto o = options("redis://127.0.0.1:" + std::to_string(silent.local_endpoint().port()));
  o.deadline = 60s;
  RedisClient client(loop.get_executor(), o);
  std::optional<base::Result<RedisReply>> result;
  asio::co_spawn(
      loop,
      [&]() -> net::Task<void> {
        Command ping{"PING"};
        result = co_await client.command(ping);
      },
      asio::detached);
  asio::co_spawn(
      loop,
      [&]() -> net::Task<void> {
        // Once connected (the call is then on its way or waiting for its reply; it fails with
        // "closed" either way).
        const asio::use_awaitable_t<net::Executor> resume;
        while (!client.connected()) co_await asio::post(loop, resume);
        client.close();
      },
      asio::detached);
  loop.run();  // returns only when nothing is left: the 60 s deadline did not hold it
  ASSERT_TRUE(result.has_value());
  ASSERT_FALSE(result->ok());
  EXPECT_NE(result->error().detail.find("closed"), std::string::npos) << result->error().detail;
}

}  // namespace
}  // namespace shepherd::limits
