// Caps on the client connections a process holds open, and the descriptor limit they live in.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <mutex>
#include <unordered_map>

#include "net/asio.hpp"

namespace shepherd::net {

// The client connections of a whole process, across its loops: at most `max_total` open at once
// and at most `max_per_client` from one address (0: no cap). Checked once per accepted
// connection, never per request; the per-address table is only kept when that cap is set.
class ConnectionLimits {
 public:
  enum class Refusal { kNone, kTotal, kPerClient };

  // Held by an admitted connection; gives its place back when destroyed.
  class Ticket {
   public:
    Ticket() = default;
    Ticket(Ticket&& o) noexcept { *this = std::move(o); }
    Ticket& operator=(Ticket&& o) noexcept;
    ~Ticket() { release(); }

   private:
    friend class ConnectionLimits;
    void release();
    ConnectionLimits* limits_ = nullptr;
    std::array<unsigned char, 16> address_{};
    bool per_client_ = false;
  };

  // Any thread (a reload applies new caps to new connections).
  void set(std::size_t max_total, std::size_t max_per_client);
  std::size_t max_total() const { return max_total_.load(std::memory_order_relaxed); }
  std::size_t max_per_client() const { return max_per_client_.load(std::memory_order_relaxed); }

  // kNone (and `ticket` holds the place) or why the connection is refused.
  Refusal admit(const tcp::endpoint& peer, Ticket& ticket);

  std::size_t open() const { return open_.load(std::memory_order_relaxed); }

  // Refusals under way (each holds a descriptor until its 503 is written): at most kMaxRefusing
  // in the process; over that a refused connection is closed at once.
  static constexpr int kMaxRefusing = 64;
  bool begin_refusal();
  void end_refusal() { refusing_.fetch_sub(1, std::memory_order_relaxed); }
  std::uint64_t refused(Refusal why) const {
    return refused_[static_cast<int>(why)].load(std::memory_order_relaxed);
  }

 private:
  struct AddressHash {
    std::size_t operator()(const std::array<unsigned char, 16>& a) const noexcept;
  };
  std::atomic<std::size_t> max_total_{~std::size_t{0}};
  std::atomic<std::size_t> max_per_client_{0};
  std::atomic<std::size_t> open_{0};
  std::array<std::atomic<std::uint64_t>, 3> refused_{};
  std::atomic<int> refusing_{0};
  std::mutex mutex_;
  std::unordered_map<std::array<unsigned char, 16>, std::size_t, AddressHash> per_client_;
};

// Raises the soft RLIMIT_NOFILE to the hard limit; returns the limit now in force.
std::size_t raise_descriptor_limit();
// How many client connections fit in `limit` descriptors: a reserve is kept back (a sixteenth,
// at least 128: listeners, the event loops, the store, logs, refusals under way), and each client
// connection may need an upstream connection beside it, so half of the rest.
std::size_t client_connection_room(std::size_t limit);

}  // namespace shepherd::net
