// tests/core/test_support.hpp: helpers shared by the core tests: a home the test drives by hand.
// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <serendip/agent_cell.hpp>
#include <serendip/home.hpp>
#include <serendip/mesh.hpp>

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <vector>

namespace serendip::testing {

/// How long a test waits for something that only a bug would prevent. Not a timing
/// assertion: passing tests never get near it.
inline constexpr std::chrono::seconds patience{60};

inline Deadline patience_deadline() { return Clock::now() + patience; }

/// A Home that runs nothing: it records what the mesh asked of it, so a test can play the
/// agent's executor (for example, a foreign agent that answers requests by hand).
/// Thread-safe; `mutex_` guards every member.
class RecordingHome final : public Home {
 public:
  void schedule(const AgentCellPtr&) override {
    std::lock_guard lock(mutex_);
    ++scheduled_;
    cv_.notify_all();
  }

  void abandon(const AgentCellPtr&, RequestId request) override {
    std::lock_guard lock(mutex_);
    abandoned_.push_back(request);
    cv_.notify_all();
  }

  std::size_t scheduled() const {
    std::lock_guard lock(mutex_);
    return scheduled_;
  }

  std::vector<RequestId> abandoned() const {
    std::lock_guard lock(mutex_);
    return abandoned_;
  }

  /// Blocks until `schedule` was called more than `seen` times in all; false at `until`.
  bool wait_scheduled_beyond(std::size_t seen, Deadline until) {
    std::unique_lock lock(mutex_);
    return cv_.wait_until(lock, until, [&] { return scheduled_ > seen; });
  }

  /// Blocks until `abandon` was called at least `n` times; false after `patience`.
  bool wait_abandoned(std::size_t n) {
    std::unique_lock lock(mutex_);
    return cv_.wait_until(lock, patience_deadline(), [&] { return abandoned_.size() >= n; });
  }

 private:
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::size_t scheduled_ = 0;
  std::vector<RequestId> abandoned_;
};

/// An agent cell whose mailbox the test pops by hand, as its (only) consumer.
struct ParkedAgent {
  std::shared_ptr<RecordingHome> home = std::make_shared<RecordingHome>();
  AgentCellPtr cell;

  explicit ParkedAgent(std::string name, std::size_t capacity = 1024,
                       Overflow overflow = Overflow::wait)
      : cell(std::make_shared<AgentCell>(std::move(name), capacity, home, overflow)) {}

  /// The next envelope, waiting for one to be pushed; null only if none came in `patience`.
  EnvelopePtr next() {
    const Deadline until = patience_deadline();
    for (;;) {
      const std::size_t seen = home->scheduled();
      if (EnvelopePtr env = cell->mailbox().pop()) return env;
      // That empty pop left the mailbox idle, so the next push schedules it.
      if (!home->wait_scheduled_beyond(seen, until)) return nullptr;
    }
  }
};

/// Answers `env` as its foreign agent would: resolves its request (if it is one) and reports
/// the message as handled to the mesh's WorkTracker.
inline void answer(Mesh& mesh, const Envelope& env, Outcome outcome = {}) {
  if (env.kind == Kind::request) mesh.reply(env.request_id, std::move(outcome));
  mesh.work().finish();
}

}  // namespace serendip::testing
