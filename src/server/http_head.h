// Checks of a request head that Beast's parser leaves to the server (issue 22), apart from the
// connection code so that the HTTP head fuzz target reaches them too.
#pragma once

#include <boost/beast/http/fields.hpp>
#include <string>

namespace hayate::server {

// Request smuggling: a head whose body length two hops could read differently is refused rather
// than guessed at (RFC 9112 6.3: Transfer-Encoding with Content-Length, several Content-Lengths,
// a transfer coding other than chunked alone). The message for the 400, or empty when the framing
// is sound.
std::string framing_error(const boost::beast::http::fields& head);

}  // namespace hayate::server
