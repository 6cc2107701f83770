// include/serendip/router.hpp: agents by name, and delivery into their mailboxes.
// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <serendip/agent_cell.hpp>
#include <serendip/route_result.hpp>

#include <atomic>
#include <cstdint>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace serendip {

/// The name table. Lookups take a shared lock (many senders at once); add and remove take it
/// exclusively. `transport_` is set once before traffic starts and only read afterwards.
class Router {
 public:
  /// Registers `agent`. Throws DuplicateAgent. Thread-safe.
  void add(AgentCellPtr agent);
  /// Unregisters and returns the agent, or null. Does not close its mailbox. Thread-safe.
  AgentCellPtr remove(std::string_view name);
  /// The agent of that name, or null. Thread-safe.
  AgentCellPtr find(std::string_view name) const;

  /// Moves on every add and remove, so that a caller who remembers what `find` answered
  /// knows when to ask again: read it before the `find` whose answer it tags. Thread-safe.
  std::uint64_t generation() const noexcept { return generation_.load(std::memory_order_acquire); }
  /// Every registered agent, in no particular order. Thread-safe.
  std::vector<AgentCellPtr> agents() const;
  std::size_t size() const;

  /// Pushes `env` into `agent`'s normal lane and schedules the agent on `armed`. Takes `env`
  /// only on `delivered`. Thread-safe.
  static RouteResult deliver(const AgentCellPtr& agent, EnvelopePtr& env);
  /// Like deliver, into the urgent lane (never `full`).
  static RouteResult deliver_urgent(const AgentCellPtr& agent, EnvelopePtr& env);
  /// What a push into `agent`'s mailbox means for routing; schedules the agent on `armed`.
  static RouteResult after_push(const AgentCellPtr& agent, PushResult pushed);

  /// Hands `env` for `target`, a name the caller did not `find` here, to the transport;
  /// `not_found` without one. It does not look the name up again: an agent registered since
  /// the caller's lookup would get the envelope past the caller's bookkeeping (Mesh::deliver
  /// counts the work). Thread-safe.
  RouteResult forward(std::string_view target, EnvelopePtr& env) const;

  /// Installs the fallback for names not registered here. Call before traffic starts.
  void set_transport(Transport* transport) noexcept { transport_ = transport; }

 private:
  struct NameHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept {
      return std::hash<std::string_view>{}(s);
    }
  };
  mutable std::shared_mutex mutex_;
  std::unordered_map<std::string, AgentCellPtr, NameHash, std::equal_to<>> agents_;  // mutex_
  std::atomic<std::uint64_t> generation_{0};  // written under mutex_
  Transport* transport_ = nullptr;
};

}  // namespace serendip
