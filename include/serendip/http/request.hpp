// include/serendip/http/request.hpp: one HTTP request as the caller describes it, and how it ended.
// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <serendip/http/retry.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace serendip::http {

/// Identifies one submitted request within its HttpClient; never 0.
using RequestId = std::uint64_t;

/// Header fields in order, names as written; a name may repeat.
using Headers = std::vector<std::pair<std::string, std::string>>;

/// What to send and how long to let it take. A plain value: the client moves it onto its I/O
/// thread at submit and keeps it until the request ends (retries resend the same bytes).
struct Request {
  std::string method = "GET";  ///< any token; a body is sent whenever one is given
  std::string url;             ///< http:// or https://; other schemes fail as `transport`
  /// Sent as given. libcurl adds Host, Content-Length and, for a body, a form Content-Type
  /// unless one is given here.
  Headers headers;
  std::string body;
  /// Per attempt: how long the TCP and TLS handshakes may take. 0 = libcurl's default (300 s).
  std::chrono::milliseconds connect_timeout{10'000};
  /// Per attempt: the whole exchange, connect to last byte. 0 = none.
  std::chrono::milliseconds total_timeout{600'000};
  /// Per attempt: the longest silence between received bytes (waiting for the response
  /// head included) before the attempt is aborted. 0 = none, the default: a non-streamed
  /// completion may legitimately be silent for minutes.
  std::chrono::milliseconds idle_timeout{0};
  /// The RateLimiter keys this request passes, in order; empty = starts at once, unlimited.
  /// It waits in each key's FIFO queue in turn and keeps the slot and budget it took at a key
  /// while it waits at the later ones (like nested semaphores), then starts its attempt; the
  /// slots are freed when the attempt ends. E.g. {"agent:7", "provider:openai"}: the agent's
  /// own cap, then the cap every agent of that provider shares. Requests that share keys must
  /// list them in the same relative order, as with nested locks: two that hold one key each
  /// while waiting for the other's could wait forever. ("" is a key like any other.)
  std::vector<std::string> limit_keys;
  /// This request's weight in the tokens-per-minute budget of each of its keys.
  std::uint64_t estimated_tokens = 0;
  RetryPolicy retry;
  /// Bytes of body (streamed or kept) beyond which the attempt fails as `too_large`.
  std::size_t max_response_bytes = std::size_t{8} << 20;
};

/// How a request ended. Exactly one per submit.
enum class ResponseKind : std::uint8_t {
  ok,          ///< a 2xx response arrived in full
  http_error,  ///< a non-2xx response (after any retries): `status`, `headers`, `body` are set
  timeout,     ///< connect, idle or total timeout; `error` says which
  transport,   ///< refused, unresolvable, reset, malformed, TLS failure...; `error` says which
  too_large,   ///< the body passed `max_response_bytes`
  cancelled,   ///< `HttpClient::cancel` came first
  closed,      ///< `HttpClient::close` came first, or the request was submitted after it
};

/// The end of one request: the last attempt's response, or why there was none.
struct Response {
  ResponseKind kind = ResponseKind::ok;
  long status = 0;    ///< the last response's status; 0 when none arrived
  Headers headers;    ///< the last response's header fields
  std::string body;   ///< the last response's body; empty when it was streamed to `on_chunk`
  std::string error;  ///< why there is no response; empty for `ok` and `http_error`
  int attempts = 0;   ///< attempts started (0 when it ended while waiting for its first)

  /// The first header field named `name` (ASCII case-insensitive), or nullopt. O(fields).
  std::optional<std::string_view> header(std::string_view name) const {
    for (const auto& [key, value] : headers) {
      if (equal_ignoring_case(key, name)) return value;
    }
    return std::nullopt;
  }

 private:
  static bool equal_ignoring_case(std::string_view a, std::string_view b) {
    auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; };
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
      if (lower(a[i]) != lower(b[i])) return false;
    }
    return true;
  }
};

}  // namespace serendip::http
