// include/serendip/envelope_queue.hpp: a first-in, first-out queue of owned envelopes.
// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <serendip/envelope.hpp>

#include <cstddef>

namespace serendip {

/// One lane of a Mailbox: envelope pointers in a chain of segments, each twice as long as the
/// one before, up to `kLongest` slots.
///
/// Pointers side by side rather than a list linked through the envelopes: popping a batch then
/// reads consecutive pointers instead of following each envelope to the next, which after a
/// burst is one cache miss per message, each waiting for the one before. Segments rather than
/// one ring that doubles: a burst writes each slot once, where a ring copies every pointer to
/// each larger ring and leaves the smaller ones behind, all of it memory first touched. An
/// empty queue owns no memory until its first push; emptied, it keeps one segment of at most
/// `kKept` slots, so an agent idle after a burst keeps little of it.
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

  /// Appends `env` and takes it; if making room throws, `env` stays with the caller.
  void push(EnvelopePtr& env) {
    make_room();
    tail_->slots()[tail_end_++] = env.release();
    ++size_;
  }

  /// Adds a segment if the last one is full, so that the next push cannot throw.
  void make_room() {
    if (tail_ == nullptr || tail_end_ == tail_->capacity) extend();
  }

  /// The oldest envelope, left queued; null when empty.
  const Envelope* front() const noexcept {
    return size_ == 0 ? nullptr : head_->slots()[head_begin_];
  }

  /// Removes and returns the oldest envelope; null when empty.
  EnvelopePtr pop() noexcept;

 private:
  static constexpr std::size_t kFirst = 4;       // slots of the first segment
  static constexpr std::size_t kLongest = 1024;  // 8 KiB: one step along the chain per 1,024
  static constexpr std::size_t kKept = 64;       // a segment this small survives emptying

  // A header followed, in the same allocation, by `capacity` slots.
  struct Segment {
    Segment* next;
    std::size_t capacity;
    Envelope** slots() noexcept { return reinterpret_cast<Envelope**>(this + 1); }
  };

  void extend();
  static Segment* allocate(std::size_t capacity);
  static void release(Segment* s) noexcept;

  Segment* head_ = nullptr;  // popped from, at head_begin_
  Segment* tail_ = nullptr;  // pushed into, at tail_end_
  std::size_t head_begin_ = 0;
  std::size_t tail_end_ = 0;
  std::size_t size_ = 0;
};

}  // namespace serendip
