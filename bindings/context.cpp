// bindings/context.cpp: `Context`, passed to handlers and hooks.
// SPDX-License-Identifier: Apache-2.0
#include "bindings.hpp"
#include "handler_context.hpp"

#include <nanobind/stl/string.h>

#include <iterator>
#include <string>

namespace serendip::binding {

namespace {

// A context refers to its mesh, which refers (through agents and runners) back to contexts:
// the collector must see that edge.
int traverse(PyObject* self, visitproc visit, void* arg) {
  Py_VISIT(Py_TYPE(self));
  if (!nb::inst_ready(self)) return 0;
  Py_VISIT(nb::inst_ptr<HandlerContext>(self)->mesh.ptr());
  return 0;
}

int clear(PyObject* self) {
  nb::inst_ptr<HandlerContext>(self)->mesh.reset();
  return 0;
}

PyType_Slot slots[] = {{Py_tp_traverse, reinterpret_cast<void*>(traverse)},
                       {Py_tp_clear, reinterpret_cast<void*>(clear)},
                       {0, nullptr}};

// The mesh's methods it calls, by names interned once.
struct Names {
  PyObject* query = interned("_query");
  PyObject* send = interned("_send");
};

const Names& names() {
  static const Names n;  // built with the GIL held, on first use
  return n;
}

// The mesh's `name(target, payload, agent, *rest)`, as this agent, with no bound method made
// per call (a query from a handler is a hot path).
template <class... Rest>
nb::object call_mesh(const HandlerContext& c, PyObject* name, nb::handle target,
                     nb::handle payload, Rest... rest) {
  PyObject* args[] = {c.mesh.ptr(), target.ptr(), payload.ptr(), c.agent.ptr(), rest.ptr()...};
  PyObject* result = PyObject_VectorcallMethod(name, args, std::size(args), nullptr);
  if (result == nullptr) throw nb::python_error();
  return nb::steal(result);
}

nb::object optional_id(bool present, std::uint64_t id) {
  if (!present || id == 0) return nb::none();
  return nb::int_(id);
}

}  // namespace

nb::object make_context(nb::handle mesh, nb::handle agent) {
  return nb::cast(HandlerContext(nb::borrow(mesh), nb::borrow(agent)), nb::rv_policy::move);
}

void bind_context(nb::module_& m) {
  nb::class_<HandlerContext>(
      m, "Context", nb::is_final(), nb::type_slots(slots),
      "Passed to ``on_message`` (and the hooks) with the message's addressing.\n\n"
      "Created by the mesh for the message being handled; valid on the agent's home loop. "
      "Sends made through it carry this agent as the sender.")
      .def(
          "__init__",
          [](HandlerContext* self, nb::object mesh, nb::str agent) {
            new (self) HandlerContext(std::move(mesh), std::move(agent));
          },
          nb::arg("mesh"), nb::arg("agent"),
          nb::sig("def __init__(self, mesh: serendip.LocalMesh, agent: str) -> None"))
      .def_prop_ro(
          "agent", [](const HandlerContext& c) { return c.agent; },
          nb::sig("def agent(self) -> str"), "The name of the agent handling the message.")
      .def_prop_ro(
          "mesh", [](const HandlerContext& c) { return c.mesh; },
          nb::sig("def mesh(self) -> serendip.LocalMesh"), "The mesh the agent belongs to.")
      .def_prop_ro(
          "sender",
          [](const HandlerContext& c) -> nb::object {
            if (c.sender.empty()) return nb::none();
            const std::string_view sender = c.sender.view();
            return nb::str(sender.data(), sender.size());
          },
          nb::sig("def sender(self) -> str | None"),
          "The sending agent's name, or None for messages sent from outside any agent.")
      .def_prop_ro(
          "topic",
          [](const HandlerContext& c) -> nb::object {
            if (c.topic.empty()) return nb::none();
            return nb::str(c.topic.data(), c.topic.size());
          },
          nb::sig("def topic(self) -> str | None"),
          "The subject a published message was sent to, else None.")
      .def_prop_ro(
          "message_id",
          [](const HandlerContext& c) { return optional_id(c.has_message, c.message_id); },
          nb::sig("def message_id(self) -> int | None"),
          "The message's id, unique within the mesh (None in the start and stop hooks).")
      .def_prop_ro(
          "request_id",
          [](const HandlerContext& c) { return optional_id(c.has_message, c.request_id); },
          nb::sig("def request_id(self) -> int | None"),
          "The request's id when the message is a query, else None.")
      .def(
          "send_to",
          [](const HandlerContext& c, nb::handle target, nb::handle payload) {
            return call_mesh(c, names().send, target, payload);
          },
          nb::arg("target"), nb::arg("payload").none(),
          nb::sig("def send_to(self, target: str, payload: object) -> "
                  "collections.abc.Coroutine[typing.Any, typing.Any, None]"),
          "Sends a one-way message as this agent; await it. Waits while the target's mailbox "
          "is full. Raises AgentNotFound or MeshClosed.")
      .def(
          "query",
          [](const HandlerContext& c, nb::handle target, nb::handle payload, nb::handle timeout) {
            return call_mesh(c, names().query, target, payload, timeout);
          },
          nb::arg("target"), nb::arg("payload").none(), nb::kw_only(),
          nb::arg("timeout").none() = 30.0,
          nb::sig("def query(self, target: str, payload: object, *, timeout: float | None = "
                  "30.0) -> collections.abc.Coroutine[typing.Any, typing.Any, typing.Any]"),
          "Asks ``target`` as this agent; await it for the handler's result.\n\n"
          "A query to this same agent from its own handler raises RuntimeError when the "
          "agent handles one message at a time (it could only deadlock). Raises "
          "AgentNotFound, QueryTimeout, HandlerError or MeshClosed; cancelling the await "
          "cancels the request.")
      .def("__repr__", [](const HandlerContext& c) {
        std::string out = "<Context agent=" + nb::cast<std::string>(nb::repr(c.agent));
        out += " sender=" + (c.sender.empty() ? std::string("None") : "'" + c.sender.str() + "'");
        out += " message_id=" + nb::cast<std::string>(nb::str(optional_id(c.has_message, c.message_id)));
        out += " request_id=" + nb::cast<std::string>(nb::str(optional_id(c.has_message, c.request_id)));
        return out + ">";
      });
}

}  // namespace serendip::binding
