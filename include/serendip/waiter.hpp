// include/serendip/waiter.hpp: who is told when a request or wait ends.
// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <serendip/fwd.hpp>
#include <serendip/outcome.hpp>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <optional>

namespace serendip {

/// Receives exactly one Outcome. The RequestTable, the Mailbox (space) and the WorkTracker
/// (idle) hold waiters and guarantee a single call to `complete`.
class Waiter {
 public:
  virtual ~Waiter() = default;
  /// Delivers the outcome. Called once, from any thread, with no mesh lock held; must not block.
  virtual void complete(Outcome&& outcome) noexcept = 0;
};

/// A waiter for a thread that blocks (the `*_sync` calls and plain C++ callers). It polls for
/// the outcome for a moment (spin_wait.hpp) before it sleeps: an answer that comes within
/// microseconds then costs no wake-up. Thread-safe.
class BlockingWaiter final : public Waiter {
 public:
  void complete(Outcome&& outcome) noexcept override;

  /// Blocks until completed or until `until`; returns true once completed.
  /// Callers that must notice signals wait in short slices and re-check between them.
  bool wait_until(Deadline until);

  /// True once completed.
  bool done() const;

  /// Moves the outcome out. Only after `wait_until` returned true.
  Outcome take();

 private:
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::optional<Outcome> outcome_;  // guarded by mutex_
  std::atomic<bool> completed_{false};  // set with outcome_, read without the lock while polling
};

}  // namespace serendip
