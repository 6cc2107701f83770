// bindings/bridge.cpp: LoopBridge, Waiter and BlockingWaiter for Python.
// SPDX-License-Identifier: Apache-2.0
#include "bindings.hpp"
#include "py_payload.hpp"

#include <serendip/loop_bridge.hpp>
#include <serendip/waiter.hpp>

#include <nanobind/stl/shared_ptr.h>
#include <nanobind/stl/string.h>

#include <chrono>

namespace serendip::binding {

namespace {

// Owns the Python side's reference to a bridge. Closing it here, with the GIL held, is what
// guarantees that queued items carrying PyRefs die under the GIL: after close, posts from
// other threads drop their items where they are posted, and those carry no Python objects.
struct BridgeHandle {
  LoopBridgePtr bridge = std::make_shared<LoopBridge>();
  nb::object wake;  // schedules the Python drain on the loop (e.g. a partial of call_soon)

  BridgeHandle() = default;
  BridgeHandle(const BridgeHandle&) = delete;
  BridgeHandle& operator=(const BridgeHandle&) = delete;
  ~BridgeHandle() {
    bridge->set_local_wake(nullptr, nullptr);
    bridge->close();
  }
};

// The bridge's local wake: runs on the loop's own thread, inside a binding call that holds the
// GIL, so calling Python here is calling it from the loop itself. Anything unusual (no GIL,
// an error already pending, the loop refusing) falls back to the fd.
bool wake_locally(void* context) {
  if (PyGILState_Check() == 0 || PyErr_Occurred() != nullptr) return false;
  nb::object wake = static_cast<BridgeHandle*>(context)->wake;  // owned across the call
  if (!wake.is_valid()) return false;
  PyObject* result = PyObject_CallNoArgs(wake.ptr());
  if (result == nullptr) {
    PyErr_Clear();
    return false;
  }
  Py_DECREF(result);
  return true;
}

// The wake callable refers back to the Python bridge that owns this handle.
int traverse(PyObject* self, visitproc visit, void* arg) {
  Py_VISIT(Py_TYPE(self));
  if (!nb::inst_ready(self)) return 0;
  Py_VISIT(nb::inst_ptr<BridgeHandle>(self)->wake.ptr());
  return 0;
}

int clear(PyObject* self) {
  auto* h = nb::inst_ptr<BridgeHandle>(self);
  h->bridge->set_local_wake(nullptr, nullptr);
  h->wake.reset();
  return 0;
}

PyType_Slot slots[] = {{Py_tp_traverse, reinterpret_cast<void*>(traverse)},
                       {Py_tp_clear, reinterpret_cast<void*>(clear)},
                       {0, nullptr}};

nb::tuple outcome_tuple(Outcome& o) {
  return nb::make_tuple(static_cast<int>(o.status), from_payload(o.payload), o.error_type,
                        o.error_message);
}

// One tuple per item; the loop's drain dispatches on the first element (0 ready,
// 1 completion, 2 abandon). Runs on the loop thread with the GIL held.
nb::list drain(BridgeHandle& h, bool rearm) {
  std::vector<BridgeItem> items = h.bridge->drain(rearm);
  nb::list out;
  for (auto& item : items) {
    switch (item.kind) {
      case BridgeItem::Kind::ready:
        out.append(nb::make_tuple(0, item.agent));
        break;
      case BridgeItem::Kind::completion:
        out.append(nb::make_tuple(1, item.key, outcome_tuple(item.outcome)));
        break;
      case BridgeItem::Kind::abandon:
        out.append(nb::make_tuple(2, item.agent, item.key));
        break;
    }
  }
  return out;
}

Deadline deadline_after(double seconds) {
  return Clock::now() + std::chrono::duration_cast<Clock::duration>(
                            std::chrono::duration<double>(seconds));
}

}  // namespace

void bind_bridge(nb::module_& m) {
  nb::class_<Waiter>(m, "Waiter", "Hears the end of one request or wait. Opaque.");

  nb::class_<BlockingWaiter, Waiter>(m, "BlockingWaiter",
                                     "A waiter for a thread that blocks (the *_sync calls).")
      .def(nb::new_([] { return std::make_shared<BlockingWaiter>(); }))
      .def(
          "wait",
          [](BlockingWaiter& w, double seconds) {
            Deadline until = deadline_after(seconds);
            nb::gil_scoped_release release;
            return w.wait_until(until);
          },
          nb::arg("seconds"),
          "Blocks up to `seconds` with the GIL released; True once completed.")
      .def("done", &BlockingWaiter::done)
      .def(
          "result",
          [](BlockingWaiter& w) {
            Outcome o = w.take();
            return outcome_tuple(o);
          },
          nb::sig("def result(self) -> tuple[int, object, str, str]"),
          "(status, payload, error_type, error_message). Only after wait() returned True.");

  nb::class_<BridgeHandle>(m, "LoopBridge", nb::type_slots(slots),
                           "The native side of one event loop: a ready queue and an eventfd.")
      .def(nb::init<>())
      .def_prop_ro("fd", [](BridgeHandle& h) { return h.bridge->fd(); })
      .def(
          "wait_for_items",
          [](BridgeHandle& h, double seconds) {
            const auto at_most = std::chrono::duration_cast<std::chrono::nanoseconds>(
                std::chrono::duration<double>(seconds));
            nb::gil_scoped_release release;
            return h.bridge->wait_for_items(at_most);
          },
          nb::arg("seconds"),
          "Polls for work for up to `seconds` (and a few dozen microseconds at most) with the "
          "GIL released; True once any is queued. The loop calls it before it sleeps.")
      .def("drain", &drain, nb::arg("rearm") = true,
           nb::sig("def drain(self, rearm: bool = True) -> list[tuple[typing.Any, ...]]"),
           "Takes every queued item. With `rearm` False, posts wake no one until the next "
           "drain, which must follow. Loop thread only.")
      .def(
          "waiter",
          [](BridgeHandle& h, std::uint64_t token) { return h.bridge->make_waiter(token); },
          nb::arg("token"), "A waiter that completes as item (1, token, outcome).")
      .def(
          "set_local_wake",
          [](BridgeHandle& h, nb::object wake) {
            h.wake = std::move(wake);
            h.bridge->set_local_wake(&wake_locally, &h);
          },
          nb::arg("wake"),
          nb::sig("def set_local_wake(self, wake: collections.abc.Callable[[], object]) -> None"),
          "Posts from the loop's own thread call `wake()` (which must schedule the drain) "
          "instead of writing the fd.")
      .def(
          "close",
          [](BridgeHandle& h) {
            h.bridge->set_local_wake(nullptr, nullptr);
            h.bridge->close();
          },
          "Refuses further items and drops the queued ones.")
      .def_prop_ro("closed", [](BridgeHandle& h) { return h.bridge->closed(); });
}

LoopBridgePtr bridge_of(nb::handle handle) { return nb::cast<BridgeHandle&>(handle).bridge; }

}  // namespace serendip::binding
