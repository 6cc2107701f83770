// include/serendip/timer_queue.hpp: callbacks run at deadlines, by one native thread.
// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <serendip/fwd.hpp>

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <thread>
#include <utility>

namespace serendip {

/// A deadline-ordered set of callbacks and the thread that runs them. The thread is native:
/// callbacks must only touch native state (rule 1 of the threading model).
///
/// Cost: O(log n) insert and cancel, one node allocation per timer. `mutex_` guards `timers_`,
/// `next_seq_`, `stopping_` and `wake_at_`; callbacks run with no lock held.
class TimerQueue {
 public:
  /// A timer's handle for `cancel`; ordered by deadline, then by creation.
  using Key = std::pair<Deadline, std::uint64_t>;

  TimerQueue();
  /// Stops and joins the thread; pending callbacks are dropped without running.
  ~TimerQueue();
  TimerQueue(const TimerQueue&) = delete;
  TimerQueue& operator=(const TimerQueue&) = delete;

  /// Runs `fn` on the timer thread at or soon after `at`. Thread-safe.
  Key schedule(Deadline at, std::function<void()> fn);
  /// Drops the timer if it has not started; returns whether it was dropped. Thread-safe.
  bool cancel(const Key& key);
  /// Stops the thread after the callback in progress, dropping the rest. Idempotent.
  /// Thread-safe; blocks until joined; must not be called from a callback.
  void stop();
  std::size_t size() const;

 private:
  void run();

  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::map<Key, std::function<void()>> timers_;  // guarded by mutex_
  std::uint64_t next_seq_ = 0;                    // guarded by mutex_
  bool stopping_ = false;                         // guarded by mutex_
  // When the sleeping thread will wake by itself; min() while it is awake. Guarded by mutex_.
  Deadline wake_at_ = Deadline::min();
  std::thread thread_;
};

}  // namespace serendip
