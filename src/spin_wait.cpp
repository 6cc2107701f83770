// src/spin_wait.cpp: whether spinning can pay on this machine.
// SPDX-License-Identifier: Apache-2.0
#include <serendip/spin_wait.hpp>

#include <sched.h>

#include <thread>

namespace serendip {

bool spinning_pays() noexcept {
  static const bool pays = [] {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (::sched_getaffinity(0, sizeof set, &set) == 0) return CPU_COUNT(&set) > 1;
    return std::thread::hardware_concurrency() > 1;
  }();
  return pays;
}

}  // namespace serendip
