// The Lua scripts RedisLimiter runs in Redis. Each runs atomically, so every instance sees the
// counts another left, and a check and its count can never be split by another instance's.
//
// Keys (every name starts with "shepherd:"; KEY is the virtual key's id):
//   shepherd:w:KEY:WINDOW   hash  r = requests admitted, t = tokens settled in the minute window
//                                 starting at WINDOW (Unix ms); expires 2 minutes after its
//                                 last change
//   shepherd:p:KEY          hash  HOLDER = requests of that holder admitted and not settled;
//                                 expires an hour after its last change
//   shepherd:b:KEY:PERIOD   hash  spent = settled micro-dollars in the budget period starting
//                                 at PERIOD, r:HOLDER = that holder's reservations; expires a day
//                                 after the period ends (never for a total budget, PERIOD 0)
//   shepherd:holders        zset  HOLDER → its last heartbeat (Unix ms)
//   shepherd:instances      zset  instance id → its last heartbeat; its size is N
// A holder is one limiter's generation ("INSTANCE/LOOP.GENERATION"). Slots and reservations are
// kept per holder so that those of a holder whose heartbeat lapsed (a dead instance, or a
// generation given up after a failed call) stop counting: a script that meets them removes them.
// Liveness compares the instances' clocks: they must agree to well within dead_after (NTP).
//
// Amounts reach Redis as the strings they came in (ARGV): Lua would print a number of more than
// 14 digits in exponent form, which HINCRBY refuses.
#pragma once

#include <string_view>

namespace shepherd::limits::scripts {

// Shared by the scripts that count holders' fields: the sum of the fields of hash `key` named
// `prefix .. HOLDER` whose holder is `self` or has a heartbeat in zset `holders` since
// `dead_before`. With `remove`, the fields of dead holders are deleted.
#define SHEPHERD_LIVE_SUM                                                      \
  "local function live_sum(key, prefix, self, dead_before, remove, holders)\n" \
  "  local sum = 0\n"                                                          \
  "  local all = redis.call('HGETALL', key)\n"                                 \
  "  for i = 1, #all, 2 do\n"                                                  \
  "    local field = all[i]\n"                                                 \
  "    if string.sub(field, 1, #prefix) == prefix then\n"                      \
  "      local holder = string.sub(field, #prefix + 1)\n"                      \
  "      local alive = holder == self\n"                                       \
  "      if not alive then\n"                                                  \
  "        local beat = redis.call('ZSCORE', holders, holder)\n"               \
  "        alive = beat and tonumber(beat) >= dead_before\n"                   \
  "      end\n"                                                                \
  "      if alive then\n"                                                      \
  "        sum = sum + tonumber(all[i + 1])\n"                                 \
  "      elseif remove then\n"                                                 \
  "        redis.call('HDEL', key, field)\n"                                   \
  "      end\n"                                                                \
  "    end\n"                                                                  \
  "  end\n"                                                                    \
  "  return sum\n"                                                             \
  "end\n"

// Admission. KEYS: window, parallel, budget hashes, holders zset.
// ARGV: holder, now, dead_before, rpm, tpm, max_parallel, budget (micro-dollars; -1 for none
// of these limits), reservation, window TTL (ms), parallel TTL (ms), budget expiry (Unix ms,
// 0: none).
// Returns {refusal, spent}: 0 admitted, 1 rpm, 2 tpm, 3 parallel, 4 budget; spent is the
// period's settled spend (0 without a budget).
inline constexpr std::string_view kAdmit = SHEPHERD_LIVE_SUM
    "local holder, dead_before = ARGV[1], tonumber(ARGV[3])\n"
    "local rpm, tpm = tonumber(ARGV[4]), tonumber(ARGV[5])\n"
    "local parallel, budget = tonumber(ARGV[6]), tonumber(ARGV[7])\n"
    "local reserve = tonumber(ARGV[8])\n"
    "if rpm >= 0 and tonumber(redis.call('HGET', KEYS[1], 'r') or '0') >= rpm then\n"
    "  return {1, 0}\n"
    "end\n"
    "if tpm >= 0 and tonumber(redis.call('HGET', KEYS[1], 't') or '0') >= tpm then\n"
    "  return {2, 0}\n"
    "end\n"
    "if parallel >= 0 and live_sum(KEYS[2], '', holder, dead_before, true, KEYS[4]) >= parallel "
    "then\n"
    "  return {3, 0}\n"
    "end\n"
    "local spent = 0\n"
    "if budget >= 0 then\n"
    "  spent = tonumber(redis.call('HGET', KEYS[3], 'spent') or '0')\n"
    "  local reserved = live_sum(KEYS[3], 'r:', holder, dead_before, true, KEYS[4])\n"
    "  if spent + reserved + reserve > budget then return {4, spent} end\n"
    "end\n"
    // A holder is known from its first admission on, before its first heartbeat.
    "redis.call('ZADD', KEYS[4], 'NX', ARGV[2], holder)\n"
    "redis.call('HINCRBY', KEYS[1], 'r', 1)\n"
    "redis.call('PEXPIRE', KEYS[1], ARGV[9])\n"
    "if parallel >= 0 then\n"
    "  redis.call('HINCRBY', KEYS[2], holder, 1)\n"
    "  redis.call('PEXPIRE', KEYS[2], ARGV[10])\n"
    "end\n"
    "if budget >= 0 then\n"
    // The period is counted from now on: a figure from the store arriving later is not applied.
    "  redis.call('HSETNX', KEYS[3], 'spent', 0)\n"
    "  if reserve > 0 then redis.call('HINCRBY', KEYS[3], 'r:' .. holder, ARGV[8]) end\n"
    "  if tonumber(ARGV[11]) > 0 then redis.call('PEXPIREAT', KEYS[3], ARGV[11]) end\n"
    "end\n"
    "return {0, spent}\n";

// Settling. KEYS: window (of the settle's time), parallel, budget (of the ticket's period).
// ARGV: holder, tokens, holds_parallel (0/1), budgeted (0/1), reservation, cost, window TTL,
// budget expiry (Unix ms, 0: none; only set on a hash without one, which a late settle created).
inline constexpr std::string_view kSettle =
    "local holder, tokens = ARGV[1], tonumber(ARGV[2])\n"
    "if tokens > 0 then\n"
    "  redis.call('HINCRBY', KEYS[1], 't', ARGV[2])\n"
    "  redis.call('PEXPIRE', KEYS[1], ARGV[7])\n"
    "end\n"
    "if ARGV[3] == '1' then\n"
    // A holder's count may be gone (expired, or removed while its heartbeat lapsed): never below 0.
    "  local n = tonumber(redis.call('HGET', KEYS[2], holder) or '0')\n"
    "  if n > 1 then redis.call('HINCRBY', KEYS[2], holder, -1)\n"
    "  elseif n == 1 then redis.call('HDEL', KEYS[2], holder) end\n"
    "end\n"
    "if ARGV[4] == '1' then\n"
    "  local field, reserved = 'r:' .. holder, tonumber(ARGV[5])\n"
    "  local r = tonumber(redis.call('HGET', KEYS[3], field) or '0')\n"
    "  if r > reserved then redis.call('HINCRBY', KEYS[3], field, '-' .. ARGV[5])\n"
    "  elseif r > 0 then redis.call('HDEL', KEYS[3], field) end\n"
    "  local cost = tonumber(ARGV[6])\n"
    "  if cost > 0 then redis.call('HINCRBY', KEYS[3], 'spent', ARGV[6]) end\n"
    "  local expire_at = tonumber(ARGV[8])\n"
    "  if expire_at > 0 and redis.call('PTTL', KEYS[3]) == -1 then\n"
    "    redis.call('PEXPIREAT', KEYS[3], expire_at)\n"
    "  end\n"
    "end\n"
    "return 0\n";

// A period's spend as the store counted it, applied only while the period has no count.
// KEYS: budget. ARGV: spent, expiry (Unix ms, 0: none). Returns 1 when applied.
inline constexpr std::string_view kSeed =
    "if redis.call('HSETNX', KEYS[1], 'spent', ARGV[1]) == 0 then return 0 end\n"
    "if tonumber(ARGV[2]) > 0 then redis.call('PEXPIREAT', KEYS[1], ARGV[2]) end\n"
    "return 1\n";

// Spent and reserved micro-dollars of a period (reservations of live holders only).
// KEYS: budget, holders zset. ARGV: holder, dead_before. Returns {spent, reserved}.
inline constexpr std::string_view kSpend = SHEPHERD_LIVE_SUM
    "local spent = tonumber(redis.call('HGET', KEYS[1], 'spent') or '0')\n"
    "return {spent, live_sum(KEYS[1], 'r:', ARGV[1], tonumber(ARGV[2]), false, KEYS[2])}\n";

#undef SHEPHERD_LIVE_SUM

}  // namespace shepherd::limits::scripts
