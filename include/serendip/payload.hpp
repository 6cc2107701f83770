// include/serendip/payload.hpp: a move-only, type-erased message body.
// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <cstddef>
#include <new>
#include <type_traits>
#include <utility>

namespace serendip {

/// Holds one value of any move-constructible type, or nothing.
///
/// Move-only (unlike std::any) so that it can carry handles whose copy is not free or not
/// allowed on every thread, such as the binding's Python references. A value of one word (a
/// handle such as a Python reference, a number) with a noexcept move is stored in place, so
/// that a Python message costs no allocation; larger values (a std::string) cost one. One word
/// because every queued envelope is memory touched for the first time (envelope.hpp).
/// Not thread-safe: one owner at a time, like the Envelope that carries it.
class Payload {
 public:
  static constexpr std::size_t inline_size = sizeof(void*);

  Payload() noexcept = default;

  template <class T, class D = std::decay_t<T>>
    requires(!std::is_same_v<D, Payload>)
  Payload(T&& value) {  // NOLINT(google-explicit-constructor): payloads convert implicitly
    if constexpr (stored_inline<D>) {
      ::new (static_cast<void*>(buf_)) D(std::forward<T>(value));
    } else {
      *reinterpret_cast<D**>(buf_) = new D(std::forward<T>(value));
    }
    ops_ = &ops_for<D>;
  }

  Payload(Payload&& other) noexcept { take(other); }
  Payload& operator=(Payload&& other) noexcept {
    if (this != &other) {
      reset();
      take(other);
    }
    return *this;
  }
  Payload(const Payload&) = delete;
  Payload& operator=(const Payload&) = delete;
  ~Payload() { reset(); }

  /// True when a value is held.
  bool has_value() const noexcept { return ops_ != nullptr; }

  /// True when the held value is exactly a T.
  template <class T>
  bool holds() const noexcept {
    return ops_ == &ops_for<T>;
  }

  /// The held value if it is a T, else nullptr.
  template <class T>
  T* get() noexcept {
    if (!holds<T>()) return nullptr;
    if constexpr (stored_inline<T>) {
      return std::launder(reinterpret_cast<T*>(buf_));
    } else {
      return *reinterpret_cast<T**>(buf_);
    }
  }
  template <class T>
  const T* get() const noexcept {
    return const_cast<Payload*>(this)->get<T>();
  }

  /// Destroys the held value, if any.
  void reset() noexcept {
    if (ops_ != nullptr) {
      ops_->destroy(buf_);
      ops_ = nullptr;
    }
  }

 private:
  struct Ops {
    void (*destroy)(unsigned char* buf) noexcept;
    void (*relocate)(unsigned char* dst, unsigned char* src) noexcept;
  };

  // A pointer's alignment, not max_align_t's (16): that would pad every envelope by 8 bytes
  // for values (long double, SIMD types) that are rare in messages; they go to the heap.
  static constexpr std::size_t kInlineAlign = alignof(void*);

  template <class T>
  static constexpr bool stored_inline = sizeof(T) <= inline_size &&
                                        alignof(T) <= kInlineAlign &&
                                        std::is_nothrow_move_constructible_v<T>;

  template <class T>
  static void destroy_value(unsigned char* buf) noexcept {
    if constexpr (stored_inline<T>) {
      std::launder(reinterpret_cast<T*>(buf))->~T();
    } else {
      delete *reinterpret_cast<T**>(buf);
    }
  }

  template <class T>
  static void relocate_value(unsigned char* dst, unsigned char* src) noexcept {
    if constexpr (stored_inline<T>) {
      T* from = std::launder(reinterpret_cast<T*>(src));
      ::new (static_cast<void*>(dst)) T(std::move(*from));
      from->~T();
    } else {
      *reinterpret_cast<T**>(dst) = *reinterpret_cast<T**>(src);
    }
  }

  // One table per type; its address is the type's identity (no RTTI needed).
  template <class T>
  static constexpr Ops ops_for{&destroy_value<T>, &relocate_value<T>};

  void take(Payload& other) noexcept {
    if (other.ops_ != nullptr) {
      other.ops_->relocate(buf_, other.buf_);
      ops_ = std::exchange(other.ops_, nullptr);
    }
  }

  alignas(kInlineAlign) unsigned char buf_[inline_size];
  const Ops* ops_ = nullptr;
};

}  // namespace serendip
