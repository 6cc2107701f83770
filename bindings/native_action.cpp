// bindings/native_action.cpp: NativeAction, a native action Python calls without holding the GIL.
// SPDX-License-Identifier: Apache-2.0
#include "bindings.hpp"

#include <serendip/native_action.hpp>

#include <nanobind/stl/string.h>

#include <cstdint>
#include <string>

namespace serendip::binding {

namespace nb = nanobind;

namespace {

// The action and the Python object that owns its code (a ctypes function, or a PyCapsule
// whose destructor may unload it): kept alive together.
struct NativeActionHandle {
  NativeAction action;
  nb::object owner;
};

NativeActionHandle from_capsule(nb::handle capsule) {
  if (PyCapsule_IsValid(capsule.ptr(), SERENDIP_ACTION_CAPSULE) == 0) {
    throw nb::type_error(("a native action is a ctypes function or a PyCapsule named '" +
                          std::string(SERENDIP_ACTION_CAPSULE) + "', not " +
                          nb::inst_name(capsule).c_str())
                             .c_str());
  }
  void* function = PyCapsule_GetPointer(capsule.ptr(), SERENDIP_ACTION_CAPSULE);
  void* state = PyCapsule_GetContext(capsule.ptr());
  if (state == nullptr && PyErr_Occurred() != nullptr) throw nb::python_error();
  return {NativeAction(reinterpret_cast<serendip_action_fn>(function), state),
          nb::borrow(capsule)};
}

}  // namespace

void bind_native_action(nb::module_& m) {
  nb::class_<NativeActionHandle>(m, "NativeAction",
                                 "A native action (C ABI of serendip/native_action.h).")
      .def(
          "__init__",
          [](NativeActionHandle* self, std::uintptr_t address, nb::object owner) {
            if (address == 0) throw nb::value_error("a native action's address cannot be 0");
            new (self) NativeActionHandle{
                NativeAction(reinterpret_cast<serendip_action_fn>(address), nullptr),
                std::move(owner)};
          },
          nb::arg("address"), nb::arg("owner"),
          "The function at `address` (a ctypes function's), with no state; `owner` is kept "
          "alive with it.")
      .def_static("from_capsule", &from_capsule, nb::arg("capsule"),
                  "The function a PyCapsule named 'serendip.native_action' holds; the "
                  "capsule's context is its state.")
      .def(
          "call",
          [](const NativeActionHandle& self, const std::string& inputs) {
            // Native code runs without the GIL: other threads and loops go on meanwhile.
            nb::gil_scoped_release release;
            return self.action.call(inputs);
          },
          nb::arg("inputs"),
          "Runs the action on JSON `inputs` in this thread, without the GIL; returns its JSON "
          "result. Raises NativeActionError.");
}

}  // namespace serendip::binding
