// include/serendip/home.hpp: where an agent runs when its mailbox has work.
// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <serendip/fwd.hpp>

namespace serendip {

/// The executor an agent belongs to: the native Scheduler for native agents, a LoopBridge
/// (an asyncio loop) for foreign ones. The mesh calls `schedule` exactly once per idle->armed
/// transition of the agent's mailbox.
class Home {
 public:
  virtual ~Home() = default;

  /// Arranges for `agent` to be run: it will pop its mailbox until a pop comes back empty.
  /// Thread-safe; must not block and must not run the agent inline.
  virtual void schedule(const AgentCellPtr& agent) = 0;

  /// Tells the agent's executor that nobody waits any more for `request` (cancelled or
  /// expired), so a handler still working on it may be cancelled. Thread-safe; best effort.
  virtual void abandon(const AgentCellPtr& agent, RequestId request) = 0;

  /// True when its agents run on a foreign runtime's thread (a LoopBridge's asyncio loop),
  /// so their messages may carry that runtime's objects; false for native threads.
  virtual bool foreign() const noexcept { return false; }

  /// False while the executor's thread is in a turn of work, which may hold a lock a blocking
  /// caller it just answered takes next (a loop thread holds the GIL); true while it polls
  /// for more work, or when it cannot tell. Such a caller polls this for a moment before
  /// taking that lock: taking it from a thread in its turn means sleeping until it lets go.
  virtual bool between_turns() const noexcept { return true; }
};

}  // namespace serendip
