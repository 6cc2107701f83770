// include/serendip/latency_histogram.hpp: durations from one writer, percentiles for any reader.
// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>

namespace serendip {

/// Durations in nanoseconds recorded by one writer at a time (the agent's owner: its home loop
/// thread or the scheduler worker running it) and summarised by any thread.
///
/// Storage: the first `inline_samples` durations are kept exactly, in the object (no
/// allocation), so an agent that handles a few messages costs 96 bytes per histogram. The
/// next sample allocates a bucket array once (2,432 bytes) and folds them into it. Buckets
/// are log-linear: exact below 16 ns, then 8 per power of two, so a bucket spans at most
/// 12.5% of its lower bound; durations of 2^40 ns (about 18 minutes) or more share the last.
///
/// Members: every word is an atomic written only by the writer, with relaxed load + store;
/// `count_` is stored last with release, so a reader that acquires it sees the samples and
/// the bucket array that came before. Inline samples are never rewritten once counted.
class LatencyHistogram {
 public:
  /// Samples kept exactly before the histogram spills into buckets.
  static constexpr std::size_t inline_samples = 8;
  /// Durations at or above this share the last bucket.
  static constexpr std::uint64_t clamp_ns = std::uint64_t{1} << 40;

  /// What a reader sees. Percentiles are nearest-rank: exact while `count` ≤ 8, else the
  /// midpoint of the bucket holding that rank (within 6.25%), never above `max_ns`.
  /// All zero when nothing was recorded.
  struct Summary {
    std::uint64_t count = 0;
    std::uint64_t sum_ns = 0;
    std::uint64_t max_ns = 0;
    std::uint64_t p50_ns = 0;
    std::uint64_t p95_ns = 0;
    std::uint64_t p99_ns = 0;
  };

  LatencyHistogram() = default;
  ~LatencyHistogram();
  LatencyHistogram(const LatencyHistogram&) = delete;
  LatencyHistogram& operator=(const LatencyHistogram&) = delete;

  /// Adds one duration. Cost: a few plain loads and stores, no lock, no read-modify-write;
  /// one allocation in the histogram's life (the 9th sample). Owner only: one writer at a time.
  void record(std::uint64_t ns) noexcept;

  /// Count, sum, max and p50/p95/p99. A summary taken while the writer records may be slightly
  /// inconsistent across fields (a sum or max that already includes a sample the count does
  /// not). Thread-safe.
  Summary summary() const;

 private:
  static constexpr std::size_t bucket_count = 304;  // 16 exact + 36 powers of two × 8
  using Buckets = std::array<std::atomic<std::uint64_t>, bucket_count>;

  void spill() noexcept;
  Summary summarise_inline(Summary s) const;
  Summary summarise_buckets(Summary s) const;

  std::atomic<std::uint64_t> count_{0};
  std::atomic<std::uint64_t> sum_{0};
  std::atomic<std::uint64_t> max_{0};
  std::array<std::atomic<std::uint64_t>, inline_samples> inline_{};
  std::atomic<Buckets*> buckets_{nullptr};  // null until the 9th sample; owned
};

// Agents are many and most handle few messages: keep the unspilled histogram this small.
static_assert(sizeof(LatencyHistogram) <= 96);

}  // namespace serendip
