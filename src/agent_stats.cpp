// src/agent_stats.cpp: an agent's failures by type, and snapshots of all its stats.
// SPDX-License-Identifier: Apache-2.0
#include <serendip/agent_stats.hpp>

#include <algorithm>

namespace serendip {

void AgentStats::record_error(std::string_view type) {
  std::lock_guard lock(errors_mutex_);
  // A handful of types at most per agent: a sorted vector beats a map in size and speed.
  auto it = std::lower_bound(errors_.begin(), errors_.end(), type,
                             [](const auto& entry, std::string_view t) { return entry.first < t; });
  if (it == errors_.end() || it->first != type) it = errors_.emplace(it, std::string(type), 0);
  ++it->second;
}

AgentStats::Snapshot AgentStats::snapshot() const {
  Snapshot s;
  s.handled = handled_.load(std::memory_order_relaxed);
  s.failed = failed_.load(std::memory_order_relaxed);
  s.dropped = dropped_.load(std::memory_order_relaxed);
  s.in_flight = in_flight_.load(std::memory_order_relaxed);
  s.queue_wait = queue_wait_.summary();
  s.handler_time = handler_time_.summary();
  std::lock_guard lock(errors_mutex_);
  s.errors = errors_;
  return s;
}

}  // namespace serendip
