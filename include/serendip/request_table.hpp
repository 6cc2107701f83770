// include/serendip/request_table.hpp: every open request, its deadline and its single completion.
// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <serendip/fwd.hpp>
#include <serendip/outcome.hpp>
#include <serendip/timer_queue.hpp>
#include <serendip/waiter.hpp>

#include <atomic>
#include <mutex>
#include <optional>
#include <unordered_map>

namespace serendip {

/// Owns the state of each request from `open` to its one completion. Whatever path ends a
/// request (reply, error, deadline, cancel, close) goes through `finish`, which removes the
/// entry under the lock; so exactly one of them wins and the waiter is completed exactly once,
/// after the lock is released.
///
/// Cost per request: one map node, one timer node. `mutex_` guards `entries_` and `closed_`.
class RequestTable {
 public:
  explicit RequestTable(TimerQueue& timers);
  RequestTable(const RequestTable&) = delete;
  RequestTable& operator=(const RequestTable&) = delete;

  /// Opens a request that `waiter` will hear the end of, with a deadline (Deadline::max()
  /// means none: no timer is armed). Returns its id.
  /// Throws MeshClosed after close_all. Thread-safe.
  RequestId open(WaiterPtr waiter, Deadline deadline);

  /// Records the agent working on `id` so cancel and expiry can tell its home. Thread-safe.
  void set_handler(RequestId id, AgentCellPtr agent);

  /// Completes `id` with `outcome`. Returns false (leaving `outcome` with the caller, who then
  /// disposes of it on its own thread) if the request already ended. Thread-safe.
  bool resolve(RequestId id, Outcome&& outcome);

  /// Ends `id` as `cancelled` and tells its handler's home. Thread-safe.
  bool cancel(RequestId id);

  /// Removes `id` without completing its waiter (the caller retries with the same waiter).
  /// Thread-safe.
  bool discard(RequestId id);

  /// When `id` ends as `timeout` (Deadline::max(): never); Deadline::min() once it has ended.
  /// Thread-safe.
  Deadline deadline(RequestId id) const;

  /// True while `id` has not ended. Thread-safe.
  bool pending(RequestId id) const;

  /// Ends every open request with `status` and refuses new ones. Returns how many ended.
  /// Thread-safe.
  std::size_t close_all(Status status, const std::string& message);

  /// Ends every open request being handled by `agent` with `status` (the agent is leaving).
  /// O(open requests). Thread-safe.
  std::size_t close_handled_by(const AgentCell* agent, Status status, const std::string& message);

  std::size_t size() const;

 private:
  struct Entry {
    WaiterPtr waiter;
    AgentCellPtr handler;
    // Keyed by the deadline (its `first`); none for requests without one. Set by open() before
    // it returns, so before anyone can ask for the deadline.
    std::optional<TimerQueue::Key> timer;
  };

  /// Removes the entry and hands it out, or returns false if `id` already ended.
  bool finish(RequestId id, Entry& out);
  void cancel_timer(const Entry& e);
  void expire(RequestId id);

  TimerQueue& timers_;
  std::atomic<RequestId> next_id_{1};
  mutable std::mutex mutex_;
  std::unordered_map<RequestId, Entry> entries_;  // guarded by mutex_
  bool closed_ = false;                           // guarded by mutex_
};

}  // namespace serendip
