// include/serendip/outcome.hpp: how a request, or any wait, ended.
// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <serendip/payload.hpp>

#include <cstdint>
#include <string>

namespace serendip {

/// Every request ends with exactly one of these.
enum class Status : std::uint8_t {
  ok,         ///< `payload` is the handler's result
  error,      ///< the handler failed; `payload` may carry the original error object
  timeout,    ///< the deadline passed first
  cancelled,  ///< the caller gave up
  not_found,  ///< no agent of that name
  closed,     ///< the mesh (or the target) closed first
  dropped,    ///< the target's overflow policy dropped the request's message
};

/// The final state of a request or wait, delivered once to its Waiter.
struct Outcome {
  Status status = Status::ok;
  Payload payload;
  std::string error_type;     ///< for `error`: the failing type's name
  std::string error_message;  ///< for everything but `ok`: a human-readable reason

  static Outcome success(Payload p) { return Outcome{Status::ok, std::move(p), {}, {}}; }
  static Outcome failure(Status s, std::string message) {
    return Outcome{s, Payload{}, {}, std::move(message)};
  }
};

/// A short lowercase name for logs and error messages.
const char* to_string(Status s) noexcept;

}  // namespace serendip
