// include/serendip/handling_meter.hpp: how one handler invocation is counted and timed.
// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <serendip/agent_stats.hpp>
#include <serendip/envelope.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string_view>

namespace serendip {

/// Every invocation is counted, but only a sample is timed: a clock read costs tens of
/// nanoseconds on virtual machines, and timing every message would cost more than the 5% of
/// a message's handling the metrics may take. An agent's first `kTimedFirst` messages are all
/// timed (so a quiet agent still has exact numbers), then one in `kTimedEvery`.
inline constexpr std::uint64_t kTimedFirst = 64;
inline constexpr std::uint64_t kTimedEvery = 16;

/// Enqueue times as an Envelope keeps them: steady-clock nanoseconds modulo 2^56 (wrapping
/// every 2.3 years; a wait is their difference modulo the same), never zero (zero: untimed).
inline constexpr std::uint64_t kStampMask = (std::uint64_t{1} << 56) - 1;

inline std::uint64_t timing_stamp(Clock::time_point t) noexcept {
  const auto ns = static_cast<std::uint64_t>(
      std::chrono::nanoseconds(t.time_since_epoch()).count());
  return (ns & kStampMask) == 0 ? 1 : ns & kStampMask;
}

/// Nanoseconds from the stamp `since` to `now`.
inline std::uint64_t waited_since(std::uint64_t since, Clock::time_point now) noexcept {
  return (timing_stamp(now) - since) & kStampMask;
}

/// Whether the mesh stamps message `id` with its enqueue time. Called by the pusher, with
/// the agent's `first_timed` budget (initially kTimedFirst). Once the budget is spent it is
/// only read, so pushers never contend for a line the agent's owner writes.
inline bool chosen_for_timing(std::atomic<std::uint32_t>& first_timed, MessageId id) noexcept {
  if (id % kTimedEvery == 0) return true;
  return first_timed.load(std::memory_order_relaxed) > 0 &&
         first_timed.fetch_sub(1, std::memory_order_relaxed) > 0;
}

/// The start of an invocation: counts it in flight and, for a timed message, records its
/// queue wait and returns the start time in nanoseconds (0 when untimed). Owner only.
inline std::int64_t begin_handling(AgentStats& stats, const Envelope& env) noexcept {
  stats.add_in_flight(1);
  if (env.enqueued == 0) return 0;
  const Clock::time_point now = Clock::now();
  stats.record_queue_wait(waited_since(env.enqueued, now));
  const auto start = std::chrono::nanoseconds(now.time_since_epoch()).count();
  return start == 0 ? 1 : start;
}

/// The end of an invocation begun by begin_handling; `error_type` names the failure (empty:
/// it succeeded). Owner only.
inline void end_handling(AgentStats& stats, std::int64_t start, std::string_view error_type) {
  if (start != 0) {
    const auto now = std::chrono::nanoseconds(Clock::now().time_since_epoch()).count();
    stats.record_handler_time(static_cast<std::uint64_t>(now - start));
  }
  stats.count_handled();
  if (!error_type.empty()) {
    stats.count_failed();
    stats.record_error(error_type);
  }
  stats.add_in_flight(-1);
}

}  // namespace serendip
