// Common Asio/Beast names for the I/O shell.
#pragma once

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <chrono>
#include <ctime>

namespace shepherd::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;
using boost::system::error_code;
using Clock = std::chrono::steady_clock;

// steady_clock's timeline (CLOCK_MONOTONIC) read at a few milliseconds' resolution, which is
// cheaper: for deadlines that the loops check every 50 ms anyway.
inline Clock::time_point coarse_now() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return Clock::time_point(std::chrono::duration_cast<Clock::duration>(
      std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec)));
}

// Every loop is one io_context; naming its executor type (rather than any_io_executor) spares
// the type-erased executor copies on every operation of the hot path.
using Executor = asio::io_context::executor_type;
template <typename T>
using Task = asio::awaitable<T, Executor>;
using Socket = tcp::socket::rebind_executor<Executor>::other;
using Acceptor = tcp::acceptor::rebind_executor<Executor>::other;
using Resolver = tcp::resolver::rebind_executor<Executor>::other;
using Timer = asio::steady_timer::rebind_executor<Executor>::other;
using TlsStream = asio::ssl::stream<Socket>;

// Completion token for coroutines: errors come back as values in a tuple, never as exceptions.
inline constexpr auto kUseTuple = asio::as_tuple(asio::use_awaitable_t<Executor>{});

// Writes all of `buffers` to a plain socket in non-blocking mode: directly when the kernel takes
// them, as it does for nearly every answer and request (no suspension and no completion posted
// through the scheduler, which also meant another epoll_wait pass per write), and the rest
// asynchronously when the socket buffer is full.
template <typename Buffers>
Task<error_code> write_all(Socket& socket, Buffers buffers) {
  error_code ec;
  const std::size_t n = socket.write_some(buffers, ec);
  if (!ec && n == asio::buffer_size(buffers)) co_return ec;
  if (ec && ec != asio::error::would_block && ec != asio::error::try_again) co_return ec;
  beast::buffers_suffix<Buffers> rest(buffers);
  rest.consume(ec ? 0 : n);
  auto [wec, wn] = co_await asio::async_write(socket, rest, kUseTuple);
  co_return wec;
}

}  // namespace shepherd::net
