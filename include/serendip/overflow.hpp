// include/serendip/overflow.hpp: what a full mailbox does with one more message.
// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <cstdint>

namespace serendip {

/// A mailbox's overflow policy, chosen per agent.
enum class Overflow : std::uint8_t {
  wait,         ///< refuse (`full`); blocking senders wait for space
  reject,       ///< refuse (`full`); senders get an error instead of waiting
  drop_oldest,  ///< queue the new message and drop the oldest queued one
  drop_newest,  ///< drop the new message
};

}  // namespace serendip
