// bindings/py_payload.hpp: Python objects as payloads, and the conversions at the boundary.
// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <serendip/agent_cell.hpp>
#include <serendip/payload.hpp>

#include <nanobind/nanobind.h>

#include <utility>

namespace serendip::binding {

namespace nb = nanobind;

/// A strong reference to a Python object, carried inside a Payload so that in-process
/// messages pass the object itself (no copy, no serialisation).
///
/// Threading rule 1 (native threads never own a Python reference) is kept by where a PyRef
/// can go, and `to_payload` below is the one place that decides it: PyRefs are only given to
/// agents whose home is a LoopBridge, whose mailboxes are popped, closed and destroyed only by
/// this binding with the GIL held; native agents receive native values instead.
class PyRef {
 public:
  explicit PyRef(nb::handle h) noexcept : obj_(h.inc_ref().ptr()) {}
  PyRef(PyRef&& other) noexcept : obj_(std::exchange(other.obj_, nullptr)) {}
  PyRef& operator=(PyRef&&) = delete;
  PyRef(const PyRef&) = delete;
  ~PyRef() { Py_XDECREF(obj_); }  // GIL held: see the class comment

  nb::object object() const { return nb::borrow(obj_); }
  PyObject* ptr() const noexcept { return obj_; }

 private:
  PyObject* obj_;
};

/// Turns `obj` into a payload for `target`: the object itself for Python agents; for native
/// agents a `std::string` from `str` or `bytes`, else TypeError.
Payload to_payload(const AgentCellPtr& target, nb::handle obj);

/// Turns a payload back into a Python object: PyRef -> the object, std::string -> str,
/// nothing -> None. Other native types raise TypeError.
nb::object from_payload(const Payload& payload);

}  // namespace serendip::binding
