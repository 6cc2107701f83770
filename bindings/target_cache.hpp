// bindings/target_cache.hpp: the agents Python sent to lately, by the name's str object.
// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <serendip/agent_cell.hpp>

#include <nanobind/nanobind.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <utility>

namespace serendip::binding {

namespace nb = nanobind;

/// Senders in Python pass the same `str` objects again and again (`names[i % n]`). Keyed by
/// the object's identity, a send skips the router's lock and string hash. An entry holds its
/// `str`, so the address cannot be reused by another name while it is cached, and it is only
/// believed while the router's generation (which moves on every add and remove) is the one
/// it was looked up under.
///
/// Thread safety: the GIL. Every call comes from a binding function, which holds it.
class TargetCache {
 public:
  TargetCache() = default;
  TargetCache(const TargetCache&) = delete;
  TargetCache& operator=(const TargetCache&) = delete;
  ~TargetCache() { clear(); }

  /// The agent cached for `name` under `generation`, or null. Entries of an older
  /// generation are all dropped first.
  const AgentCellPtr* find(PyObject* name, std::uint64_t generation) {
    if (generation != generation_) {
      clear();
      generation_ = generation;
    }
    const std::size_t home = slot_of(name);
    for (std::size_t i = 0; i < kProbes; ++i) {
      Entry& e = entries_[(home + i) % kSize];
      if (e.name == name) return &e.agent;
    }
    return nullptr;
  }

  /// Caches `agent` as what the router answered for `name` under `generation` (read before
  /// the lookup, so that a change during it leaves the entry already stale). Takes a free
  /// slot near the name's own, else the name's own.
  void remember(PyObject* name, AgentCellPtr agent, std::uint64_t generation) {
    if (generation != generation_) return;
    const std::size_t home = slot_of(name);
    std::size_t chosen = home;
    for (std::size_t i = 0; i < kProbes; ++i) {
      if (entries_[(home + i) % kSize].name == nullptr) {
        chosen = (home + i) % kSize;
        break;
      }
    }
    Py_INCREF(name);
    Entry old = std::exchange(entries_[chosen], Entry{name, std::move(agent)});
    Py_XDECREF(old.name);
  }

  /// Drops every entry. Releasing a name or an agent may run Python code (a payload's
  /// `__del__`) that sends again, so the table is emptied before anything is released.
  void clear() {
    std::array<Entry, kSize> old = std::exchange(entries_, {});
    for (Entry& e : old) Py_XDECREF(e.name);
  }

 private:
  struct Entry {
    PyObject* name = nullptr;  // strong reference
    AgentCellPtr agent;
  };

  static constexpr int kBits = 8;
  static constexpr std::size_t kSize = std::size_t{1} << kBits;
  static constexpr std::size_t kProbes = 4;

  // Fibonacci hashing of the address: allocators place objects at regular strides, which
  // a plain modulus would fold onto a few slots.
  static std::size_t slot_of(PyObject* name) {
    constexpr std::uint64_t kGolden = 0x9E3779B97F4A7C15ULL;
    return static_cast<std::size_t>((reinterpret_cast<std::uintptr_t>(name) * kGolden) >> (64 - kBits));
  }

  std::array<Entry, kSize> entries_{};
  std::uint64_t generation_ = 0;
};

}  // namespace serendip::binding
