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
#include <nanobind/stl/unique_ptr.h>
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

int tell_agent(MeshHandle& h, const AgentCellPtr& agent, nb::handle payload,
               std::optional<std::string_view> sender) {
  EnvelopePtr env = make(agent->name(), to_payload(agent, payload), sender);
  return static_cast<int>(h.get().tell(agent, env));
}

int tell(MeshHandle& h, std::string_view target, nb::handle payload,
         std::optional<std::string_view> sender) {
  AgentCellPtr agent = h.get().find(target);
  if (!agent) return static_cast<int>(RouteResult::not_found);
  return tell_agent(h, agent, payload, sender);
}

// The hot path of a one-way send from Python: one native call, errors raised here.
void send_nowait(MeshHandle& h, nb::str target, nb::handle payload,
                 std::optional<std::string_view> sender) {
  Py_ssize_t size = 0;
  const char* data = PyUnicode_AsUTF8AndSize(target.ptr(), &size);
  if (data == nullptr) throw nb::python_error();
  const std::string_view name(data, static_cast<std::size_t>(size));
  Mesh& mesh = h.get();
  RouteResult r = RouteResult::closed;
  if (!mesh.closed()) {
    AgentCellPtr agent = mesh.find(name);
    if (!agent) raise_error("AgentNotFound", "no agent named '" + std::string(name) + "'");
    EnvelopePtr env = make(agent->name(), to_payload(agent, payload), sender);
    r = mesh.tell(agent, env);
  }
  switch (r) {
    case RouteResult::delivered:
      return;
    case RouteResult::full:
      raise_error("MailboxFull", "the mailbox of agent '" + std::string(name) + "' is full");
    case RouteResult::not_found:
      raise_error("AgentNotFound", "no agent named '" + std::string(name) + "'");
    case RouteResult::closed:
      break;
  }
  raise_error("MeshClosed", "mesh '" + h.name() + "' is closed");
}

nb::tuple request(MeshHandle& h, std::string_view target, nb::handle payload,
                  std::optional<std::string_view> sender, std::optional<double> timeout,
                  WaiterPtr waiter) {
  AgentCellPtr agent = h.get().find(target);
  if (!agent) return nb::make_tuple(static_cast<int>(RouteResult::not_found), 0);
  EnvelopePtr env = make(target, to_payload(agent, payload), sender);
  Sent sent = h.get().request(agent, env, std::move(waiter), deadline_for(timeout));
  return nb::make_tuple(static_cast<int>(sent.result), sent.request);
}

std::vector<EnvelopePtr> pop_batch(AgentCell& agent, std::size_t max) {
  std::vector<EnvelopePtr> out;
  agent.mailbox().pop_batch(out, max);
  return out;
}

nb::object optional_str(const std::string& s) {
  if (s.empty()) return nb::none();
  return nb::str(s.data(), s.size());
}

}  // namespace

void bind_mesh(nb::module_& m) {
  m.attr("DELIVERED") = static_cast<int>(RouteResult::delivered);
  m.attr("FULL") = static_cast<int>(RouteResult::full);
  m.attr("CLOSED") = static_cast<int>(RouteResult::closed);
  m.attr("NOT_FOUND") = static_cast<int>(RouteResult::not_found);
  m.attr("STATUS_OK") = static_cast<int>(Status::ok);
  m.attr("STATUS_ERROR") = static_cast<int>(Status::error);
  m.attr("STATUS_TIMEOUT") = static_cast<int>(Status::timeout);
  m.attr("STATUS_CANCELLED") = static_cast<int>(Status::cancelled);
  m.attr("STATUS_NOT_FOUND") = static_cast<int>(Status::not_found);
  m.attr("STATUS_CLOSED") = static_cast<int>(Status::closed);

  nb::class_<Envelope>(m, "Envelope", "One message, owned by the Python side once popped.")
      .def_prop_ro("payload", [](const Envelope& e) { return from_payload(e.payload); })
      .def_prop_ro("sender", [](const Envelope& e) { return optional_str(e.sender); },
                   nb::sig("def sender(self) -> str | None"))
      .def_ro("target", &Envelope::target)
      .def_ro("message_id", &Envelope::id)
      .def_ro("request_id", &Envelope::request_id)
      .def_prop_ro("kind", [](const Envelope& e) { return static_cast<int>(e.kind); });

  nb::class_<AgentCell>(m, "AgentRef", "The mesh's record of one agent.")
      .def_prop_ro("id", &AgentCell::id)
      .def_prop_ro("name", [](AgentCell& a) { return a.name(); })
      .def("pop", [](AgentCell& a) { return a.mailbox().pop(); },
           nb::sig("def pop(self) -> Envelope | None"),
           "The next envelope or None (which makes the mailbox idle). Home loop only.")
      .def("pop_batch", &pop_batch, nb::arg("max"),
           "Up to `max` envelopes; an empty list makes the mailbox idle. Home loop only.")
      .def("try_idle", [](AgentCell& a) { return a.mailbox().try_idle(); },
           "Makes an empty mailbox idle (the next push arms it); False if it has work.")
      .def("size", [](AgentCell& a) { return a.mailbox().size(); })
      .def_prop_ro("capacity", [](AgentCell& a) { return a.mailbox().capacity(); })
      .def_prop_ro("closed", [](AgentCell& a) { return a.mailbox().closed(); });

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
      .def(
          "find", [](MeshHandle& h, std::string_view name) { return h.get().find(name); },
          nb::arg("name"), nb::sig("def find(self, name: str) -> AgentRef | None"))
      .def("names", [](MeshHandle& h) { return h.get().names(); })
      .def("tell", &tell, nb::arg("target"), nb::arg("payload").none(), nb::arg("sender").none())
      .def("send_nowait", &send_nowait, nb::arg("target"), nb::arg("payload").none(),
           nb::arg("sender").none() = nb::none(),
           "Sends a one-way message or raises MailboxFull at once. Any thread; never blocks.\n\n"
           "Raises AgentNotFound, MailboxFull or MeshClosed.")
      .def("tell_agent", &tell_agent, nb::arg("agent"), nb::arg("payload"),
           nb::arg("sender").none())
      .def("request", &request, nb::arg("target"), nb::arg("payload").none(), nb::arg("sender").none(),
           nb::arg("timeout").none(), nb::arg("waiter"),
           nb::sig("def request(self, target: str, payload: object, sender: str | None, "
                   "timeout: float | None, waiter: Waiter) -> tuple[int, int]"),
           "Sends a request: (route result, request id); nothing is opened unless DELIVERED.")
      .def(
          "reply",
          [](MeshHandle& h, RequestId id, nb::handle result) {
            Outcome o = Outcome::success(Payload(PyRef(result)));
            return h.get().reply(id, std::move(o));  // if already ended, o dies here (GIL held)
          },
          nb::arg("request_id"), nb::arg("result").none())
      .def(
          "reply_error",
          [](MeshHandle& h, RequestId id, nb::handle error, std::string type,
             std::string message) {
            Outcome o{Status::error, Payload(PyRef(error)), std::move(type), std::move(message)};
            return h.get().reply(id, std::move(o));
          },
          nb::arg("request_id"), nb::arg("error"), nb::arg("error_type"), nb::arg("message"))
      .def("cancel", [](MeshHandle& h, RequestId id) { return h.get().cancel(id); },
           nb::arg("request_id"))
      .def("pending", [](MeshHandle& h, RequestId id) { return h.get().requests().pending(id); },
           nb::arg("request_id"))
      .def("finish", [](MeshHandle& h, std::int64_t n) { h.get().work().finish(n); },
           nb::arg("count"), "Reports `count` popped messages as handled.")
      .def("outstanding", [](MeshHandle& h) { return h.get().work().outstanding(); })
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
