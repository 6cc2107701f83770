// src/http/retry.cpp: backoff arithmetic and Retry-After parsing.
// SPDX-License-Identifier: Apache-2.0
#include <serendip/http/retry.hpp>

#include <curl/curl.h>

#include <algorithm>
#include <string>

namespace serendip::http {

namespace {

using std::chrono::milliseconds;

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// delay-seconds is 1*DIGIT; a huge value saturates (the caller caps it at max_delay anyway).
std::optional<milliseconds> parse_seconds(std::string_view s) {
  constexpr long long kMaxSeconds = 1'000'000'000;
  long long seconds = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    seconds = std::min(kMaxSeconds, seconds * 10 + (c - '0'));
  }
  return std::chrono::seconds(seconds);
}

}  // namespace

bool retryable_status(long status) noexcept {
  return status == 429 || status == 500 || status == 502 || status == 503 || status == 504;
}

milliseconds backoff_ceiling(const RetryPolicy& policy, int retry) noexcept {
  milliseconds ceiling = std::max(policy.base_delay, milliseconds::zero());
  // Doubling stops at max_delay, so no retry count can overflow it.
  for (int i = 1; i < retry && ceiling < policy.max_delay; ++i) ceiling *= 2;
  return std::min(ceiling, policy.max_delay);
}

milliseconds backoff_delay(const RetryPolicy& policy, int retry, std::mt19937_64& random) {
  const milliseconds ceiling = backoff_ceiling(policy, retry);
  if (ceiling <= milliseconds::zero()) return milliseconds::zero();
  std::uniform_int_distribution<milliseconds::rep> pick(0, ceiling.count());
  return milliseconds(pick(random));
}

std::optional<milliseconds> parse_retry_after(std::string_view value,
                                              std::chrono::system_clock::time_point now) {
  value = trim(value);
  if (value.empty()) return std::nullopt;
  if (value.front() >= '0' && value.front() <= '9') {
    if (auto seconds = parse_seconds(value)) return seconds;
  }
  const std::string text(value);  // curl_getdate wants a terminated string
  const time_t at = curl_getdate(text.c_str(), nullptr);
  if (at < 0) return std::nullopt;
  const auto when = std::chrono::system_clock::from_time_t(at);
  if (when <= now) return milliseconds::zero();
  return std::chrono::duration_cast<milliseconds>(when - now);
}

milliseconds retry_delay(const RetryPolicy& policy, int retry,
                         std::optional<milliseconds> retry_after, std::mt19937_64& random) {
  if (retry_after) return std::min(std::max(*retry_after, milliseconds::zero()), policy.max_delay);
  return backoff_delay(policy, retry, random);
}

}  // namespace serendip::http
