// src/latency_histogram.cpp: recording durations and reading percentiles back.
// SPDX-License-Identifier: Apache-2.0
#include <serendip/latency_histogram.hpp>

#include <algorithm>
#include <bit>

namespace serendip {
namespace {

constexpr std::uint64_t exact_below = 16;
constexpr int sub_bits = 3;  // 8 sub-buckets per power of two

std::size_t bucket_of(std::uint64_t ns) noexcept {
  ns = std::min(ns, LatencyHistogram::clamp_ns - 1);
  if (ns < exact_below) return static_cast<std::size_t>(ns);
  const int exponent = std::bit_width(ns) - 1;  // 4 .. 39
  const int shift = exponent - sub_bits;
  return static_cast<std::size_t>((exponent - 2) * 8) + ((ns >> shift) & 7);
}

/// The middle of bucket `index`: at most half a bucket (6.25%) from any value in it.
std::uint64_t midpoint_of(std::size_t index) noexcept {
  if (index < exact_below) return index;
  const int shift = static_cast<int>(index / 8) - 1;  // exponent - sub_bits
  const std::uint64_t low = (8 + index % 8) << shift;
  return low + ((std::uint64_t{1} << shift) >> 1);
}

void bump(std::atomic<std::uint64_t>& counter) noexcept {
  counter.store(counter.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
}

// p50, p95, p99 in thousandths: integer ranks, free of floating-point rounding at the edges.
constexpr std::uint64_t quantiles_permille[] = {500, 950, 990};

/// The 1-based nearest rank, ceil(n * q), of quantile `permille` among `n` > 0 samples.
std::uint64_t rank_of(std::uint64_t permille, std::uint64_t n) noexcept {
  const std::uint64_t rank = n / 1000 * permille + ((n % 1000) * permille + 999) / 1000;
  return std::max<std::uint64_t>(rank, 1);
}

}  // namespace

LatencyHistogram::~LatencyHistogram() { delete buckets_.load(std::memory_order_relaxed); }

void LatencyHistogram::record(std::uint64_t ns) noexcept {
  // One writer at a time, so every update is a relaxed load + store of a word only it writes,
  // never a fetch_add: a locked read-modify-write would cost more than the rest of this call.
  // Readers only need each word untorn, and `count_` (release, last) to publish the sample.
  const std::uint64_t n = count_.load(std::memory_order_relaxed);
  if (n < inline_samples) {
    inline_[n].store(ns, std::memory_order_relaxed);
  } else {
    if (n == inline_samples) spill();
    bump((*buckets_.load(std::memory_order_relaxed))[bucket_of(ns)]);
  }
  sum_.store(sum_.load(std::memory_order_relaxed) + ns, std::memory_order_relaxed);
  if (ns > max_.load(std::memory_order_relaxed)) max_.store(ns, std::memory_order_relaxed);
  count_.store(n + 1, std::memory_order_release);
}

void LatencyHistogram::spill() noexcept {
  // Filled before it is published, so a reader never sees a bucket array without the
  // inline samples in it. Out of memory here terminates (record is noexcept), as any
  // allocation failure on the hot path would.
  auto* buckets = new Buckets{};
  for (const auto& sample : inline_) {
    bump((*buckets)[bucket_of(sample.load(std::memory_order_relaxed))]);
  }
  buckets_.store(buckets, std::memory_order_release);
}

LatencyHistogram::Summary LatencyHistogram::summary() const {
  Summary s;
  s.count = count_.load(std::memory_order_acquire);
  if (s.count == 0) return s;
  s.sum_ns = sum_.load(std::memory_order_relaxed);
  s.max_ns = max_.load(std::memory_order_relaxed);
  return s.count <= inline_samples ? summarise_inline(s) : summarise_buckets(s);
}

LatencyHistogram::Summary LatencyHistogram::summarise_inline(Summary s) const {
  std::array<std::uint64_t, inline_samples> sorted{};
  const auto n = static_cast<std::size_t>(s.count);
  for (std::size_t i = 0; i < n; ++i) sorted[i] = inline_[i].load(std::memory_order_relaxed);
  std::sort(sorted.begin(), sorted.begin() + static_cast<std::ptrdiff_t>(n));
  std::uint64_t* out[] = {&s.p50_ns, &s.p95_ns, &s.p99_ns};
  for (std::size_t q = 0; q < 3; ++q) *out[q] = sorted[rank_of(quantiles_permille[q], s.count) - 1];
  return s;
}

LatencyHistogram::Summary LatencyHistogram::summarise_buckets(Summary s) const {
  // The acquire load of `count_` (> 8) made the published array visible. Buckets are copied
  // first so the ranks and the walk agree even while the writer keeps counting.
  const Buckets& live = *buckets_.load(std::memory_order_acquire);
  std::array<std::uint64_t, bucket_count> counts;
  std::uint64_t total = 0;
  for (std::size_t i = 0; i < bucket_count; ++i) {
    counts[i] = live[i].load(std::memory_order_relaxed);
    total += counts[i];
  }
  std::uint64_t* out[] = {&s.p50_ns, &s.p95_ns, &s.p99_ns};
  for (std::size_t q = 0; q < 3; ++q) {
    const std::uint64_t rank = rank_of(quantiles_permille[q], total);
    std::uint64_t seen = 0;
    std::size_t i = 0;
    while (i + 1 < bucket_count && (seen += counts[i]) < rank) ++i;
    *out[q] = std::min(midpoint_of(i), s.max_ns);
  }
  return s;
}

}  // namespace serendip
