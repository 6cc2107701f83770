// include/serendip/spin_wait.hpp: polling briefly before sleeping for another thread's answer.
// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <chrono>

namespace serendip {

/// How long a thread about to sleep for an event first polls for it instead: a blocking
/// caller for its answer (BlockingWaiter) and a loop for work (LoopBridge::wait_for_items).
/// Waking a sleeping thread costs a futex wake and, on a virtual machine, an idle vCPU's exit
/// from halt: several microseconds per hop, the whole of a blocking query's round trip when
/// the other side answers in a few. Short enough that a wait with nothing coming costs little
/// CPU. (The Scheduler's idle workers poll far shorter and then yield, since a sender may
/// share their core: src/scheduler.cpp.)
inline constexpr std::chrono::microseconds kSpinBudget{50};

/// False on a machine with one usable CPU, where a spinning thread only delays the one it
/// waits for. Computed once (the process's CPU affinity at first use).
bool spinning_pays() noexcept;

/// One pause of a polling loop (the CPU's spin-wait hint).
inline void spin_pause() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

/// Polls `ready` until it returns true or `budget` has passed; returns its last answer.
/// Never sleeps; with one usable CPU, polls once.
template <class Ready>
bool spin_until(Ready&& ready, std::chrono::nanoseconds budget = kSpinBudget) {
  if (ready()) return true;
  if (budget <= std::chrono::nanoseconds::zero() || !spinning_pays()) return false;
  const auto until = std::chrono::steady_clock::now() + budget;
  for (unsigned i = 1;; ++i) {
    spin_pause();
    if (ready()) return true;
    // The clock every 64 polls: reading it costs more than a poll.
    if (i % 64 == 0 && std::chrono::steady_clock::now() >= until) return ready();
  }
}

}  // namespace serendip
