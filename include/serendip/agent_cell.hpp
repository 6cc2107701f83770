// include/serendip/agent_cell.hpp: the mesh's record of one agent: name, mailbox and home.
// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <serendip/agent_stats.hpp>
#include <serendip/fwd.hpp>
#include <serendip/home.hpp>
#include <serendip/mailbox.hpp>

#include <memory>
#include <string>

namespace serendip {

/// What the router knows about an agent. Native agents derive from it and add their handler;
/// foreign (Python) agents use it as it is and are run by their loop through the LoopBridge.
///
/// Ownership: shared by the Router (while registered), by its Home's queue while scheduled,
/// and by whoever runs it. `id`, `name` and `home` are set at construction and never change,
/// so they are read without locks.
class AgentCell : public std::enable_shared_from_this<AgentCell> {
 public:
  AgentCell(std::string name, std::size_t mailbox_capacity, std::shared_ptr<Home> home,
            Overflow overflow = Overflow::wait);
  virtual ~AgentCell() = default;
  AgentCell(const AgentCell&) = delete;
  AgentCell& operator=(const AgentCell&) = delete;

  /// Unique for the process's lifetime; lets foreign code key its own tables by agent.
  AgentId id() const noexcept { return id_; }
  const std::string& name() const noexcept { return name_; }
  Mailbox& mailbox() noexcept { return mailbox_; }
  Home& home() noexcept { return *home_; }
  /// What it did, for metrics: written by whoever runs it, read by anyone.
  AgentStats& stats() noexcept { return stats_; }
  const AgentStats& stats() const noexcept { return stats_; }
  /// Messages still to be timed whatever their id (see handling_meter.hpp). Thread-safe.
  std::atomic<std::uint32_t>& first_timed() noexcept { return first_timed_; }

  /// Runs this agent: pops and handles until the mailbox comes back empty or `budget`
  /// messages were handled, then returns true if it must be scheduled again.
  /// Only native agents are run this way; foreign agents are run by their loop.
  /// Owner only: the scheduler worker that took it from the queue.
  virtual bool resume(std::size_t budget);

 private:
  const AgentId id_;
  const std::string name_;
  Mailbox mailbox_;
  const std::shared_ptr<Home> home_;
  std::atomic<std::uint32_t> first_timed_;
  // Written by the owner per message: on lines of its own, away from what pushers touch.
  alignas(64) AgentStats stats_;
};

}  // namespace serendip
