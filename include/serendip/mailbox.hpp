// include/serendip/mailbox.hpp: a bounded multi-producer, single-consumer queue of envelopes.
// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <serendip/envelope.hpp>
#include <serendip/envelope_queue.hpp>
#include <serendip/overflow.hpp>
#include <serendip/push_result.hpp>
#include <serendip/waiter.hpp>

#include <atomic>
#include <cstddef>
#include <mutex>
#include <string>
#include <vector>

namespace serendip {

/// An agent's inbox. Two lanes: `urgent` (replies that resume a suspended native handler; never
/// refused for capacity, always popped first) and `normal` (everything else; bounded).
///
/// Scheduling contract: the mailbox is either idle or scheduled. A push into an idle mailbox
/// returns `armed` and makes it scheduled; a pop that finds nothing it may return makes it idle
/// again. So exactly one party schedules the owner per idle->scheduled transition, and the owner
/// keeps popping until a pop comes back empty.
///
/// Overflow: a full normal lane refuses pushes (`wait`, `reject`) or drops a message
/// (`drop_oldest`, `drop_newest`). A dropped envelope is not destroyed by the pusher, which may be
/// a thread that must not release its payload (threading rule 1): it waits in a third lane for
/// the owner's `take_dropped`, or for `close`. Until then it still counts as queued work.
///
/// Locking: one mutex guards both lanes, the counters and the space waiters; it is a leaf lock
/// (no callback runs under it). Cost: one uncontended lock per push and per pop call; pop_batch
/// amortises it over a batch.
class Mailbox {
 public:
  /// What a push learns about the envelope its overflow policy dropped.
  struct Dropped {
    Kind kind = Kind::tell;
    MessageId id = 0;
    RequestId request_id = 0;
    Name sender;
  };

  /// @param capacity bound of the normal lane, at least 1.
  explicit Mailbox(std::size_t capacity, Overflow overflow = Overflow::wait);
  ~Mailbox();
  Mailbox(const Mailbox&) = delete;
  Mailbox& operator=(const Mailbox&) = delete;

  /// Queues `env` in the normal lane. On `full` and `closed`, `env` is left with the caller.
  /// On `replaced` and `dropped` (a drop policy at capacity), `dropped` (if given) describes
  /// the envelope that was dropped: the oldest queued one, or `env` itself. Thread-safe.
  PushResult push(EnvelopePtr& env, Dropped* dropped = nullptr);

  /// Queues `env` in the urgent lane, ignoring capacity. On `closed`, `env` is left with the
  /// caller. Thread-safe.
  PushResult push_urgent(EnvelopePtr& env);

  /// The next envelope (urgent first), or null. Normal envelopes are taken only when
  /// `take_normal`; a null result makes the mailbox idle.
  /// Owner only: the one consumer currently running this agent.
  EnvelopePtr pop(bool take_normal = true);

  /// Pops up to `max` envelopes (urgent first) into `out`; returns how many. A batch shorter
  /// than `max` (zero included) found the end and made the mailbox idle. If `out` cannot
  /// grow, it throws with nothing moved. Owner only.
  std::size_t pop_batch(std::vector<EnvelopePtr>& out, std::size_t max);

  /// Moves the envelopes the overflow policy dropped into `out`; returns how many. Cheap when
  /// there are none (no lock). Thread-safe; meant for the owner, after a pop (which makes every
  /// earlier drop visible to it). If `out` cannot grow, it throws with nothing moved.
  std::size_t take_dropped(std::vector<EnvelopePtr>& out);

  /// Makes the mailbox scheduled without a push, for an owner about to pop it: pushes arm
  /// nothing until a pop finds the end (a short `pop_batch` does) or `try_idle`. Owner only.
  void claim();

  /// Makes the mailbox idle if it is empty, so that the next push arms it; returns whether
  /// it did. Lets an owner that may run several handlers at once learn about new work while
  /// its running handlers are busy. Owner only.
  bool try_idle();

  /// Registers `waiter` to be completed (status ok) the next time a pop frees space, or
  /// (status closed) when the mailbox closes. Returns false without registering when there
  /// is space now or the mailbox is closed; the caller then retries its push. Thread-safe.
  bool wait_for_space(WaiterPtr waiter);

  /// Refuses all further pushes, completes space waiters with `closed`, and hands back what
  /// was queued (urgent lane first, dropped envelopes last). Idempotent. Thread-safe. If the
  /// list cannot be allocated, it throws and the mailbox stays open with everything in it.
  std::vector<EnvelopePtr> close();

  /// Envelopes queued in the normal lane. Thread-safe; a snapshot.
  std::size_t size() const;
  std::size_t capacity() const noexcept { return capacity_; }
  Overflow overflow() const noexcept { return overflow_; }
  bool closed() const;

 private:
  EnvelopePtr pop_locked(bool take_normal);
  std::vector<WaiterPtr> take_space_waiters_locked();

  const std::size_t capacity_;
  const Overflow overflow_;
  mutable std::mutex mutex_;
  EnvelopeQueue urgent_;                  // guarded by mutex_
  EnvelopeQueue normal_;                  // guarded by mutex_
  EnvelopeQueue dropped_;                 // guarded by mutex_
  std::atomic<bool> has_dropped_{false};  // set under mutex_; read without it by take_dropped
  bool scheduled_ = false;                // guarded by mutex_
  bool closed_ = false;                   // guarded by mutex_
  std::vector<WaiterPtr> space_waiters_;  // guarded by mutex_
};

}  // namespace serendip
