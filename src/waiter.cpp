// src/waiter.cpp: the blocking waiter.
// SPDX-License-Identifier: Apache-2.0
#include <serendip/spin_wait.hpp>
#include <serendip/waiter.hpp>

#include <algorithm>

namespace serendip {

void BlockingWaiter::complete(Outcome&& outcome) noexcept {
  {
    std::lock_guard lock(mutex_);
    outcome_.emplace(std::move(outcome));
    completed_.store(true, std::memory_order_release);
  }
  cv_.notify_all();
}

bool BlockingWaiter::wait_until(Deadline until) {
  const auto polled = [this] { return completed_.load(std::memory_order_acquire); };
  if (spin_until(polled, std::min<Clock::duration>(kSpinBudget, until - Clock::now()))) return true;
  std::unique_lock lock(mutex_);
  return cv_.wait_until(lock, until, [this] { return outcome_.has_value(); });
}

bool BlockingWaiter::done() const { return completed_.load(std::memory_order_acquire); }

Outcome BlockingWaiter::take() {
  std::lock_guard lock(mutex_);
  Outcome out = std::move(*outcome_);
  outcome_.reset();
  completed_.store(false, std::memory_order_relaxed);
  return out;
}

}  // namespace serendip
