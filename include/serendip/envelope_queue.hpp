// include/serendip/envelope_queue.hpp: a first-in, first-out queue of owned envelopes.
// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <serendip/envelope.hpp>

#include <cstddef>

namespace serendip {

/// One lane of a Mailbox: a ring of envelope pointers that doubles when full.
///
/// A ring rather than a list linked through the envelopes: popping a batch then reads
/// consecutive pointers instead of following each envelope to the next, which after a burst
/// is one cache miss per message, each waiting for the one before. An empty queue owns no
/// memory until its first push; a ring grown past `kKept` slots is freed when it empties, so
/// an agent idle after a burst keeps nothing of it.
///
/// Not thread-safe: the Mailbox's mutex guards it.
class EnvelopeQueue {
 public:
  EnvelopeQueue() = default;
  ~EnvelopeQueue();
  EnvelopeQueue(const EnvelopeQueue&) = delete;
  EnvelopeQueue& operator=(const EnvelopeQueue&) = delete;

  bool empty() const noexcept { return size_ == 0; }
  std::size_t size() const noexcept { return size_; }

  /// Appends `env` and takes it; if growing the ring throws, `env` stays with the caller.
  void push(EnvelopePtr& env) {
    make_room();
    slots_[(head_ + size_) & (capacity_ - 1)] = env.release();
    ++size_;
  }

  /// Grows the ring if it is full, so that the next push cannot throw.
  void make_room() {
    if (size_ == capacity_) grow();
  }

  /// The oldest envelope, left queued; null when empty.
  const Envelope* front() const noexcept { return size_ == 0 ? nullptr : slots_[head_]; }

  /// Removes and returns the oldest envelope; null when empty.
  EnvelopePtr pop() noexcept;

 private:
  static constexpr std::size_t kFirst = 4;  // slots of a new ring
  static constexpr std::size_t kKept = 64;  // a ring this small survives emptying

  void grow();

  Envelope** slots_ = nullptr;
  std::size_t capacity_ = 0;  // zero or a power of two
  std::size_t head_ = 0;
  std::size_t size_ = 0;
};

}  // namespace serendip
