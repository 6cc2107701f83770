// src/waiter.cpp: the blocking waiter.
// SPDX-License-Identifier: Apache-2.0
#include <serendip/waiter.hpp>

namespace serendip {

void BlockingWaiter::complete(Outcome&& outcome) noexcept {
  {
    std::lock_guard lock(mutex_);
    outcome_.emplace(std::move(outcome));
  }
  cv_.notify_all();
}

bool BlockingWaiter::wait_until(Deadline until) {
  std::unique_lock lock(mutex_);
  return cv_.wait_until(lock, until, [this] { return outcome_.has_value(); });
}

bool BlockingWaiter::done() const {
  std::lock_guard lock(mutex_);
  return outcome_.has_value();
}

Outcome BlockingWaiter::take() {
  std::lock_guard lock(mutex_);
  Outcome out = std::move(*outcome_);
  outcome_.reset();
  return out;
}

}  // namespace serendip
