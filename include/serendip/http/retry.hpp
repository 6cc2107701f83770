// include/serendip/http/retry.hpp: when a failed HTTP attempt is tried again, and after how long.
// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <chrono>
#include <optional>
#include <random>
#include <string_view>

namespace serendip::http {

/// How a request is retried: on HTTP 429, 500, 502, 503 and 504 and on connect or transport
/// errors, never once a body chunk reached the caller. The wait before retry `n` (1 for the
/// first retry) is the server's `Retry-After` when it sent one, else a full-jitter exponential
/// backoff: uniform in [0, min(max_delay, base_delay * 2^(n-1))]; either way at most
/// `max_delay`. A plain value; copy freely.
struct RetryPolicy {
  int max_attempts = 3;                            ///< attempts in all, the first included; 1 = no retry
  std::chrono::milliseconds base_delay{500};       ///< backoff ceiling of the first retry
  std::chrono::milliseconds max_delay{30'000};     ///< cap on every wait, Retry-After included
};

/// True for the statuses a server uses for "try again later": 429, 500, 502, 503, 504.
/// Thread-safe.
bool retryable_status(long status) noexcept;

/// The backoff ceiling before retry `retry` (1-based): min(max_delay, base_delay * 2^(retry-1)),
/// without overflow for any `retry`. Thread-safe.
std::chrono::milliseconds backoff_ceiling(const RetryPolicy& policy, int retry) noexcept;

/// A full-jitter wait before retry `retry`: uniform in [0, backoff_ceiling]. Thread-safe if
/// `random` is not shared between threads.
std::chrono::milliseconds backoff_delay(const RetryPolicy& policy, int retry,
                                        std::mt19937_64& random);

/// Reads a `Retry-After` value: delay-seconds ("120") or an HTTP-date in any of the three
/// forms HTTP allows ("Wed, 21 Oct 2015 07:28:00 GMT"); a date in the past gives zero.
/// `nullopt` for anything else (negative or fractional numbers, garbage). Not capped: the
/// caller applies `max_delay`. Thread-safe (dates are parsed by libcurl's `curl_getdate`).
std::optional<std::chrono::milliseconds> parse_retry_after(
    std::string_view value, std::chrono::system_clock::time_point now);

/// The wait before retry `retry`: the server's `retry_after` when it gave one, else
/// `backoff_delay`; capped at `policy.max_delay`. Thread-safe under the same rule as
/// `backoff_delay`.
std::chrono::milliseconds retry_delay(const RetryPolicy& policy, int retry,
                                      std::optional<std::chrono::milliseconds> retry_after,
                                      std::mt19937_64& random);

}  // namespace serendip::http
