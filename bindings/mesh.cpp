// bindings/mesh.cpp: Mesh, AgentRef and Envelope for Python.
// SPDX-License-Identifier: Apache-2.0
#include "bindings.hpp"
#include "mesh_handle.hpp"
#include "py_payload.hpp"

#include <serendip/envelope.hpp>
#include <serendip/errors.hpp>
#include <serendip/loop_bridge.hpp>
#include <serendip/mesh.hpp>

#include <nanobind/stl/optional.h>
#include <nanobind/stl/shared_ptr.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/string_view.h>
#include <nanobind/stl/vector.h>

#include <chrono>
#include <optional>

namespace serendip::binding {

namespace {

EnvelopePtr make(std::string_view target, Payload payload, std::optional<std::string_view> sender) {
  auto env = make_envelope(Kind::tell, std::string(target), std::move(payload));
  if (sender) env->sender = *sender;
  return env;
}

Deadline deadline_for(std::optional<double> timeout) {
  if (!timeout) return Deadline::max();
  return Clock::now() + std::chrono::duration_cast<Clock::duration>(
                            std::chrono::duration<double>(*timeout));
}

// Raises the Python error for a send the mesh refused (anything but `delivered`/`full`).
[[noreturn]] void raise_refused(const MeshHandle& h, RouteResult r, std::string_view target) {
  if (r == RouteResult::full) {
    raise_error("MailboxFull", "the mailbox of agent '" + std::string(target) + "' is full");
  }
  if (r == RouteResult::not_found) {
    raise_error("AgentNotFound", "no agent named '" + std::string(target) + "'");
  }
  raise_error("MeshClosed", "mesh '" + h.name() + "' is closed");
}

// The receiving agent, or the error: the mesh's closed state wins over an unknown name.
AgentCellPtr find_open(MeshHandle& h, std::string_view target) {
  Mesh& mesh = h.get();
  if (mesh.closed()) raise_refused(h, RouteResult::closed, target);
  AgentCellPtr agent = mesh.find(target);
  if (!agent) raise_refused(h, RouteResult::not_found, target);
  return agent;
}

// The hot path of a one-way send from Python: one native call, errors raised here.
void send_nowait(MeshHandle& h, nb::str target, nb::handle payload,
                 std::optional<std::string_view> sender) {
  Py_ssize_t size = 0;
  const char* data = PyUnicode_AsUTF8AndSize(target.ptr(), &size);
  if (data == nullptr) throw nb::python_error();
  const std::string_view name(data, static_cast<std::size_t>(size));
  AgentCellPtr agent = find_open(h, name);
  EnvelopePtr env = make(agent->name(), to_payload(agent, payload), sender);
  const RouteResult r = h.get().tell(agent, env);
  if (r != RouteResult::delivered) raise_refused(h, r, name);
}

// A request's id, or 0 when the mailbox is full (nothing was opened; wait for space and retry).
RequestId request(MeshHandle& h, std::string_view target, nb::handle payload,
                  std::optional<std::string_view> sender, std::optional<double> timeout,
                  WaiterPtr waiter) {
  AgentCellPtr agent = find_open(h, target);
  EnvelopePtr env = make(target, to_payload(agent, payload), sender);
  Sent sent = h.get().request(agent, env, std::move(waiter), deadline_for(timeout));
  if (sent.result == RouteResult::full) return 0;
  if (sent.result != RouteResult::delivered) raise_refused(h, sent.result, target);
  return sent.request;
}

}  // namespace

void bind_mesh(nb::module_& m) {
  m.attr("STATUS_OK") = static_cast<int>(Status::ok);
  m.attr("STATUS_ERROR") = static_cast<int>(Status::error);
  m.attr("STATUS_TIMEOUT") = static_cast<int>(Status::timeout);
  m.attr("STATUS_CANCELLED") = static_cast<int>(Status::cancelled);
  m.attr("STATUS_NOT_FOUND") = static_cast<int>(Status::not_found);
  m.attr("STATUS_CLOSED") = static_cast<int>(Status::closed);

  nb::class_<AgentCell>(m, "AgentRef", "The mesh's record of one agent.")
      .def_prop_ro("id", &AgentCell::id)
      .def_prop_ro("name", [](AgentCell& a) { return a.name(); })
      .def("size", [](AgentCell& a) { return a.mailbox().size(); },
           "Messages waiting in the mailbox.");

  nb::class_<MeshHandle>(m, "Mesh", "The native mesh: routing, requests, deadlines.")
      .def(nb::init<std::string, std::size_t>(), nb::arg("name"), nb::arg("worker_threads") = 0)
      .def(
          "add_agent",
          [](MeshHandle& h, std::string name, std::size_t mailbox_size, nb::handle bridge) {
            auto agent = std::make_shared<AgentCell>(std::move(name), mailbox_size,
                                                     bridge_of(bridge));
            h.get().add(agent);
            return agent;
          },
          nb::arg("name"), nb::arg("mailbox_size"), nb::arg("bridge"))
      .def(
          "remove_agent",
          [](MeshHandle& h, std::string_view name) {
            std::vector<EnvelopePtr> undelivered;  // destroyed here, with the GIL
            return h.get().remove(name, undelivered);
          },
          nb::arg("name"), nb::sig("def remove_agent(self, name: str) -> AgentRef | None"))
      .def("names", [](MeshHandle& h) { return h.get().names(); })
      .def("send_nowait", &send_nowait, nb::arg("target"), nb::arg("payload").none(),
           nb::arg("sender").none() = nb::none(),
           "Sends a one-way message or raises MailboxFull at once. Any thread; never blocks.\n\n"
           "Raises AgentNotFound, MailboxFull or MeshClosed.")
      .def("request", &request, nb::arg("target"), nb::arg("payload").none(), nb::arg("sender").none(),
           nb::arg("timeout").none(), nb::arg("waiter"),
           nb::sig("def request(self, target: str, payload: object, sender: str | None, "
                   "timeout: float | None, waiter: Waiter) -> int"),
           "Sends a request: its id, or 0 when the mailbox is full (nothing opened; wait for "
           "space and retry). Raises AgentNotFound or MeshClosed.")
      .def("cancel", [](MeshHandle& h, RequestId id) { return h.get().cancel(id); },
           nb::arg("request_id"))
      .def("wait_idle",
           [](MeshHandle& h, WaiterPtr w) { return h.get().work().wait_idle(std::move(w)); },
           nb::arg("waiter"), "Registers the waiter for the next idle moment; False if idle now.")
      .def(
          "wait_space",
          [](MeshHandle& h, std::string_view target, WaiterPtr w) {
            AgentCellPtr agent = h.get().find(target);
            return agent && agent->mailbox().wait_for_space(std::move(w));
          },
          nb::arg("target"), nb::arg("waiter"),
          "Registers the waiter for space in target's mailbox; False means retry now.")
      .def(
          "close",
          [](MeshHandle& h) {
            auto undelivered = h.get().close();  // destroyed here, with the GIL
            return undelivered.size();
          },
          "Refuses new work, fails in-flight requests, returns how many envelopes were dropped.")
      .def(
          "join",
          [](MeshHandle& h) {
            Mesh& mesh = h.get();
            nb::gil_scoped_release release;
            mesh.join();
          },
          "Stops and joins the native threads, with the GIL released.")
      .def("leak", &MeshHandle::leak, "Abandons the native mesh (forked child only).")
      .def_prop_ro("closed", [](MeshHandle& h) { return h.get().closed(); });
}

}  // namespace serendip::binding
