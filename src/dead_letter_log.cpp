// src/dead_letter_log.cpp: the bounded dead-letter ring.
// SPDX-License-Identifier: Apache-2.0
#include <serendip/dead_letter_log.hpp>

#include <algorithm>
#include <iterator>
#include <stdexcept>

namespace serendip {

const char* to_string(DeadLetterReason reason) noexcept {
  switch (reason) {
    case DeadLetterReason::unknown_target: return "unknown_target";
    case DeadLetterReason::dropped: return "dropped";
    case DeadLetterReason::expired: return "expired";
    case DeadLetterReason::failed: return "failed";
  }
  return "unknown";
}

DeadLetterLog::DeadLetterLog(std::size_t capacity) : capacity_(capacity) {
  if (capacity == 0) throw std::invalid_argument("a DeadLetterLog needs a capacity of at least 1");
}

void DeadLetterLog::record(DeadLetter letter) {
  const auto reason = static_cast<std::size_t>(letter.reason);
  std::vector<WaiterPtr> wake;
  {
    std::lock_guard lock(mutex_);
    if (letters_.size() == capacity_) {
      letters_.pop_front();
      ++evicted_;
    }
    letters_.push_back(std::move(letter));
    ++counts_[reason];
    ++recorded_;
    wake.swap(watchers_);
  }
  for (auto& w : wake) w->complete(Outcome{});
}

std::vector<DeadLetter> DeadLetterLog::since(std::uint64_t seen, std::uint64_t& now) const {
  std::lock_guard lock(mutex_);
  now = recorded_;
  const std::uint64_t fresh = recorded_ > seen ? recorded_ - seen : 0;
  const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(fresh, letters_.size()));
  return {letters_.end() - static_cast<std::ptrdiff_t>(n), letters_.end()};
}

bool DeadLetterLog::watch(std::uint64_t seen, WaiterPtr waiter) {
  std::lock_guard lock(mutex_);
  if (watch_closed_ || recorded_ > seen) return false;
  watchers_.push_back(std::move(waiter));
  return true;
}

void DeadLetterLog::close_watchers() {
  std::vector<WaiterPtr> wake;
  {
    std::lock_guard lock(mutex_);
    watch_closed_ = true;
    wake.swap(watchers_);
  }
  for (auto& w : wake) w->complete(Outcome::failure(Status::closed, "the mesh closed"));
}

std::vector<DeadLetter> DeadLetterLog::snapshot() const {
  std::lock_guard lock(mutex_);
  return {letters_.begin(), letters_.end()};
}

std::vector<DeadLetter> DeadLetterLog::take() {
  std::deque<DeadLetter> taken;
  {
    std::lock_guard lock(mutex_);
    taken.swap(letters_);
  }
  return {std::make_move_iterator(taken.begin()), std::make_move_iterator(taken.end())};
}

std::uint64_t DeadLetterLog::recorded() const {
  std::lock_guard lock(mutex_);
  std::uint64_t sum = 0;
  for (std::uint64_t n : counts_) sum += n;
  return sum;
}

std::uint64_t DeadLetterLog::evicted() const {
  std::lock_guard lock(mutex_);
  return evicted_;
}

std::array<std::uint64_t, 4> DeadLetterLog::counts() const {
  std::lock_guard lock(mutex_);
  return counts_;
}

}  // namespace serendip
