// include/serendip/agent_stats.hpp: one agent's counters and latency histograms, for mesh metrics.
// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <serendip/latency_histogram.hpp>

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace serendip {

/// What an agent did: messages handled, failed and dropped, handlers running, how long
/// messages waited and how long handlers took, and failures by error type. Read by any thread
/// through `snapshot`.
///
/// Cost on the hot path: the owner's updates are relaxed load + store of words only it writes
/// (no lock, no read-modify-write, no allocation). Size: 288 bytes until the agent has handled
/// more than 8 messages, when each histogram allocates its buckets once.
///
/// Members and what protects them:
///   handled_, failed_, in_flight_  written by the owner only (relaxed load + store); read anywhere
///   dropped_                       fetch_add by any pushing thread (drops are rare)
///   queue_wait_, handler_time_     one writer, the owner (see LatencyHistogram)
///   errors_                        guarded by errors_mutex_, a leaf lock
class AgentStats {
 public:
  /// Every value at one moment; fields read while the owner works may be a message apart.
  struct Snapshot {
    std::uint64_t handled = 0;
    std::uint64_t failed = 0;
    std::uint64_t dropped = 0;
    std::int64_t in_flight = 0;
    LatencyHistogram::Summary queue_wait;
    LatencyHistogram::Summary handler_time;
    /// Failures by error type name, sorted by name.
    std::vector<std::pair<std::string, std::uint64_t>> errors;
  };

  /// Messages handled so far. Thread-safe (a relaxed read).
  std::uint64_t handled() const noexcept { return handled_.load(std::memory_order_relaxed); }
  /// One message whose handler finished, failed ones included. Owner only.
  void count_handled() noexcept { bump(handled_); }
  /// One message whose handler failed (also counted by `count_handled`). Owner only.
  void count_failed() noexcept { bump(failed_); }
  /// One message the overflow policy dropped. Thread-safe: called by the pushing thread.
  void count_dropped() noexcept { dropped_.fetch_add(1, std::memory_order_relaxed); }
  /// Handlers started (+1) or finished (-1). Owner only.
  void add_in_flight(std::int64_t delta) noexcept {
    in_flight_.store(in_flight_.load(std::memory_order_relaxed) + delta, std::memory_order_relaxed);
  }
  /// Time from a message's push to its handler's start. Owner only.
  void record_queue_wait(std::uint64_t ns) noexcept { queue_wait_.record(ns); }
  /// Time a handler ran. Owner only.
  void record_handler_time(std::uint64_t ns) noexcept { handler_time_.record(ns); }

  /// Counts one failure of error type `type` (a class name such as "ValueError"). Takes a
  /// small mutex and may allocate the first time a type is seen: failures are rare.
  /// Thread-safe.
  void record_error(std::string_view type);

  /// Copies every value out. Thread-safe: takes the error mutex, never blocks the owner.
  Snapshot snapshot() const;

 private:
  static void bump(std::atomic<std::uint64_t>& counter) noexcept {
    counter.store(counter.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  }

  std::atomic<std::uint64_t> handled_{0};
  std::atomic<std::uint64_t> failed_{0};
  std::atomic<std::uint64_t> dropped_{0};
  std::atomic<std::int64_t> in_flight_{0};
  LatencyHistogram queue_wait_;
  LatencyHistogram handler_time_;
  mutable std::mutex errors_mutex_;
  std::vector<std::pair<std::string, std::uint64_t>> errors_;  // sorted by type name
};

}  // namespace serendip
