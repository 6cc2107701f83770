// tests/core/failing_allocation.hpp: allocation failure on demand, for exception guarantees.
// SPDX-License-Identifier: Apache-2.0
#pragma once

namespace serendip::testing {

/// While one exists, every allocation of this thread through the global operator new throws
/// std::bad_alloc (failing_allocation.cpp replaces the global operator new of the test).
class FailingAllocations {
 public:
  FailingAllocations();
  ~FailingAllocations();
  FailingAllocations(const FailingAllocations&) = delete;
  FailingAllocations& operator=(const FailingAllocations&) = delete;
};

}  // namespace serendip::testing
