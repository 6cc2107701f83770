// src/internal/deadline.hpp: turning a caller's timeout into a Deadline without overflow.
// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <serendip/fwd.hpp>

#include <chrono>

namespace serendip::internal {

/// `now + timeout`, saturated at Deadline::max() (which means "no deadline"), so that
/// callers may pass milliseconds::max() for "wait forever". Thread-safe.
inline Deadline deadline_after(std::chrono::milliseconds timeout) {
  const Deadline now = Clock::now();
  if (timeout >= std::chrono::duration_cast<std::chrono::milliseconds>(Deadline::max() - now)) {
    return Deadline::max();
  }
  return now + timeout;
}

}  // namespace serendip::internal
