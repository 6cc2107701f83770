// include/serendip/task.hpp: a lazily started C++20 coroutine that produces one value.
// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <concepts>
#include <coroutine>
#include <exception>
#include <optional>
#include <utility>

namespace serendip {

namespace detail {

/// What every Task promise shares: lazy start, the awaiting coroutine, and a stored exception.
class TaskPromiseBase {
 public:
  std::suspend_always initial_suspend() const noexcept { return {}; }

  /// Transfers to the awaiter once it has suspended on this task; otherwise (a task run by
  /// `start()`, or one finishing inside its awaiter's `await_suspend`) returns to the caller.
  struct FinalAwaiter {
    bool await_ready() const noexcept { return false; }
    template <class Promise>
    std::coroutine_handle<> await_suspend(std::coroutine_handle<Promise> h) const noexcept {
      return static_cast<TaskPromiseBase&>(h.promise()).continuation_;
    }
    void await_resume() const noexcept {}
  };
  FinalAwaiter final_suspend() const noexcept { return {}; }

  void unhandled_exception() noexcept { error_ = std::current_exception(); }
  void set_continuation(std::coroutine_handle<> c) noexcept { continuation_ = c; }

 protected:
  void rethrow_if_failed() const {
    if (error_) std::rethrow_exception(error_);
  }

 private:
  std::coroutine_handle<> continuation_ = std::noop_coroutine();
  std::exception_ptr error_;
};

template <class T>
class TaskPromise : public TaskPromiseBase {
 public:
  template <class U>
    requires std::convertible_to<U&&, T>
  void return_value(U&& value) {
    value_.emplace(std::forward<U>(value));
  }
  T take() {
    rethrow_if_failed();
    return std::move(*value_);
  }

 private:
  std::optional<T> value_;
};

template <>
class TaskPromise<void> : public TaskPromiseBase {
 public:
  void return_void() noexcept {}
  void take() const { rethrow_if_failed(); }
};

}  // namespace detail

/// A coroutine that does nothing until it is awaited (or started), then runs until it
/// returns a T or throws; the exception is rethrown to whoever takes the result.
///
/// Move-only; owns its coroutine frame and destroys it, suspended or finished, with itself.
/// Native handlers return `Task<Payload>` and may await other Tasks and `NativeContext::query`,
/// whose replies resume them later from their agent's own loop. They must not await anything
/// that resumes them from another thread: that would break the agent's one-step-at-a-time
/// guarantee (and the inline start below). Cost: one frame allocation per call.
/// Not thread-safe: owned by one coroutine (or one agent) at a time.
template <class T = void>
class [[nodiscard]] Task {
 public:
  struct promise_type : detail::TaskPromise<T> {
    Task get_return_object() noexcept {
      return Task(std::coroutine_handle<promise_type>::from_promise(*this));
    }
  };

  /// An empty task; only assignment and destruction are valid on it.
  Task() noexcept = default;
  Task(Task&& other) noexcept : handle_(std::exchange(other.handle_, {})) {}
  Task& operator=(Task&& other) noexcept {
    if (this != &other) {
      destroy();
      handle_ = std::exchange(other.handle_, {});
    }
    return *this;
  }
  Task(const Task&) = delete;
  Task& operator=(const Task&) = delete;
  ~Task() { destroy(); }

  /// Awaiting a task runs it to completion inside the awaiting coroutine and yields its
  /// result (or rethrows its exception). Owner only; the task must not be empty.
  auto operator co_await() && noexcept {
    struct Awaiter {
      std::coroutine_handle<promise_type> handle;
      bool await_ready() const noexcept { return handle.done(); }
      // Runs the task inline instead of by symmetric transfer: a task that finishes without
      // suspending then costs no stack, even where the compiler does not make the transfer a
      // tail call (GCC at -O0 overflows after ~10^5 awaits in a loop otherwise). Sound because
      // nothing resumes a suspended task before this returns (see the class comment).
      bool await_suspend(std::coroutine_handle<> awaiting) noexcept {
        handle.resume();
        if (handle.done()) return false;
        handle.promise().set_continuation(awaiting);
        return true;
      }
      T await_resume() { return handle.promise().take(); }
    };
    return Awaiter{handle_};
  }

  /// True unless empty (default-constructed or moved from).
  explicit operator bool() const noexcept { return static_cast<bool>(handle_); }

  /// Runs the task from the top until it first suspends or finishes. For drivers of
  /// top-level tasks, such as the native agent. Owner only; once, on a non-empty task.
  void start() { handle_.resume(); }

  /// True once the task has returned or thrown. Owner only.
  bool done() const noexcept { return handle_.done(); }

  /// The returned value, or rethrows the task's exception. Owner only; once, after done().
  T result() { return handle_.promise().take(); }

 private:
  explicit Task(std::coroutine_handle<promise_type> handle) noexcept : handle_(handle) {}

  void destroy() noexcept {
    if (handle_) handle_.destroy();
  }

  std::coroutine_handle<promise_type> handle_;
};

}  // namespace serendip
