// A Redis client for the event loops: one TCP connection, commands pipelined on it (several in
// flight, replies matched to them in order), a deadline on every call. hiredis only encodes
// commands and decodes replies (RESP); all I/O is Asio's, on the owning loop.
//
// Failures are values: a call that cannot be sent (no connection, a dial in back-off, the client
// closed) or gets no answer by its deadline fails with a retryable kUnavailable error. A missed
// deadline drops the connection (the replies still due would arrive out of step with the calls
// waiting), failing the other calls on it; the next call dials again, but not before a short
// back-off that doubles while dialling keeps failing, so a dead Redis costs no connect storm.
// An error *reply* (a Redis "-ERR ...") is not a failure of the call: it comes back as a
// RedisReply of type kError.
//
// Not thread-safe: a client belongs to one event loop, and every method is called on it.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.hpp"
#include "net/asio.hpp"

namespace shepherd::limits {

struct RedisReply {
  enum class Type { kString, kArray, kInteger, kNil, kStatus, kError };
  Type type = Type::kNil;
  std::int64_t integer = 0;          // kInteger
  std::string str;                   // kString, kStatus and kError
  std::vector<RedisReply> elements;  // kArray

  bool is_error() const { return type == Type::kError; }
};

// redis://[[user]:password@]host[:port][/db]: AUTH (with the user when one is given) and SELECT
// are sent on every new connection.
struct RedisUrl {
  std::string host;
  std::uint16_t port = 6379;
  std::string user;
  std::string password;
  int db = 0;
};
// Errors (kBadRequest) name what is wrong without repeating the password.
base::Result<RedisUrl> parse_redis_url(std::string_view url);

struct RedisClientOptions {
  std::string url;
  std::chrono::milliseconds deadline{50};          // per call, from its start to its reply
  std::chrono::milliseconds connect_timeout{500};  // DNS, TCP and the connection's first commands
  std::chrono::milliseconds backoff_min{100};      // no dial this long after a failure...
  std::chrono::milliseconds backoff_max{2000};     // ...doubling up to this while dials fail
};

class RedisClient {
 public:
  using Command = std::vector<std::string>;  // the command's name and its arguments

  // Dials nothing yet: the first call does. Throws std::invalid_argument for a malformed URL (a
  // start-up error).
  RedisClient(net::Executor executor, RedisClientOptions options);
  // Closes the connection (close()); calls still waiting fail once the loop resumes them.
  ~RedisClient();
  RedisClient(const RedisClient&) = delete;
  RedisClient& operator=(const RedisClient&) = delete;

  // Commands to send on every new connection after AUTH and SELECT, before any call's, and what
  // to do with their replies (called on the loop, before the calls waiting for the connection
  // resume). An error reply among them fails the connection.
  void set_on_connect(std::vector<Command> commands,
                      std::function<void(const std::vector<RedisReply>&)> on_replies);

  // One command; its reply, or a transport failure. The command is encoded before this returns:
  // it need not outlive the call.
  net::Task<base::Result<RedisReply>> command(const Command& command);
  // Several commands sent together; their replies in the same order. One deadline for all.
  net::Task<base::Result<std::vector<RedisReply>>> pipeline(const std::vector<Command>& commands);

  // Closes the connection and fails every call, now and later; stops any dial under way. After
  // it the loop has no work left from this client once it has resumed the failed calls.
  void close();

  bool connected() const;
  // Connections established so far (each needed a dial and a handshake).
  std::uint64_t connections() const;

  struct Core;  // the state shared with the connection's reading and dialling coroutines

 private:
  std::shared_ptr<Core> core_;
};

}  // namespace shepherd::limits
