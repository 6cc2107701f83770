// src/envelope_queue.cpp: the segments of envelope pointers behind each mailbox lane.
// SPDX-License-Identifier: Apache-2.0
#include <serendip/envelope_queue.hpp>

#include <algorithm>
#include <new>

namespace serendip {

EnvelopeQueue::~EnvelopeQueue() {
  while (pop()) {
  }
  if (head_ != nullptr) release(head_);
}

EnvelopeQueue::Segment* EnvelopeQueue::allocate(std::size_t capacity) {
  // The slots follow the header in the same block; they are written before they are read.
  void* block = ::operator new(sizeof(Segment) + capacity * sizeof(Envelope*));
  return ::new (block) Segment{nullptr, capacity};
}

void EnvelopeQueue::release(Segment* s) noexcept { ::operator delete(s); }

void EnvelopeQueue::extend() {
  const std::size_t capacity =
      tail_ == nullptr ? kFirst : std::min(2 * tail_->capacity, kLongest);
  Segment* s = allocate(capacity);
  if (tail_ == nullptr) {
    head_ = s;
    head_begin_ = 0;
  } else {
    tail_->next = s;
  }
  tail_ = s;
  tail_end_ = 0;
}

EnvelopePtr EnvelopeQueue::pop() noexcept {
  if (size_ == 0) return nullptr;
  EnvelopePtr env(head_->slots()[head_begin_++]);
  --size_;
  if (head_begin_ == head_->capacity && head_ != tail_) {
    Segment* done = head_;
    head_ = head_->next;
    head_begin_ = 0;
    release(done);
  }
  if (size_ == 0) {
    // Emptied: head_ is tail_ now. A small segment is kept for the next push.
    if (tail_->capacity > kKept) {
      release(tail_);
      head_ = tail_ = nullptr;
    }
    head_begin_ = tail_end_ = 0;
  }
  return env;
}

}  // namespace serendip
