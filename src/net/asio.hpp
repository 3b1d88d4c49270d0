// Common Asio/Beast names for the I/O shell.
#pragma once

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <chrono>

namespace shepherd::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;
using boost::system::error_code;
using Clock = std::chrono::steady_clock;

// Completion token for coroutines: errors come back as values in a tuple, never as exceptions.
inline constexpr auto kUseTuple = asio::as_tuple(asio::use_awaitable);

}  // namespace shepherd::net
