#include "net/connection_limits.hpp"

#include <sys/resource.h>

#include <algorithm>

namespace shepherd::net {

std::size_t ConnectionLimits::AddressHash::operator()(
    const std::array<unsigned char, 16>& a) const noexcept {
  std::uint64_t h = 1469598103934665603ULL;  // FNV-1a
  for (const auto b : a) h = (h ^ b) * 1099511628211ULL;
  return static_cast<std::size_t>(h);
}

ConnectionLimits::Ticket& ConnectionLimits::Ticket::operator=(Ticket&& o) noexcept {
  if (this != &o) {
    release();
    limits_ = std::exchange(o.limits_, nullptr);
    address_ = o.address_;
    per_client_ = o.per_client_;
  }
  return *this;
}

void ConnectionLimits::Ticket::release() {
  if (!limits_) return;
  auto* l = std::exchange(limits_, nullptr);
  l->open_.fetch_sub(1, std::memory_order_relaxed);
  if (!per_client_) return;
  std::lock_guard lock(l->mutex_);
  if (auto it = l->per_client_.find(address_); it != l->per_client_.end() && --it->second == 0) {
    l->per_client_.erase(it);
  }
}

void ConnectionLimits::set(std::size_t max_total, std::size_t max_per_client) {
  max_total_.store(max_total, std::memory_order_relaxed);
  max_per_client_.store(max_per_client, std::memory_order_relaxed);
}

ConnectionLimits::Refusal ConnectionLimits::admit(const tcp::endpoint& peer, Ticket& ticket) {
  const auto total = max_total_.load(std::memory_order_relaxed);
  if (open_.fetch_add(1, std::memory_order_relaxed) >= total) {
    open_.fetch_sub(1, std::memory_order_relaxed);
    refused_[static_cast<int>(Refusal::kTotal)].fetch_add(1, std::memory_order_relaxed);
    return Refusal::kTotal;
  }
  Ticket admitted;
  admitted.limits_ = this;
  if (const auto cap = max_per_client_.load(std::memory_order_relaxed); cap > 0) {
    const auto a = peer.address();
    admitted.address_ = a.is_v4()
                            ? asio::ip::make_address_v6(asio::ip::v4_mapped, a.to_v4()).to_bytes()
                            : a.to_v6().to_bytes();
    std::lock_guard lock(mutex_);
    auto& n = per_client_[admitted.address_];
    if (n >= cap) {
      refused_[static_cast<int>(Refusal::kPerClient)].fetch_add(1, std::memory_order_relaxed);
      return Refusal::kPerClient;  // `admitted` gives the total place back
    }
    ++n;
    admitted.per_client_ = true;
  }
  ticket = std::move(admitted);
  return Refusal::kNone;
}

std::size_t raise_descriptor_limit() {
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0) return 1024;
  if (rl.rlim_cur < rl.rlim_max) {
    rlimit raised = rl;
    raised.rlim_cur = rl.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) rl = raised;
  }
  return rl.rlim_cur == RLIM_INFINITY ? std::size_t{1} << 20
                                      : static_cast<std::size_t>(rl.rlim_cur);
}

bool ConnectionLimits::begin_refusal() {
  if (refusing_.fetch_add(1, std::memory_order_relaxed) >= kMaxRefusing) {
    refusing_.fetch_sub(1, std::memory_order_relaxed);
    return false;
  }
  return true;
}

std::size_t client_connection_room(std::size_t limit) {
  const auto reserve = std::max<std::size_t>(128, limit / 16);
  return limit > reserve + 2 ? (limit - reserve) / 2 : 1;
}

}  // namespace shepherd::net
