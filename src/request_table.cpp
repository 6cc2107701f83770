// src/request_table.cpp: open requests and their single completion.
// SPDX-License-Identifier: Apache-2.0
#include <serendip/agent_cell.hpp>
#include <serendip/errors.hpp>
#include <serendip/request_table.hpp>

#include <vector>

namespace serendip {

RequestTable::RequestTable(TimerQueue& timers) : timers_(timers) {}

RequestId RequestTable::open(WaiterPtr waiter, Deadline deadline) {
  const RequestId id = next_id_.fetch_add(1, std::memory_order_relaxed);
  {
    std::lock_guard lock(mutex_);
    if (closed_) throw MeshClosed();
    entries_.emplace(id, Entry{std::move(waiter), nullptr, {}});
  }
  if (deadline == Deadline::max()) return id;
  // The timer is armed after the entry exists, so an expiry always finds it or finds it
  // already ended; a request that ended in between (close_all) gets its timer cancelled.
  const TimerQueue::Key key = timers_.schedule(deadline, [this, id] { expire(id); });
  bool ended = false;
  {
    std::lock_guard lock(mutex_);
    auto it = entries_.find(id);
    if (it != entries_.end()) {
      it->second.timer = key;
    } else {
      ended = true;
    }
  }
  if (ended) timers_.cancel(key);
  return id;
}

void RequestTable::set_handler(RequestId id, AgentCellPtr agent) {
  std::lock_guard lock(mutex_);
  if (auto it = entries_.find(id); it != entries_.end()) it->second.handler = std::move(agent);
}

Deadline RequestTable::deadline(RequestId id) const {
  std::lock_guard lock(mutex_);
  auto it = entries_.find(id);
  if (it == entries_.end()) return Deadline::min();
  return it->second.timer ? it->second.timer->first : Deadline::max();
}

bool RequestTable::finish(RequestId id, Entry& out) {
  std::lock_guard lock(mutex_);
  auto it = entries_.find(id);
  if (it == entries_.end()) return false;
  out = std::move(it->second);
  entries_.erase(it);
  return true;
}

void RequestTable::cancel_timer(const Entry& e) {
  if (e.timer) timers_.cancel(*e.timer);
}

bool RequestTable::resolve(RequestId id, Outcome&& outcome) {
  Entry e;
  if (!finish(id, e)) return false;
  cancel_timer(e);
  e.waiter->complete(std::move(outcome));
  return true;
}

// What may throw (an outcome's message) comes before the entry is taken, so that a failure
// leaves the request open rather than its waiter without an answer; here and below.

bool RequestTable::cancel(RequestId id) {
  Outcome cancelled = Outcome::failure(Status::cancelled, "the request was cancelled");
  Entry e;
  if (!finish(id, e)) return false;
  cancel_timer(e);
  e.waiter->complete(std::move(cancelled));
  if (e.handler) e.handler->home().abandon(e.handler, id);
  return true;
}

void RequestTable::expire(RequestId id) {
  // Runs on the timer thread: the entry's timer has already fired, so nothing to cancel.
  Outcome timed_out = Outcome::failure(Status::timeout, "the request's deadline passed");
  Entry e;
  if (!finish(id, e)) return;
  e.waiter->complete(std::move(timed_out));
  if (e.handler) e.handler->home().abandon(e.handler, id);
}

bool RequestTable::discard(RequestId id) {
  Entry e;
  if (!finish(id, e)) return false;
  cancel_timer(e);
  return true;
}

bool RequestTable::pending(RequestId id) const {
  std::lock_guard lock(mutex_);
  return entries_.count(id) != 0;
}

// An outcome for each of `n` waiters.
static std::vector<Outcome> failures(std::size_t n, Status status, const std::string& message) {
  std::vector<Outcome> out;
  out.reserve(n);
  for (std::size_t i = 0; i < n; ++i) out.push_back(Outcome::failure(status, message));
  return out;
}

std::size_t RequestTable::close_all(Status status, const std::string& message) {
  std::unordered_map<RequestId, Entry> ended;
  std::vector<Outcome> outcomes;
  {
    std::lock_guard lock(mutex_);
    outcomes = failures(entries_.size(), status, message);
    closed_ = true;
    ended.swap(entries_);
  }
  std::size_t i = 0;
  for (auto& [id, e] : ended) {
    cancel_timer(e);
    e.waiter->complete(std::move(outcomes[i++]));
  }
  return ended.size();
}

std::size_t RequestTable::close_handled_by(const AgentCell* agent, Status status,
                                           const std::string& message) {
  std::vector<Entry> ended;
  std::vector<Outcome> outcomes;
  {
    std::lock_guard lock(mutex_);
    std::size_t n = 0;
    for (const auto& [id, e] : entries_) n += e.handler.get() == agent ? 1 : 0;
    ended.reserve(n);
    outcomes = failures(n, status, message);
    for (auto it = entries_.begin(); it != entries_.end();) {
      if (it->second.handler.get() == agent) {
        ended.push_back(std::move(it->second));
        it = entries_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (std::size_t i = 0; i < ended.size(); ++i) {
    cancel_timer(ended[i]);
    ended[i].waiter->complete(std::move(outcomes[i]));
  }
  return ended.size();
}

std::size_t RequestTable::size() const {
  std::lock_guard lock(mutex_);
  return entries_.size();
}

}  // namespace serendip
