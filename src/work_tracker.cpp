// src/work_tracker.cpp: outstanding work and idle waiters.
// SPDX-License-Identifier: Apache-2.0
#include <serendip/work_tracker.hpp>

namespace serendip {

void WorkTracker::begin(std::int64_t n) noexcept {
  outstanding_.fetch_add(n, std::memory_order_acq_rel);
}

void WorkTracker::finish(std::int64_t n) {
  if (outstanding_.fetch_sub(n, std::memory_order_acq_rel) != n) return;
  std::vector<WaiterPtr> idle;
  {
    std::lock_guard lock(mutex_);
    // Re-check under the lock: a begin() may have raced in, and those waiters wait on.
    if (outstanding_.load(std::memory_order_acquire) != 0) return;
    idle.swap(waiters_);
  }
  for (auto& w : idle) w->complete(Outcome{});
}

bool WorkTracker::wait_idle(WaiterPtr waiter) {
  std::lock_guard lock(mutex_);
  if (outstanding_.load(std::memory_order_acquire) == 0) return false;
  waiters_.push_back(std::move(waiter));
  return true;
}

void WorkTracker::release_all(Status status) {
  std::vector<WaiterPtr> all;
  {
    std::lock_guard lock(mutex_);
    all.swap(waiters_);
  }
  for (auto& w : all) w->complete(Outcome::failure(status, "the mesh closed"));
}

}  // namespace serendip
