// src/timer_queue.cpp: the timer thread.
// SPDX-License-Identifier: Apache-2.0
#include <serendip/timer_queue.hpp>

namespace serendip {

TimerQueue::TimerQueue() : thread_([this] { run(); }) {}

TimerQueue::~TimerQueue() { stop(); }

TimerQueue::Key TimerQueue::schedule(Deadline at, std::function<void()> fn) {
  bool earliest = false;
  Key key;
  {
    std::lock_guard lock(mutex_);
    key = Key{at, next_seq_++};
    timers_.emplace(key, std::move(fn));
    // Only a deadline before the thread's planned wake-up changes how long it must sleep; a
    // steady stream of requests with one timeout never wakes it (each lands after the last).
    earliest = at < wake_at_;
  }
  if (earliest) cv_.notify_one();
  return key;
}

bool TimerQueue::cancel(const Key& key) {
  std::lock_guard lock(mutex_);
  return timers_.erase(key) > 0;
}

void TimerQueue::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    timers_.clear();
  }
  cv_.notify_one();
  if (thread_.joinable()) thread_.join();
}

std::size_t TimerQueue::size() const {
  std::lock_guard lock(mutex_);
  return timers_.size();
}

void TimerQueue::run() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    if (timers_.empty()) {
      wake_at_ = Deadline::max();
      cv_.wait(lock);
      wake_at_ = Deadline::min();
      continue;
    }
    auto first = timers_.begin();
    // A copy: the wait releases the lock, and a cancel may free the node meanwhile. Cancels
    // do not wake the thread: it sleeps until this deadline even if that timer is gone.
    const Deadline due = first->first.first;
    if (Clock::now() < due) {
      wake_at_ = due;
      cv_.wait_until(lock, due);
      wake_at_ = Deadline::min();
      continue;
    }
    std::function<void()> fn = std::move(first->second);
    timers_.erase(first);
    lock.unlock();
    fn();
    lock.lock();
  }
}

}  // namespace serendip
