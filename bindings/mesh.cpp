// bindings/mesh.cpp: Mesh, AgentRef and Envelope for Python.
// SPDX-License-Identifier: Apache-2.0
#include "bindings.hpp"
#include "handler_context.hpp"
#include "mesh_handle.hpp"
#include "py_payload.hpp"

#include <serendip/envelope.hpp>
#include <serendip/errors.hpp>
#include <serendip/loop_bridge.hpp>
#include <serendip/mesh.hpp>
#include <serendip/spin_wait.hpp>
#include <serendip/waiter.hpp>

#include <nanobind/stl/optional.h>
#include <nanobind/stl/shared_ptr.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/string_view.h>
#include <nanobind/stl/vector.h>

#include <chrono>
#include <optional>

namespace serendip::binding {

namespace {

// A one-way envelope to `agent` carrying `obj`; fields are built in place (the payload, from
// the prvalue to_payload returns), not assigned after a default construction.
EnvelopePtr make(const AgentCellPtr& agent, nb::handle obj, std::optional<std::string_view> sender,
                 std::optional<std::string_view> topic = std::nullopt) {
  return EnvelopePtr(new Envelope{
      .kind = topic ? Kind::publish : Kind::tell,
      .sender = Name(sender.value_or(std::string_view())),
      .headers = topic ? std::make_unique<Headers>(Headers{{kTopicHeader, std::string(*topic)}})
                       : nullptr,
      .payload = to_payload(agent, obj)});
}

Deadline deadline_for(std::optional<double> timeout) {
  if (!timeout) return Deadline::max();
  return Clock::now() + std::chrono::duration_cast<Clock::duration>(
                            std::chrono::duration<double>(*timeout));
}

Overflow parse_overflow(std::string_view name) {
  if (name == "wait") return Overflow::wait;
  if (name == "reject") return Overflow::reject;
  if (name == "drop_oldest") return Overflow::drop_oldest;
  if (name == "drop_newest") return Overflow::drop_newest;
  throw nb::value_error("overflow must be 'wait', 'reject', 'drop_oldest' or 'drop_newest'");
}

// Raises the Python error for a send the mesh refused (anything but `delivered`).
[[noreturn]] void raise_refused(const MeshHandle& h, RouteResult r, std::string_view target) {
  if (r == RouteResult::full) {
    raise_error("MailboxFull", "the mailbox of agent '" + std::string(target) + "' is full");
  }
  if (r == RouteResult::rejected) {
    raise_error("MailboxFull",
                "the mailbox of agent '" + std::string(target) + "' is full (overflow='reject')");
  }
  if (r == RouteResult::not_found) {
    raise_error("AgentNotFound", "no agent named '" + std::string(target) + "'");
  }
  raise_error("MeshClosed", "mesh '" + h.name() + "' is closed");
}

// The receiving agent, or the error: the mesh's closed state wins over an unknown name.
AgentCellPtr find_open(MeshHandle& h, std::string_view target,
                       std::optional<std::string_view> sender) {
  Mesh& mesh = h.get();
  if (mesh.closed()) raise_refused(h, RouteResult::closed, target);
  AgentCellPtr agent = mesh.find(target);
  if (!agent) {
    mesh.dead_letter(DeadLetterReason::unknown_target, std::string(target),
                     std::string(sender.value_or("")), 0, 0);
    raise_refused(h, RouteResult::not_found, target);
  }
  return agent;
}

// The UTF-8 bytes of a Python str (cached in the object by CPython).
std::string_view utf8(nb::handle str) {
  Py_ssize_t size = 0;
  const char* data = PyUnicode_AsUTF8AndSize(str.ptr(), &size);
  if (data == nullptr) throw nb::python_error();
  return {data, static_cast<std::size_t>(size)};
}

// Like find_open, through the cache of the `str` objects Python sent to (TargetCache). The
// agent is the cache's own entry, valid until Python code runs, or else held in `miss`.
const AgentCellPtr& find_open(MeshHandle& h, nb::handle target,
                              std::optional<std::string_view> sender, AgentCellPtr& miss) {
  Mesh& mesh = h.get();
  const std::uint64_t generation = mesh.router().generation();
  if (const AgentCellPtr* agent = h.targets().find(target.ptr(), generation)) {
    if (!mesh.closed()) return *agent;
  }
  miss = find_open(h, utf8(target), sender);
  h.targets().remember(target.ptr(), miss, generation);
  return miss;
}

// The hot path of a one-way send from Python: one native call, errors raised here. With
// `may_wait`, a full mailbox of policy `wait` returns false (the caller waits for space and
// retries) instead of raising MailboxFull.
bool send(MeshHandle& h, nb::str target, nb::handle payload, std::optional<std::string_view> sender,
          std::optional<std::string_view> topic, bool may_wait) {
  AgentCellPtr miss;
  const AgentCellPtr& agent = find_open(h, target, sender, miss);  // no Python code below
  Mesh& mesh = h.get();
  EnvelopePtr env = make(agent, payload, sender, topic);
  const RouteResult r = mesh.tell(agent, env);
  if (r == RouteResult::delivered) return true;
  if (r == RouteResult::full && may_wait) return false;
  raise_refused(h, r, utf8(target));
}

void send_nowait(MeshHandle& h, nb::str target, nb::handle payload,
                 std::optional<std::string_view> sender, std::optional<std::string_view> topic) {
  send(h, target, payload, sender, topic, false);
}

// Puts the arguments of tell_nowait(target, payload), given by position or by name, in
// `out`; false with TypeError set when they do not fit.
bool tell_arguments(PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames,
                    PyObject* out[2]) noexcept {
  static constexpr const char* names[2] = {"target", "payload"};
  const Py_ssize_t positional = PyVectorcall_NARGS(nargs);
  const Py_ssize_t named = kwnames == nullptr ? 0 : PyTuple_GET_SIZE(kwnames);
  if (positional > 2) {
    PyErr_Format(PyExc_TypeError, "tell_nowait() takes 2 arguments (%zd given)", positional);
    return false;
  }
  out[0] = out[1] = nullptr;
  for (Py_ssize_t i = 0; i < positional; ++i) out[i] = args[i];
  for (Py_ssize_t k = 0; k < named; ++k) {
    PyObject* key = PyTuple_GET_ITEM(kwnames, k);
    int slot = -1;
    for (int i = 0; i < 2; ++i) {
      if (PyUnicode_CompareWithASCIIString(key, names[i]) == 0) slot = i;
    }
    if (slot < 0 || out[slot] != nullptr) {
      PyErr_Format(PyExc_TypeError, slot < 0 ? "tell_nowait() got an unexpected argument '%U'"
                                             : "tell_nowait() got multiple values for '%U'",
                   key);
      return false;
    }
    out[slot] = args[positional + k];
  }
  for (int i = 0; i < 2; ++i) {
    if (out[i] == nullptr) {
      PyErr_Format(PyExc_TypeError, "tell_nowait() missing argument '%s'", names[i]);
      return false;
    }
  }
  return true;
}

// Mesh.tell_nowait(target, payload): the one-way send every Python tell ends in, defined as a
// plain CPython method (vectorcall) rather than through nanobind, whose overload dispatch and
// argument casters cost about 400 instructions per message (callgrind, tell_sync: 3,206
// through nanobind, 2,807 here). Errors become Python errors here.
PyObject* tell_nowait(PyObject* self, PyObject* const* args, Py_ssize_t nargs,
                      PyObject* kwnames) noexcept {
  PyObject* arg[2];
  if (!tell_arguments(args, nargs, kwnames, arg)) return nullptr;
  if (!PyUnicode_Check(arg[0])) {
    PyErr_Format(PyExc_TypeError, "the target must be a str, not %.200s",
                 Py_TYPE(arg[0])->tp_name);
    return nullptr;
  }
  try {
    send(*nb::inst_ptr<MeshHandle>(self), nb::borrow<nb::str>(arg[0]), arg[1], std::nullopt,
         std::nullopt, false);
  } catch (...) {
    set_python_error(std::current_exception());
    return nullptr;
  }
  Py_RETURN_NONE;
}

PyMethodDef tell_nowait_def{
    "tell_nowait", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(&tell_nowait)),
    METH_FASTCALL | METH_KEYWORDS,
    "tell_nowait($self, target, payload)\n--\n\n"
    "Sends a one-way message or raises MailboxFull at once. Any thread; never blocks.\n\n"
    "Raises AgentNotFound, MailboxFull or MeshClosed."};

}  // namespace

RequestId request_to(MeshHandle& h, const AgentCellPtr& agent, nb::handle payload,
                     std::optional<std::string_view> sender, std::optional<double> timeout,
                     WaiterPtr waiter) {
  EnvelopePtr env = make(agent, payload, sender);
  Sent sent = h.get().request(agent, env, std::move(waiter), deadline_for(timeout));
  if (sent.result == RouteResult::full) return 0;
  if (sent.result != RouteResult::delivered) raise_refused(h, sent.result, agent->name());
  return sent.request;
}

namespace {

// A request's id, or 0 when the mailbox is full (nothing was opened; wait for space and retry).
RequestId request(MeshHandle& h, std::string_view target, nb::handle payload,
                  std::optional<std::string_view> sender, std::optional<double> timeout,
                  WaiterPtr waiter) {
  AgentCellPtr agent = find_open(h, target, sender);
  // A query that will take its answer from its LoopWaiter right after this call lets its
  // loop run the target's work inside it (bridge.cpp, wake_locally).
  auto* loop_waiter = dynamic_cast<LoopWaiter*>(waiter.get());
  LoopBridge::QueryScope scope(loop_waiter != nullptr && loop_waiter->unlistened());
  return request_to(h, agent, payload, sender, timeout, std::move(waiter));
}

// The hot path of `await query` (_mesh.py): request() with a waiter of `bridge`'s loop, then
// the answer if a plain handler on that loop gave it inside the call, else a future listening
// for it: one binding call for what took four (waiter, request, take, listen). Returns as
// answer_or_listen does, or (0, waiter, 0) when the mailbox is full: the caller then waits for
// space, retries with request() and that waiter, and listens.
nb::tuple query(MeshHandle& h, nb::handle bridge, std::string_view target, nb::handle payload,
                std::optional<std::string_view> sender, std::optional<double> timeout) {
  std::shared_ptr<LoopWaiter> waiter = bridge_of(bridge)->make_waiter();
  const RequestId id = request(h, target, payload, sender, timeout, waiter);
  if (id == 0) return nb::make_tuple(0, waiter, 0);
  return answer_or_listen(bridge, *waiter, id);
}

// request() for a thread that then blocks on `waiter` (query_sync): the GIL is released from
// the push until the answer or `wait` seconds, so the target's loop never waits for this
// thread to let go of it. Once answered, waits a moment more (spin_wait.hpp) for the target's
// loop to finish its turn and release the GIL, rather than sleep on the GIL while it does.
RequestId request_blocking(MeshHandle& h, std::string_view target, nb::handle payload,
                           std::optional<double> timeout, std::shared_ptr<BlockingWaiter> waiter,
                           double wait) {
  AgentCellPtr agent = find_open(h, target, std::nullopt);
  EnvelopePtr env = make(agent, payload, std::nullopt);
  Mesh& mesh = h.get();
  const Deadline deadline = deadline_for(timeout);
  const Deadline wait_until = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                                 std::chrono::duration<double>(wait));
  Sent sent;
  {
    // Rule 6 (a binding that blocks releases the GIL first), released early: nothing here
    // touches a Python object. The payload's reference moves into the mailbox untouched; an
    // envelope left here is destroyed after the GIL is back.
    nb::gil_scoped_release release;
    sent = mesh.request(agent, env, waiter, deadline);
    if (sent.result == RouteResult::delivered && waiter->wait_until(wait_until)) {
      const Home& home = agent->home();
      spin_until([&home] { return home.between_turns(); });
    }
  }
  if (sent.result == RouteResult::full) return 0;
  if (sent.result != RouteResult::delivered) raise_refused(h, sent.result, target);
  // Ctrl-C during the wait: the caller never learns the id, so the request is cancelled here.
  if (PyErr_CheckSignals() != 0) {
    mesh.cancel(sent.request);
    throw nb::python_error();
  }
  return sent.request;
}

nb::dict summary(const LatencyHistogram::Summary& h) {
  nb::dict d;
  d["count"] = h.count;
  d["sum"] = static_cast<double>(h.sum_ns) * 1e-9;
  d["max"] = static_cast<double>(h.max_ns) * 1e-9;
  d["p50"] = static_cast<double>(h.p50_ns) * 1e-9;
  d["p95"] = static_cast<double>(h.p95_ns) * 1e-9;
  d["p99"] = static_cast<double>(h.p99_ns) * 1e-9;
  return d;
}

// An agent's AgentMetrics (serendip.metrics) but for the mailbox depth, in seconds.
nb::dict stats_of(const AgentCell& agent) {
  const AgentStats::Snapshot s = agent.stats().snapshot();
  nb::dict errors;
  for (const auto& [type, count] : s.errors) errors[nb::str(type.data(), type.size())] = count;
  nb::dict d;
  d["handled"] = s.handled;
  d["failed"] = s.failed;
  d["errors"] = errors;
  d["dropped"] = s.dropped;
  d["in_flight"] = s.in_flight;
  d["queue_wait"] = summary(s.queue_wait);
  d["handler_time"] = summary(s.handler_time);
  return d;
}

// Sends `payload` to every subscriber of `topic` that has room now. Returns how many got it
// and the names of those whose full mailbox makes senders wait (the caller waits for them).
nb::tuple publish_nowait(MeshHandle& h, std::string_view topic, nb::handle payload,
                         std::optional<std::string_view> sender) {
  Mesh& mesh = h.get();
  if (mesh.closed()) raise_refused(h, RouteResult::closed, topic);
  std::vector<AgentCellPtr> subscribers;
  try {
    subscribers = mesh.topics().match(topic);
  } catch (const std::invalid_argument& e) {
    throw nb::value_error(e.what());
  }
  std::size_t reached = 0;
  nb::list waiting;
  for (const AgentCellPtr& agent : subscribers) {
    EnvelopePtr env = make(agent, payload, sender, topic);
    const RouteResult r = mesh.tell(agent, env);
    if (r == RouteResult::delivered) {
      ++reached;
    } else if (r == RouteResult::full) {
      waiting.append(nb::str(agent->name().data(), agent->name().size()));
    }
  }
  return nb::make_tuple(reached, waiting);
}

nb::list as_tuples(const std::vector<DeadLetter>& letters) {
  nb::list out;
  for (const DeadLetter& d : letters) {
    const double when = std::chrono::duration<double>(d.time.time_since_epoch()).count();
    out.append(nb::make_tuple(to_string(d.reason), d.target, d.sender, d.message_id,
                              d.request_id, d.detail, when));
  }
  return out;
}

nb::list dead_letters(MeshHandle& h, bool take) {
  DeadLetterLog& log = h.get().dead_letters();
  return as_tuples(take ? log.take() : log.snapshot());
}

nb::tuple dead_letters_since(MeshHandle& h, std::uint64_t seen) {
  std::uint64_t now = 0;
  nb::list letters = as_tuples(h.get().dead_letters().since(seen, now));
  return nb::make_tuple(letters, now);
}

}  // namespace

void bind_mesh(nb::module_& m) {
  m.def(
      "check_pattern",
      [](std::string_view pattern) {
        try {
          TopicTable::check_pattern(pattern);
        } catch (const std::invalid_argument& e) {
          throw nb::value_error(e.what());
        }
      },
      nb::arg("pattern"), "Raises ValueError unless `pattern` is a valid subscription pattern.");
  m.attr("STATUS_OK") = static_cast<int>(Status::ok);
  m.attr("STATUS_ERROR") = static_cast<int>(Status::error);
  m.attr("STATUS_TIMEOUT") = static_cast<int>(Status::timeout);
  m.attr("STATUS_CANCELLED") = static_cast<int>(Status::cancelled);
  m.attr("STATUS_NOT_FOUND") = static_cast<int>(Status::not_found);
  m.attr("STATUS_CLOSED") = static_cast<int>(Status::closed);
  m.attr("STATUS_DROPPED") = static_cast<int>(Status::dropped);

  nb::class_<AgentCell>(m, "AgentRef", "The mesh's record of one agent.")
      .def_prop_ro("id", &AgentCell::id)
      .def_prop_ro("name", [](AgentCell& a) { return a.name(); })
      .def("size", [](AgentCell& a) { return a.mailbox().size(); },
           "Messages waiting in the mailbox.")
      .def("stats", &stats_of,
           nb::sig("def stats(self) -> dict[str, typing.Any]"),
           "Counters and latency summaries (seconds), as serendip.metrics.AgentMetrics.");

  nb::class_<MeshHandle> mesh(m, "Mesh", "The native mesh: routing, requests, deadlines.");
  nb::object tell = nb::steal(
      PyDescr_NewMethod(reinterpret_cast<PyTypeObject*>(mesh.ptr()), &tell_nowait_def));
  if (!tell.is_valid()) throw nb::python_error();
  nb::setattr(mesh, "tell_nowait", tell);
  mesh
      .def(nb::init<std::string, std::size_t, std::size_t>(), nb::arg("name"),
           nb::arg("worker_threads") = 0, nb::arg("dead_letter_capacity") = 1000)
      .def(
          "add_agent",
          [](MeshHandle& h, std::string name, std::size_t mailbox_size, nb::handle bridge,
             std::string_view overflow) {
            auto agent = std::make_shared<AgentCell>(std::move(name), mailbox_size,
                                                     bridge_of(bridge), parse_overflow(overflow));
            h.get().add(agent);
            return agent;
          },
          nb::arg("name"), nb::arg("mailbox_size"), nb::arg("bridge"),
          nb::arg("overflow") = "wait",
          "Registers a Python agent homed on `bridge`. `overflow`: wait, reject, drop_oldest "
          "or drop_newest.")
      .def(
          "remove_agent",
          [](MeshHandle& h, std::string_view name) {
            std::vector<EnvelopePtr> undelivered;  // destroyed here, with the GIL
            return h.get().remove(name, undelivered);
          },
          nb::arg("name"), nb::sig("def remove_agent(self, name: str) -> AgentRef | None"))
      .def("detach", [](MeshHandle& h, std::string_view name) { return h.get().detach(name); },
           nb::arg("name"), nb::sig("def detach(self, name: str) -> AgentRef | None"),
           "Unregisters the agent but leaves its mailbox open, to be drained.")
      .def(
          "retire",
          [](MeshHandle& h, const AgentCellPtr& agent) {
            std::vector<EnvelopePtr> undelivered;  // destroyed here, with the GIL
            h.get().retire(agent, undelivered);
          },
          nb::arg("agent"), "Closes a detached agent's mailbox; what it left ends as not found.")
      .def("names", [](MeshHandle& h) { return h.get().names(); })
      .def("send_nowait", &send_nowait, nb::arg("target"), nb::arg("payload").none(),
           nb::arg("sender").none() = nb::none(), nb::arg("topic").none() = nb::none(),
           "Sends a one-way message (as published to `topic`, if given) or raises MailboxFull "
           "at once. Any thread; never blocks.\n\n"
           "Raises AgentNotFound, MailboxFull or MeshClosed.")
      .def(
          "send",
          [](MeshHandle& h, nb::str target, nb::handle payload, std::optional<std::string_view> sender,
             std::optional<std::string_view> topic) {
            return send(h, target, payload, sender, topic, true);
          },
          nb::arg("target"), nb::arg("payload").none(), nb::arg("sender").none(),
          nb::arg("topic").none(),
          "Like send_nowait, but False when the mailbox is full and its senders may wait for "
          "space (then wait_space and retry); MailboxFull only for overflow='reject'.")
      .def("request", &request, nb::arg("target"), nb::arg("payload").none(), nb::arg("sender").none(),
           nb::arg("timeout").none(), nb::arg("waiter"),
           nb::sig("def request(self, target: str, payload: object, sender: str | None, "
                   "timeout: float | None, waiter: Waiter) -> int"),
           "Sends a request: its id, or 0 when the mailbox is full (nothing opened; wait for "
           "space and retry). Raises AgentNotFound, MailboxFull (overflow='reject') or "
           "MeshClosed.")
      .def("query", &query, nb::arg("bridge"), nb::arg("target"), nb::arg("payload").none(),
           nb::arg("sender").none(), nb::arg("timeout").none(),
           nb::sig("def query(self, bridge: LoopBridge, target: str, payload: object, "
                   "sender: str | None, timeout: float | None) -> tuple[int, typing.Any, int]"),
           "request() from `bridge`'s loop, with the answer or what waits for it: (id, (status, "
           "payload, error_type, error_message), 0) when answered inside the call; (id, "
           "future, token) otherwise, the future resolved with that tuple (forget(token) on "
           "the bridge if nobody awaits it); (0, waiter, 0) when the mailbox is full (wait for "
           "space, retry request() with the waiter, then listen). Raises as request() does. "
           "Loop thread only.")
      .def("request_blocking", &request_blocking, nb::arg("target"), nb::arg("payload").none(),
           nb::arg("timeout").none(), nb::arg("waiter"), nb::arg("wait"),
           "request() for a caller that blocks next: releases the GIL from the push on and "
           "waits up to `wait` seconds for the answer (check waiter.done()). Its id, or 0 when "
           "the mailbox is full. Raises as request() does, and KeyboardInterrupt (the request "
           "cancelled) when a signal handler raises it meanwhile.")
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
      .def(
          "subscribe",
          [](MeshHandle& h, const AgentCellPtr& agent, std::string_view pattern) {
            try {
              return h.get().topics().subscribe(agent, pattern);
            } catch (const std::invalid_argument& e) {
              throw nb::value_error(e.what());
            }
          },
          nb::arg("agent"), nb::arg("pattern"),
          "Subscribes the agent to a subject pattern (`*`, `>` wildcards); False if it was.")
      .def(
          "unsubscribe",
          [](MeshHandle& h, const AgentCellPtr& agent, std::string_view pattern) {
            return h.get().topics().unsubscribe(agent.get(), pattern);
          },
          nb::arg("agent"), nb::arg("pattern"), "False if it was not subscribed.")
      .def(
          "patterns",
          [](MeshHandle& h, const AgentCellPtr& agent) {
            return h.get().topics().patterns_of(agent.get());
          },
          nb::arg("agent"), "The agent's subscription patterns, in subscription order.")
      .def("publish_nowait", &publish_nowait, nb::arg("topic"), nb::arg("payload").none(),
           nb::arg("sender").none() = nb::none(),
           nb::sig("def publish_nowait(self, topic: str, payload: object, sender: str | None = "
                   "None) -> tuple[int, list[str]]"),
           "Sends to every subscriber with room: (how many got it, names of full mailboxes "
           "whose senders wait). Raises ValueError for a bad subject, MeshClosed.")
      .def("dead_letters", &dead_letters, nb::arg("take") = false,
           nb::sig("def dead_letters(self, take: bool = False) -> list[tuple[str, str, str, int, "
                   "int, str, float]]"),
           "(reason, target, sender, message id, request id, detail, unix time), oldest first.")
      .def("dead_letters_since", &dead_letters_since, nb::arg("seen"),
           nb::sig("def dead_letters_since(self, seen: int) -> tuple[list[tuple[str, str, str, "
                   "int, int, str, float]], int]"),
           "The kept dead letters recorded after the first `seen`, and how many exist now.")
      .def(
          "watch_dead_letters",
          [](MeshHandle& h, std::uint64_t seen, WaiterPtr w) {
            return h.get().dead_letters().watch(seen, std::move(w));
          },
          nb::arg("seen"), nb::arg("waiter"),
          "Registers the waiter for the next dead letter; False: there are news (or closed).")
      .def_prop_ro("dead_letters_recorded",
                   [](MeshHandle& h) { return h.get().dead_letters().recorded(); })
      .def("leak", &MeshHandle::leak, "Abandons the native mesh (forked child only).")
      .def_prop_ro("closed", [](MeshHandle& h) { return h.get().closed(); });
}

}  // namespace serendip::binding
