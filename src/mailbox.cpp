// src/mailbox.cpp: the bounded two-lane mailbox.
// SPDX-License-Identifier: Apache-2.0
#include <serendip/mailbox.hpp>

#include <algorithm>

namespace serendip {

Mailbox::Mailbox(std::size_t capacity, Overflow overflow)
    : capacity_(std::max<std::size_t>(capacity, 1)), overflow_(overflow) {}

Mailbox::~Mailbox() = default;

static void describe(const Envelope& e, Mailbox::Dropped* out) {
  if (out == nullptr) return;
  out->kind = e.kind;
  out->id = e.id;
  out->request_id = e.request_id;
  out->sender = e.sender;
}

PushResult Mailbox::push(EnvelopePtr& env, Dropped* dropped) {
  std::lock_guard lock(mutex_);
  if (closed_) return PushResult::closed;
  if (normal_.size() >= capacity_) {
    // Full implies scheduled (only an empty pop idles the mailbox): nobody needs arming.
    switch (overflow_) {
      case Overflow::wait: return PushResult::full;
      case Overflow::reject: return PushResult::rejected;
      case Overflow::drop_newest:
        describe(*env, dropped);
        dropped_.push(env);
        has_dropped_.store(true, std::memory_order_relaxed);
        return PushResult::dropped;
      case Overflow::drop_oldest: {
        // What may throw (room in either lane, copying the sender) comes before anything moves:
        // popping the oldest frees no room for the push, since lanes grow at their tail.
        dropped_.make_room();
        normal_.make_room();
        describe(*normal_.front(), dropped);
        EnvelopePtr oldest = normal_.pop();
        dropped_.push(oldest);
        has_dropped_.store(true, std::memory_order_relaxed);
        normal_.push(env);
        return PushResult::replaced;
      }
    }
  }
  normal_.push(env);
  return std::exchange(scheduled_, true) ? PushResult::accepted : PushResult::armed;
}

PushResult Mailbox::push_urgent(EnvelopePtr& env) {
  std::lock_guard lock(mutex_);
  if (closed_) return PushResult::closed;
  urgent_.push(env);
  return std::exchange(scheduled_, true) ? PushResult::accepted : PushResult::armed;
}

EnvelopePtr Mailbox::pop_locked(bool take_normal) {
  if (EnvelopePtr e = urgent_.pop()) return e;
  if (take_normal) {
    if (EnvelopePtr e = normal_.pop()) return e;
  }
  scheduled_ = false;
  return nullptr;
}

std::vector<WaiterPtr> Mailbox::take_space_waiters_locked() {
  std::vector<WaiterPtr> out;
  if (!space_waiters_.empty() && normal_.size() < capacity_) out.swap(space_waiters_);
  return out;
}

// Space waiters are completed after the lock is released: a waiter may re-enter push.
static void release_space(std::vector<WaiterPtr>& waiters) {
  for (auto& w : waiters) w->complete(Outcome{});
}

EnvelopePtr Mailbox::pop(bool take_normal) {
  std::vector<WaiterPtr> freed;
  EnvelopePtr env;
  {
    std::lock_guard lock(mutex_);
    env = pop_locked(take_normal);
    if (env) freed = take_space_waiters_locked();
  }
  release_space(freed);
  return env;
}

std::size_t Mailbox::pop_batch(std::vector<EnvelopePtr>& out, std::size_t max) {
  std::vector<WaiterPtr> freed;
  std::size_t n = 0;
  {
    std::lock_guard lock(mutex_);
    // What may throw comes before anything is popped. Room for what is there, not for `max`:
    // a mailbox that holds one message keeps a one-slot batch (100,000 agents, 50 MB less).
    out.reserve(out.size() + std::min(max, urgent_.size() + normal_.size()));
    while (n < max) {
      EnvelopePtr env = pop_locked(true);
      if (!env) break;
      out.push_back(std::move(env));
      ++n;
    }
    // A full batch leaves the mailbox scheduled even if it happens to be empty now: the
    // owner will pop once more and only that empty pop makes it idle.
    if (n > 0) freed = take_space_waiters_locked();
  }
  release_space(freed);
  return n;
}

std::size_t Mailbox::take_dropped(std::vector<EnvelopePtr>& out) {
  // Relaxed suffices: a drop missed here is taken by the owner's next call (it is still
  // scheduled: drops happen only while the mailbox is full) or by close().
  if (!has_dropped_.load(std::memory_order_relaxed)) return 0;
  std::lock_guard lock(mutex_);
  out.reserve(out.size() + dropped_.size());  // what may throw comes before anything is popped
  std::size_t n = 0;
  while (EnvelopePtr e = dropped_.pop()) {
    out.push_back(std::move(e));
    ++n;
  }
  has_dropped_.store(false, std::memory_order_relaxed);
  return n;
}

void Mailbox::claim() {
  std::lock_guard lock(mutex_);
  scheduled_ = true;
}

bool Mailbox::try_idle() {
  std::lock_guard lock(mutex_);
  if (!urgent_.empty() || !normal_.empty()) return false;
  scheduled_ = false;
  return true;
}

bool Mailbox::wait_for_space(WaiterPtr waiter) {
  std::lock_guard lock(mutex_);
  if (closed_ || normal_.size() < capacity_) return false;
  space_waiters_.push_back(std::move(waiter));
  return true;
}

std::vector<EnvelopePtr> Mailbox::close() {
  std::vector<EnvelopePtr> left;
  std::vector<WaiterPtr> waiters;
  {
    std::lock_guard lock(mutex_);
    // What may throw comes before anything moves: a failed close leaves the mailbox open.
    left.reserve(urgent_.size() + normal_.size() + dropped_.size());
    closed_ = true;
    for (EnvelopeQueue* lane : {&urgent_, &normal_, &dropped_}) {
      while (EnvelopePtr e = lane->pop()) left.push_back(std::move(e));
    }
    has_dropped_.store(false, std::memory_order_relaxed);
    waiters.swap(space_waiters_);
  }
  for (auto& w : waiters) w->complete(Outcome::failure(Status::closed, "the mailbox closed"));
  return left;
}

std::size_t Mailbox::size() const {
  std::lock_guard lock(mutex_);
  return normal_.size();
}

bool Mailbox::closed() const {
  std::lock_guard lock(mutex_);
  return closed_;
}

}  // namespace serendip
