// src/loop_bridge.cpp: the ready queue and eventfd of one event loop.
// SPDX-License-Identifier: Apache-2.0
#include <serendip/agent_cell.hpp>
#include <serendip/loop_bridge.hpp>
#include <serendip/spin_wait.hpp>

#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <system_error>
#include <utility>

namespace serendip {

namespace {

// The QueryScope of this thread's innermost post, if any (see LoopBridge::LocalWake).
thread_local bool posting_query = false;

}  // namespace

LoopBridge::LoopBridge() {
  fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (fd_ < 0) throw std::system_error(errno, std::generic_category(), "eventfd");
}

LoopBridge::~LoopBridge() { ::close(fd_); }

void LoopBridge::post(BridgeItem&& item) {
  LocalWake local = nullptr;
  void* context = nullptr;
  {
    std::lock_guard lock(mutex_);
    if (closed_) return;  // the item (and its payload) is dropped here, by the poster
    items_.push_back(std::move(item));
    queued_.store(true, std::memory_order_release);
    if (std::exchange(armed_, true)) return;  // a wake is already on its way
    // The loop is polling (wait_for_items) and sees the item without the fd: that poll ends
    // under this lock, so it cannot end without seeing what was posted while it ran.
    if (phase_.load(std::memory_order_relaxed) == Phase::polling) return;
    if (owner_.load(std::memory_order_relaxed) == std::this_thread::get_id()) {
      local = local_wake_;
      context = local_context_;
    }
    if (local == nullptr) fd_written_ = true;
  }
  if (local != nullptr && local(context, posting_query)) return;
  if (local != nullptr) {
    std::lock_guard lock(mutex_);
    fd_written_ = true;
  }
  const std::uint64_t one = 1;
  // EAGAIN means the counter is saturated, which still wakes the reader.
  [[maybe_unused]] auto n = ::write(fd_, &one, sizeof one);
}

void LoopBridge::schedule(const AgentCellPtr& agent) {
  post(BridgeItem{BridgeItem::Kind::ready, agent->id(), 0, {}});
}

void LoopBridge::abandon(const AgentCellPtr& agent, RequestId request) {
  post(BridgeItem{BridgeItem::Kind::abandon, agent->id(), request, {}});
}

void LoopBridge::post_completion(std::uint64_t token, Outcome&& outcome) {
  post(BridgeItem{BridgeItem::Kind::completion, 0, token, std::move(outcome)});
}

std::shared_ptr<LoopWaiter> LoopBridge::make_waiter() {
  return std::make_shared<LoopWaiter>(weak_from_this());
}

void LoopBridge::drain(std::vector<BridgeItem>& batch, bool rearm) {
  owner_.store(std::this_thread::get_id(), std::memory_order_relaxed);
  // Read first, then take the queue: a post that lands between the two finds armed_ still
  // true and skips its write, and its item is taken below; one that lands after finds
  // armed_ false and writes again.
  bool written = false;
  {
    std::lock_guard lock(mutex_);
    written = std::exchange(fd_written_, false);
  }
  if (written) {
    std::uint64_t count = 0;
    if (::read(fd_, &count, sizeof count) < 0) {
      // The poster that set the flag writes after its unlock and has not yet: the flag stays
      // for the drain its write causes, or the fd would stay readable with nobody to read it
      // and the loop's reader would fire for nothing until some later post.
      std::lock_guard lock(mutex_);
      fd_written_ = true;
    }
  }
  std::lock_guard lock(mutex_);
  batch.swap(items_);  // the queue keeps the caller's (empty) buffer: no allocation per drain
  queued_.store(false, std::memory_order_relaxed);
  armed_ = !rearm;
}

void LoopBridge::set_local_wake(LocalWake wake, void* context) {
  std::lock_guard lock(mutex_);
  local_wake_ = wake;
  local_context_ = context;
}

bool LoopBridge::wait_for_items(std::chrono::nanoseconds at_most) {
  phase_.store(Phase::polling, std::memory_order_release);
  spin_until([this] { return queued_.load(std::memory_order_acquire); },
             std::min<std::chrono::nanoseconds>(at_most, kSpinBudget));
  std::lock_guard lock(mutex_);  // see post: a post that skipped the fd is seen here
  phase_.store(Phase::turn, std::memory_order_release);
  return !items_.empty();
}

bool LoopBridge::between_turns() const noexcept {
  return phase_.load(std::memory_order_acquire) != Phase::turn;
}

std::vector<BridgeItem> LoopBridge::close() {
  std::vector<BridgeItem> out;
  std::lock_guard lock(mutex_);
  closed_ = true;
  out.swap(items_);
  queued_.store(false, std::memory_order_relaxed);
  return out;
}

bool LoopBridge::closed() const {
  std::lock_guard lock(mutex_);
  return closed_;
}

LoopBridge::QueryScope::QueryScope(bool query) noexcept : outer_(posting_query) {
  posting_query = query;
}

LoopBridge::QueryScope::~QueryScope() { posting_query = outer_; }

void LoopWaiter::complete(Outcome&& outcome) noexcept {
  State seen = state_.load(std::memory_order_acquire);
  if (seen == State::waiting) {
    outcome_ = std::move(outcome);
    if (state_.compare_exchange_strong(seen, State::arrived, std::memory_order_acq_rel)) return;
    outcome = std::move(outcome_);  // the loop listened meanwhile: `seen` is now `listening`
  }
  if (auto bridge = bridge_.lock()) bridge->post_completion(token_, std::move(outcome));
}

bool LoopWaiter::listen(std::uint64_t token) noexcept {
  token_ = token;
  State expected = State::waiting;
  return state_.compare_exchange_strong(expected, State::listening, std::memory_order_acq_rel);
}

std::optional<Outcome> LoopWaiter::take() {
  if (state_.load(std::memory_order_acquire) != State::arrived) return std::nullopt;
  state_.store(State::taken, std::memory_order_relaxed);
  return std::move(outcome_);
}

}  // namespace serendip
