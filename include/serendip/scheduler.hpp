// include/serendip/scheduler.hpp: the native thread pool that runs native agents.
// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <serendip/home.hpp>

#include <cstddef>
#include <memory>

namespace serendip {

/// Runs native agents (AgentCell::resume) on native worker threads. One agent is run by at
/// most one worker at a time, because the mailbox schedules it once per idle->armed transition
/// and the worker re-schedules it only after its resume returns.
class Scheduler : public Home {
 public:
  /// Thread-safe.
  void schedule(const AgentCellPtr& agent) override = 0;
  /// Stops accepting work, lets workers finish the agent they run, and joins them.
  /// Idempotent. Thread-safe; blocks; must not be called from a worker.
  virtual void stop() = 0;
  /// Number of worker threads.
  virtual std::size_t size() const noexcept = 0;
};

/// A pool of `threads` workers sharing one queue (a mutex and a condition variable). An idle
/// worker polls the queue briefly (a hundred pauses, then ten yields) before it parks, and a
/// schedule() wakes a worker only if one is parked. `threads == 0` means one per hardware
/// thread. Threads start at construction.
std::shared_ptr<Scheduler> make_work_sharing(std::size_t threads);

}  // namespace serendip
