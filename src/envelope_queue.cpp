// src/envelope_queue.cpp: the ring of envelope pointers behind each mailbox lane.
// SPDX-License-Identifier: Apache-2.0
#include <serendip/envelope_queue.hpp>

#include <memory>
#include <utility>

namespace serendip {

EnvelopeQueue::~EnvelopeQueue() {
  while (pop()) {
  }
  delete[] slots_;
}

EnvelopePtr EnvelopeQueue::pop() noexcept {
  if (size_ == 0) return nullptr;
  EnvelopePtr env(slots_[head_]);
  head_ = (head_ + 1) & (capacity_ - 1);
  if (--size_ == 0) {
    head_ = 0;
    if (capacity_ > kKept) {
      delete[] std::exchange(slots_, nullptr);
      capacity_ = 0;
    }
  }
  return env;
}

void EnvelopeQueue::grow() {
  const std::size_t capacity = capacity_ == 0 ? kFirst : 2 * capacity_;
  // Not value-initialised: a slot is read only after a push wrote it.
  auto slots = std::make_unique_for_overwrite<Envelope*[]>(capacity);
  for (std::size_t i = 0; i < size_; ++i) slots[i] = slots_[(head_ + i) & (capacity_ - 1)];
  delete[] slots_;
  slots_ = slots.release();
  capacity_ = capacity;
  head_ = 0;
}

}  // namespace serendip
