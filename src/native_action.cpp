// src/native_action.cpp: NativeAction.
// SPDX-License-Identifier: Apache-2.0
#include <serendip/native_action.hpp>

#include <nlohmann/json.hpp>

namespace serendip {

namespace {

// serendip_write_fn over a std::string sink.
void append(void* sink, const char* data, std::size_t size) {
  static_cast<std::string*>(sink)->append(data, size);
}

}  // namespace

NativeAction::NativeAction(serendip_action_fn function, void* state)
    : function_(function), state_(state) {
  if (function_ == nullptr) throw std::invalid_argument("a native action needs a function");
}

std::string NativeAction::call(std::string_view inputs) const {
  std::string answer;
  if (function_(state_, inputs.data(), inputs.size(), append, &answer) != 0) {
    throw NativeActionFailed(answer.empty() ? "the native action failed without a message"
                                            : answer);
  }
  // Checked here so that no caller ever hands a model or a Python decoder broken JSON.
  if (!nlohmann::json::accept(answer)) {
    throw NativeActionFailed("the native action's result is not JSON: " + answer.substr(0, 200));
  }
  return answer;
}

}  // namespace serendip
