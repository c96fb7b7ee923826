// The Boost.Asio headers hayate uses, in one place, for the server, the HTTP client and their
// tests. <utility> comes first: with g++ 12, boost/asio/awaitable.hpp (Boost 1.74) uses
// std::exchange without including it.
#pragma once

// clang-format off
#include <utility>
// clang-format on

// Coroutine frames from plain new/delete rather than Asio's per-thread recycling allocator, whose
// operator new/delete pair g++ 12 wrongly reports as mismatched (-Wmismatched-new-delete) in
// sanitizer builds. Every file includes Asio through this header, so all agree on it.
#define BOOST_ASIO_DISABLE_AWAITABLE_FRAME_RECYCLING

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

// In namespace hayate itself, so that server/, net/, bench/ and tests spell them alike.
namespace hayate {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
template <typename T = void>
using awaitable = asio::awaitable<T>;

}  // namespace hayate
