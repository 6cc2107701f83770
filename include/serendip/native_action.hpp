// include/serendip/native_action.hpp: calling a native action (the C ABI of native_action.h).
// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <serendip/native_action.h>

#include <stdexcept>
#include <string>
#include <string_view>

namespace serendip {

/// A native action reported an error, or answered with text that is not JSON.
class NativeActionFailed : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// A C function of the native-action ABI and its state. Copyable; holds no lifetime of its
/// own: whoever registered the function keeps its code and state alive while this is used.
class NativeAction {
 public:
  /// Throws std::invalid_argument for a null function.
  NativeAction(serendip_action_fn function, void* state);

  /// Runs the action on `inputs` (a JSON object) in the calling thread and returns its result,
  /// JSON text. Throws NativeActionFailed with the action's message when it reports an error,
  /// or when its result is not JSON. Thread-safe as far as the function is.
  std::string call(std::string_view inputs) const;

 private:
  serendip_action_fn function_;
  void* state_;
};

}  // namespace serendip
