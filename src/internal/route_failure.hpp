// src/internal/route_failure.hpp: the Outcome of a request that could not be delivered.
// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <serendip/outcome.hpp>
#include <serendip/route_result.hpp>

#include <string>
#include <string_view>

namespace serendip::internal {

/// The Outcome for a send that ended with `result` (anything but `delivered`), so callers
/// that report by Outcome never see a RouteResult. A full mailbox is an `error` of type
/// "MailboxFull": Status has no value for it, and the caller may retry. Thread-safe.
inline Outcome route_failure(RouteResult result, std::string_view name) {
  const std::string target(name);
  switch (result) {
    case RouteResult::not_found:
      return Outcome::failure(Status::not_found, "no agent named '" + target + "'");
    case RouteResult::full:
      return Outcome{Status::error, {}, "MailboxFull", "the mailbox of '" + target + "' is full"};
    case RouteResult::rejected:
      return Outcome{Status::error, {}, "MailboxFull",
                     "the mailbox of '" + target + "' is full (overflow='reject')"};
    case RouteResult::delivered:
    case RouteResult::closed: break;
  }
  return Outcome::failure(Status::closed, "the mesh or '" + target + "' is closed");
}

}  // namespace serendip::internal
