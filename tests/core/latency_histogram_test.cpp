// tests/core/latency_histogram_test.cpp: exact then bucketed percentiles; one writer, many readers.
// SPDX-License-Identifier: Apache-2.0
#include <serendip/latency_histogram.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <random>
#include <thread>
#include <vector>

namespace serendip {
namespace {

using Samples = std::vector<std::uint64_t>;

constexpr std::uint64_t stress_samples = SERENDIP_TEST_SCALE_DOWN ? 20'000 : 500'000;

/// The nearest-rank percentile of `samples`: the smallest value with at least q of them at or
/// below it.
std::uint64_t reference(Samples samples, double q) {
  std::sort(samples.begin(), samples.end());
  const double exact_rank = q * static_cast<double>(samples.size());
  const auto rank = static_cast<std::size_t>(std::ceil(exact_rank - 1e-9));
  return samples[std::max<std::size_t>(rank, 1) - 1];
}

LatencyHistogram::Summary record_all(LatencyHistogram& uut, const Samples& samples) {
  for (std::uint64_t ns : samples) uut.record(ns);
  return uut.summary();
}

void expect_within_a_bucket(std::uint64_t got, std::uint64_t want) {
  const double error = std::abs(static_cast<double>(got) - static_cast<double>(want));
  EXPECT_LE(error, 0.125 * static_cast<double>(want)) << "got " << got << ", want about " << want;
}

void expect_percentiles_within_a_bucket(const Samples& samples) {
  LatencyHistogram uut;
  const auto s = record_all(uut, samples);
  expect_within_a_bucket(s.p50_ns, reference(samples, 0.50));
  expect_within_a_bucket(s.p95_ns, reference(samples, 0.95));
  expect_within_a_bucket(s.p99_ns, reference(samples, 0.99));
}

TEST(LatencyHistogram, an_empty_histogram_summarises_to_all_zeros) {
  LatencyHistogram uut;
  const auto s = uut.summary();
  EXPECT_EQ(s.count, 0u);
  EXPECT_EQ(s.sum_ns, 0u);
  EXPECT_EQ(s.max_ns, 0u);
  EXPECT_EQ(s.p50_ns, 0u);
  EXPECT_EQ(s.p95_ns, 0u);
  EXPECT_EQ(s.p99_ns, 0u);
}

TEST(LatencyHistogram, up_to_eight_samples_give_exact_nearest_rank_percentiles) {
  const Samples all = {9'000, 120, 77'777'777, 3, 120, 5'000'001, 640, 2'222};
  for (std::size_t n = 1; n <= LatencyHistogram::inline_samples; ++n) {
    const Samples samples(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(n));
    LatencyHistogram uut;
    const auto s = record_all(uut, samples);
    SCOPED_TRACE(n);
    EXPECT_EQ(s.count, n);
    EXPECT_EQ(s.sum_ns, std::accumulate(samples.begin(), samples.end(), std::uint64_t{0}));
    EXPECT_EQ(s.max_ns, *std::max_element(samples.begin(), samples.end()));
    EXPECT_EQ(s.p50_ns, reference(samples, 0.50));
    EXPECT_EQ(s.p95_ns, reference(samples, 0.95));
    EXPECT_EQ(s.p99_ns, reference(samples, 0.99));
  }
}

TEST(LatencyHistogram, the_ninth_sample_spills_into_buckets_that_keep_the_first_eight) {
  LatencyHistogram uut;
  for (int i = 0; i < 8; ++i) uut.record(100);
  EXPECT_EQ(uut.summary().p99_ns, 100u);
  uut.record(1'000'000);
  const auto s = uut.summary();
  EXPECT_EQ(s.count, 9u);
  EXPECT_EQ(s.sum_ns, 8 * 100 + 1'000'000u);
  EXPECT_EQ(s.max_ns, 1'000'000u);
  expect_within_a_bucket(s.p50_ns, 100);  // the eight inline samples were folded in
  expect_within_a_bucket(s.p99_ns, 1'000'000);
  uut.record(100);
  EXPECT_EQ(uut.summary().count, 10u);
}

TEST(LatencyHistogram, durations_below_sixteen_nanoseconds_stay_exact_after_spilling) {
  Samples samples;
  for (std::uint64_t i = 0; i < 1'000; ++i) samples.push_back(i % 16);
  LatencyHistogram uut;
  const auto s = record_all(uut, samples);
  EXPECT_EQ(s.p50_ns, reference(samples, 0.50));
  EXPECT_EQ(s.p95_ns, reference(samples, 0.95));
  EXPECT_EQ(s.p99_ns, reference(samples, 0.99));
}

TEST(LatencyHistogram, percentiles_of_a_uniform_spread_are_within_a_bucket) {
  std::mt19937_64 rng(1);
  std::uniform_int_distribution<std::uint64_t> dist(1'000, 2'000'000);
  Samples samples(10'000);
  for (auto& ns : samples) ns = dist(rng);
  expect_percentiles_within_a_bucket(samples);
}

TEST(LatencyHistogram, percentiles_of_a_long_tailed_spread_are_within_a_bucket) {
  std::mt19937_64 rng(2);
  std::lognormal_distribution<double> dist(8.0, 2.0);  // median ~3 us, tail to seconds
  Samples samples(10'000);
  for (auto& ns : samples) ns = static_cast<std::uint64_t>(dist(rng));
  expect_percentiles_within_a_bucket(samples);
}

TEST(LatencyHistogram, percentiles_of_two_far_apart_clusters_are_within_a_bucket) {
  std::mt19937_64 rng(3);
  std::normal_distribution<double> fast(700.0, 50.0);
  std::normal_distribution<double> slow(40'000'000.0, 1'000'000.0);
  Samples samples(10'000);
  for (std::size_t i = 0; i < samples.size(); ++i) {
    samples[i] = static_cast<std::uint64_t>(i % 10 < 9 ? fast(rng) : slow(rng));
  }
  expect_percentiles_within_a_bucket(samples);
}

TEST(LatencyHistogram, one_repeated_duration_is_reported_within_a_bucket_and_never_above_it) {
  LatencyHistogram uut;
  const auto s = record_all(uut, Samples(100, 123'456));
  expect_within_a_bucket(s.p50_ns, 123'456);
  EXPECT_LE(s.p99_ns, 123'456u);
  EXPECT_EQ(s.max_ns, 123'456u);
  EXPECT_EQ(s.sum_ns, 100 * 123'456u);
}

TEST(LatencyHistogram, durations_past_the_clamp_share_the_last_bucket_but_keep_sum_and_max) {
  const std::uint64_t huge = std::uint64_t{1} << 50;
  Samples samples(16, huge);
  samples.push_back(LatencyHistogram::clamp_ns);
  LatencyHistogram uut;
  const auto s = record_all(uut, samples);
  EXPECT_EQ(s.count, 17u);
  EXPECT_EQ(s.sum_ns, 16 * huge + LatencyHistogram::clamp_ns);
  EXPECT_EQ(s.max_ns, huge);
  // The last bucket starts at 15/16 of the clamp; its midpoint is below the clamp.
  const std::uint64_t last_bucket_low = LatencyHistogram::clamp_ns / 16 * 15;
  EXPECT_GE(s.p50_ns, last_bucket_low);
  EXPECT_LT(s.p50_ns, LatencyHistogram::clamp_ns);
  EXPECT_EQ(s.p99_ns, s.p50_ns);
}

TEST(LatencyHistogram, count_sum_and_max_are_exact_however_many_samples) {
  LatencyHistogram uut;
  std::uint64_t sum = 0;
  std::uint64_t max = 0;
  for (std::uint64_t i = 1; i <= 100'000; ++i) {
    const std::uint64_t ns = (i * 7'919) % 1'000'003;
    uut.record(ns);
    sum += ns;
    max = std::max(max, ns);
  }
  const auto s = uut.summary();
  EXPECT_EQ(s.count, 100'000u);
  EXPECT_EQ(s.sum_ns, sum);
  EXPECT_EQ(s.max_ns, max);
}

TEST(LatencyHistogram, readers_see_consistent_summaries_while_one_writer_records) {
  LatencyHistogram uut;
  std::atomic<bool> done{false};
  auto read = [&] {
    std::uint64_t last_count = 0;
    for (;;) {
      const bool last = done.load(std::memory_order_acquire);
      const auto s = uut.summary();
      EXPECT_GE(s.count, last_count);
      if (s.count > 0) {
        EXPECT_LE(s.p50_ns, s.p95_ns);
        EXPECT_LE(s.p95_ns, s.p99_ns);
        EXPECT_LE(s.p99_ns, s.max_ns);
        EXPECT_GE(s.p50_ns, 1u);
        EXPECT_LE(s.max_ns, stress_samples);
      }
      last_count = s.count;
      if (last) return;
    }
  };
  std::vector<std::thread> readers;
  for (int i = 0; i < 2; ++i) readers.emplace_back(read);
  std::thread writer([&] {
    for (std::uint64_t ns = 1; ns <= stress_samples; ++ns) uut.record(ns);
    done.store(true, std::memory_order_release);
  });
  writer.join();
  for (auto& r : readers) r.join();
  const auto s = uut.summary();
  EXPECT_EQ(s.count, stress_samples);
  EXPECT_EQ(s.max_ns, stress_samples);
  EXPECT_EQ(s.sum_ns, stress_samples * (stress_samples + 1) / 2);
  expect_within_a_bucket(s.p50_ns, stress_samples / 2);
}

}  // namespace
}  // namespace serendip
