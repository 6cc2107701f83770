// src/outcome.cpp: names of outcome statuses.
// SPDX-License-Identifier: Apache-2.0
#include <serendip/outcome.hpp>

namespace serendip {

const char* to_string(Status s) noexcept {
  switch (s) {
    case Status::ok: return "ok";
    case Status::error: return "error";
    case Status::timeout: return "timeout";
    case Status::cancelled: return "cancelled";
    case Status::not_found: return "not_found";
    case Status::closed: return "closed";
    case Status::dropped: return "dropped";
  }
  return "unknown";
}

}  // namespace serendip
