// tests/core/failing_allocation.cpp: the global operator new of the tests that link it.
// SPDX-License-Identifier: Apache-2.0
//
// In a file of its own, so that the compiler sees no new/delete pair it could inline and
// mismatch with the malloc/free underneath.
#include "failing_allocation.hpp"

#include <cstdlib>
#include <new>

namespace {
thread_local bool failing = false;
}  // namespace

namespace serendip::testing {

FailingAllocations::FailingAllocations() { failing = true; }
FailingAllocations::~FailingAllocations() { failing = false; }

}  // namespace serendip::testing

void* operator new(std::size_t size) {
  if (failing) throw std::bad_alloc();
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
