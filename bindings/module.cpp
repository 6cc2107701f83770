// bindings/module.cpp: the serendip._core extension module: payload conversion and errors.
// SPDX-License-Identifier: Apache-2.0
#include "bindings.hpp"
#include "py_payload.hpp"

#include <serendip/errors.hpp>
#include <serendip/native_action.hpp>

#include <string>

namespace serendip::binding {

Payload to_payload(const AgentCellPtr& target, nb::handle obj) {
  if (target->home().foreign()) return Payload(PyRef(obj));
  if (nb::isinstance<nb::str>(obj)) return Payload(std::string(nb::borrow<nb::str>(obj).c_str()));
  if (nb::isinstance<nb::bytes>(obj)) {
    auto b = nb::borrow<nb::bytes>(obj);
    return Payload(std::string(b.c_str(), b.size()));
  }
  throw nb::type_error(("native agent '" + target->name() +
                        "' accepts only str or bytes payloads, not " +
                        nb::inst_name(obj).c_str())
                           .c_str());
}

nb::object from_payload(const Payload& payload) {
  if (!payload.has_value()) return nb::none();
  if (const auto* ref = payload.get<PyRef>()) return ref->object();
  if (const auto* s = payload.get<std::string>()) return nb::str(s->data(), s->size());
  if (nb::object llm = llm_payload(payload); llm.is_valid()) return llm;
  throw nb::type_error("a native payload of a type Python cannot read");
}

PyObject* interned(const char* text) {
  PyObject* s = PyUnicode_InternFromString(text);
  if (s == nullptr) throw nb::python_error();
  return s;
}

// Errors are defined in Python (serendip._errors) so they carry Python-side context; they
// are looked up only when one is raised.
static void raise_mesh_error(const char* name, const char* what) {
  nb::object cls = nb::module_::import_("serendip._errors").attr(name);
  PyErr_SetString(cls.ptr(), what);
}

bool set_mesh_error(const std::exception_ptr& p) {
  try {
    std::rethrow_exception(p);
  } catch (const DuplicateAgent& e) {
    raise_mesh_error("DuplicateAgent", e.what());
  } catch (const AgentNotFound& e) {
    raise_mesh_error("AgentNotFound", e.what());
  } catch (const MeshClosed& e) {
    raise_mesh_error("MeshClosed", e.what());
  } catch (const NativeActionFailed& e) {
    raise_mesh_error("NativeActionError", e.what());
  } catch (...) {
    return false;
  }
  return true;
}

void set_python_error(const std::exception_ptr& p) noexcept {
  try {
    if (set_mesh_error(p)) return;
    std::rethrow_exception(p);
  } catch (nb::python_error& e) {
    e.restore();
  } catch (const nb::builtin_exception& e) {
    PyErr_SetString(e.type() == nb::exception_type::type_error    ? PyExc_TypeError
                    : e.type() == nb::exception_type::value_error ? PyExc_ValueError
                                                                  : PyExc_RuntimeError,
                    e.what());
  } catch (const std::bad_alloc&) {
    PyErr_NoMemory();
  } catch (const std::exception& e) {
    PyErr_SetString(PyExc_RuntimeError, e.what());
  } catch (...) {
    PyErr_SetString(PyExc_SystemError, "an unknown C++ exception");
  }
}

void raise_error(const char* name, const std::string& message) {
  raise_mesh_error(name, message.c_str());
  throw nb::python_error();
}

}  // namespace serendip::binding

NB_MODULE(_core, m) {
  using namespace serendip::binding;
  m.doc() = "serendip's native engine. Private: import from `serendip` instead.";
  nb::register_exception_translator([](const std::exception_ptr& p, void*) {
    if (!set_mesh_error(p)) std::rethrow_exception(p);
  });
  bind_bridge(m);
  bind_mesh(m);
  bind_context(m);
  bind_dispatcher(m);
  bind_native_action(m);
  bind_llm(m);
}
