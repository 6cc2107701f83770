// include/serendip/name.hpp: an agent's name as an envelope carries it, in 16 bytes.
// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

namespace serendip {

/// An immutable string for the names an envelope carries (its target and sender). Every queued
/// message holds two, and each queued byte is memory that a burst touches for the first time,
/// so a name is 16 bytes (a std::string is 32): up to 15 bytes are kept inline, longer names in
/// one heap allocation. Read it as a std::string_view.
class Name {
 public:
  Name() noexcept { bytes_[kLast] = 0; }
  Name(std::string_view s) {  // NOLINT(google-explicit-constructor): names convert implicitly
    if (s.size() <= kInline) {
      std::memcpy(bytes_, s.data(), s.size());
      bytes_[kLast] = static_cast<char>(s.size());
      return;
    }
    if (s.size() > UINT32_MAX) throw std::length_error("an agent name of over 4 GiB");
    char* heap = new char[s.size()];
    std::memcpy(heap, s.data(), s.size());
    set_heap(heap, s.size());
  }
  Name(const std::string& s) : Name(std::string_view(s)) {}  // NOLINT(google-explicit-constructor)
  Name(const char* s) : Name(std::string_view(s)) {}         // NOLINT(google-explicit-constructor)

  Name(const Name& other) : Name(other.view()) {}
  Name(Name&& other) noexcept {
    std::memcpy(bytes_, other.bytes_, sizeof bytes_);
    other.bytes_[kLast] = 0;  // inline and empty: owns nothing now
  }
  Name& operator=(const Name& other) {
    if (this != &other) *this = Name(other);
    return *this;
  }
  Name& operator=(Name&& other) noexcept {
    if (this != &other) {
      release();
      std::memcpy(bytes_, other.bytes_, sizeof bytes_);
      other.bytes_[kLast] = 0;
    }
    return *this;
  }
  ~Name() { release(); }

  std::string_view view() const noexcept {
    if (on_heap()) return {heap_data(), heap_size()};
    return {bytes_, static_cast<std::size_t>(bytes_[kLast])};
  }
  operator std::string_view() const noexcept { return view(); }  // NOLINT(google-explicit-constructor)
  std::string str() const { return std::string(view()); }
  bool empty() const noexcept { return view().empty(); }

  friend bool operator==(const Name& a, std::string_view b) noexcept { return a.view() == b; }

 private:
  static constexpr std::size_t kInline = 15;
  static constexpr std::size_t kLast = 15;         // inline: the size; heap: kHeap
  static constexpr char kHeap = static_cast<char>(0x80);

  // Heap form: the pointer in bytes 0-7, the size (32 bits: names are short) in bytes 8-11,
  // kHeap in byte 15.
  bool on_heap() const noexcept { return bytes_[kLast] == kHeap; }
  const char* heap_data() const noexcept {
    const char* p = nullptr;
    std::memcpy(&p, bytes_, sizeof p);
    return p;
  }
  std::size_t heap_size() const noexcept {
    std::uint32_t n = 0;
    std::memcpy(&n, bytes_ + 8, sizeof n);
    return n;
  }
  void set_heap(char* p, std::size_t n) noexcept {
    const auto size = static_cast<std::uint32_t>(n);
    std::memcpy(bytes_, &p, sizeof p);
    std::memcpy(bytes_ + 8, &size, sizeof size);
    bytes_[kLast] = kHeap;
  }
  void release() noexcept {
    if (on_heap()) delete[] heap_data();
  }

  alignas(8) char bytes_[16];
};

}  // namespace serendip
