// include/serendip/work_tracker.hpp: counts accepted-but-unfinished messages, and wakes idle waiters.
// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <serendip/fwd.hpp>
#include <serendip/waiter.hpp>

#include <atomic>
#include <cstdint>
#include <mutex>
#include <vector>

namespace serendip {

/// The mesh is idle when every message accepted into a mailbox has been handled (or dropped):
/// no queued message and no running handler. Routing calls `begin`, the agent calls `finish`
/// once its handler is done with the message.
///
/// Cost: one atomic add per message on each side; the mutex is taken only when the count
/// reaches zero with waiters registered. `outstanding_` is atomic; `waiters_` is guarded by
/// `mutex_`.
class WorkTracker {
 public:
  /// Thread-safe.
  void begin(std::int64_t n = 1) noexcept;
  /// Thread-safe. Completes the idle waiters when the count reaches zero.
  void finish(std::int64_t n = 1);
  /// Registers `waiter` for the next time the count is zero. Returns false without
  /// registering when idle now. Thread-safe.
  bool wait_idle(WaiterPtr waiter);
  /// Completes every idle waiter with `status` (used at close). Thread-safe.
  void release_all(Status status);
  std::int64_t outstanding() const noexcept { return outstanding_.load(std::memory_order_acquire); }

 private:
  std::atomic<std::int64_t> outstanding_{0};
  std::mutex mutex_;
  std::vector<WaiterPtr> waiters_;  // guarded by mutex_
};

}  // namespace serendip
