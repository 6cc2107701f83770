// tests/core/http_retry_test.cpp: which responses are retried, the full-jitter backoff and Retry-After parsing.
// SPDX-License-Identifier: Apache-2.0
#include <serendip/http/retry.hpp>

#include <gtest/gtest.h>

#include <climits>

namespace serendip::http {
namespace {

using namespace std::chrono_literals;
using std::chrono::milliseconds;

// 1445412480 is Wed, 21 Oct 2015 07:28:00 GMT.
const auto kDate = std::chrono::system_clock::from_time_t(1445412480);

TEST(Retry, only_the_try_again_later_statuses_are_retryable) {
  for (long status : {429L, 500L, 502L, 503L, 504L}) EXPECT_TRUE(retryable_status(status)) << status;
  for (long status : {0L, 200L, 301L, 400L, 401L, 404L, 501L, 505L}) {
    EXPECT_FALSE(retryable_status(status)) << status;
  }
}

TEST(Retry, the_backoff_ceiling_doubles_per_retry_up_to_the_max_delay) {
  const RetryPolicy policy{10, 100ms, 1000ms};
  EXPECT_EQ(backoff_ceiling(policy, 1), 100ms);
  EXPECT_EQ(backoff_ceiling(policy, 2), 200ms);
  EXPECT_EQ(backoff_ceiling(policy, 3), 400ms);
  EXPECT_EQ(backoff_ceiling(policy, 4), 800ms);
  EXPECT_EQ(backoff_ceiling(policy, 5), 1000ms);
  EXPECT_EQ(backoff_ceiling(policy, INT_MAX), 1000ms);
}

TEST(Retry, full_jitter_draws_spread_over_zero_to_the_ceiling) {
  const RetryPolicy policy{10, 100ms, 1000ms};
  std::mt19937_64 random(42);
  milliseconds low = milliseconds::max();
  milliseconds high = milliseconds::min();
  for (int i = 0; i < 500; ++i) {
    const milliseconds d = backoff_delay(policy, 3, random);
    ASSERT_GE(d, 0ms);
    ASSERT_LE(d, 400ms);
    low = std::min(low, d);
    high = std::max(high, d);
  }
  // Jitter, not a fixed delay: the draws cover most of the range.
  EXPECT_LT(low, 100ms);
  EXPECT_GT(high, 300ms);
}

TEST(Retry, a_zero_base_delay_retries_at_once) {
  std::mt19937_64 random(1);
  EXPECT_EQ(backoff_delay(RetryPolicy{3, 0ms, 1000ms}, 2, random), 0ms);
}

TEST(Retry, retry_after_in_seconds_is_read_with_surrounding_blanks) {
  EXPECT_EQ(parse_retry_after("1", kDate), 1000ms);
  EXPECT_EQ(parse_retry_after(" 120\t", kDate), 120'000ms);
  EXPECT_EQ(parse_retry_after("0", kDate), 0ms);
}

TEST(Retry, retry_after_as_an_http_date_counts_from_now) {
  EXPECT_EQ(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", kDate - 30s), 30'000ms);
  // The obsolete RFC 850 and asctime forms, which HTTP recipients must accept too.
  EXPECT_EQ(parse_retry_after("Wednesday, 21-Oct-15 07:28:00 GMT", kDate - 5s), 5'000ms);
  EXPECT_EQ(parse_retry_after("Wed Oct 21 07:28:00 2015", kDate - 5s), 5'000ms);
}

TEST(Retry, retry_after_as_a_past_date_means_now) {
  EXPECT_EQ(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", kDate + 1h), 0ms);
}

TEST(Retry, garbage_retry_after_is_ignored) {
  for (const char* value : {"", "  ", "soon", "-5", "1.5", "12abc", "GMT",
                            "Wed, 99 Oct 2015 07:28:00 GMT"}) {
    EXPECT_EQ(parse_retry_after(value, kDate), std::nullopt) << '"' << value << '"';
  }
}

TEST(Retry, the_servers_retry_after_wins_over_backoff_but_is_capped_by_the_max_delay) {
  const RetryPolicy policy{3, 10ms, 30'000ms};
  std::mt19937_64 random(7);
  EXPECT_EQ(retry_delay(policy, 1, 2'000ms, random), 2'000ms);
  EXPECT_EQ(retry_delay(policy, 1, 3'600'000ms, random), 30'000ms);
  EXPECT_LE(retry_delay(policy, 1, std::nullopt, random), 10ms);
}

}  // namespace
}  // namespace serendip::http
