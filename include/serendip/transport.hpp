// include/serendip/transport.hpp: the seam where a network transport plugs into routing.
// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <serendip/fwd.hpp>
#include <serendip/route_result.hpp>

#include <string_view>

namespace serendip {

/// Carries envelopes to agents that are not registered locally (for example over NATS).
/// The Router asks it only after a local lookup fails.
class Transport {
 public:
  virtual ~Transport() = default;
  /// Carries `env` to `target`. Takes `env` on success; on any other result leaves it with
  /// the caller. Thread-safe; must not block.
  virtual RouteResult send(std::string_view target, EnvelopePtr& env) = 0;
};

}  // namespace serendip
