// bindings/bridge.cpp: LoopBridge, Waiter, LoopWaiter and BlockingWaiter for Python.
// SPDX-License-Identifier: Apache-2.0
#include "bindings.hpp"
#include "py_payload.hpp"

#include <serendip/loop_bridge.hpp>
#include <serendip/waiter.hpp>

#include <nanobind/stl/shared_ptr.h>
#include <nanobind/stl/string.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <unordered_map>
#include <utility>
#include <vector>

namespace serendip::binding {

namespace {

// Inline drains (see wake_locally) allowed between two turns of the loop: a caller that
// queries in a loop still lets the loop turn.
constexpr int kInlineBudget = 16;

// The method names it calls, interned once.
struct Names {
  PyObject* call_soon = interned("call_soon");
  PyObject* create_future = interned("create_future");
  PyObject* set_result = interned("set_result");
  PyObject* done = interned("done");
  PyObject* abandon = interned("abandon");
  PyObject* drain_turn = interned("drain_turn");
};

const Names& names() {
  static const Names n;  // built with the GIL held, on first use
  return n;
}

// The Python side of one loop's bridge: it dispatches what the core bridge queues (ready
// agents to their runners, completions to their futures, abandoned requests to their
// runners) on the loop's thread, with the GIL held. Threading rule 3 lives here: the core
// writes the fd only on the idle->armed transition, a drain takes the whole batch at once on
// the loop's own thread, and nothing else ever calls into a loop from another thread. Work
// posted by the loop's own thread skips the fd (wake_locally).
//
// Closing the handle with the GIL held is what guarantees that queued items carrying PyRefs
// die under the GIL: after close, posts from other threads drop their items where they are
// posted, and those carry no Python objects. Every member but `bridge` is used with the GIL
// held only.
struct BridgeHandle {
  struct Runner {
    nb::object self;      // on_ready(), abandon(request_id)
    nb::object on_ready;  // bound once: the ready item is the hot one
  };

  LoopBridgePtr bridge = std::make_shared<LoopBridge>();
  // Weak: Python's registry maps loop -> bridge weakly, which a strong reference back would
  // defeat (the loop, and with it the bridge, would never be freed).
  nb::object loop_ref;
  std::unordered_map<AgentId, Runner> runners;
  std::unordered_map<std::uint64_t, nb::object> futures;  // token -> asyncio.Future
  std::uint64_t last_token = 0;
  nb::object drain_turn;       // this handle's bound drain_turn, for call_soon
  nb::object interrupt;        // SystemExit / KeyboardInterrupt an inline drain met
  std::vector<BridgeItem> spare;  // the batch buffer, reused from drain to drain
  bool draining = false;
  int inline_budget = kInlineBudget;

  explicit BridgeHandle(nb::handle loop);
  BridgeHandle(const BridgeHandle&) = delete;
  BridgeHandle& operator=(const BridgeHandle&) = delete;
  ~BridgeHandle() { shut(); }

  // The loop, or an invalid object once it is gone.
  nb::object loop() const {
#if PY_VERSION_HEX >= 0x030D0000
    PyObject* loop = nullptr;
    if (PyWeakref_GetRef(loop_ref.ptr(), &loop) < 0) PyErr_Clear();
    return nb::steal(loop);
#else
    PyObject* loop = PyWeakref_GetObject(loop_ref.ptr());
    return loop == Py_None ? nb::object() : nb::borrow(loop);
#endif
  }

  void shut() {
    bridge->set_local_wake(nullptr, nullptr);
    bridge->close();
  }
};

// Hands a Python error raised by dispatching one item to the loop's exception handler, so
// the rest of the batch still runs. SystemExit and KeyboardInterrupt are kept for the caller
// to raise once the batch is done (the first one wins).
void report(BridgeHandle& h, nb::object& interrupt) {
  if (PyErr_ExceptionMatches(PyExc_SystemExit) || PyErr_ExceptionMatches(PyExc_KeyboardInterrupt)) {
    nb::python_error error;
    if (!interrupt.is_valid()) interrupt = nb::borrow(error.value());
    return;
  }
  nb::python_error error;
  try {
    nb::object loop = h.loop();
    if (!loop.is_valid()) throw std::runtime_error("the loop is gone");
    nb::dict context;
    context["message"] = "serendip: error while dispatching native work";
    context["exception"] = error.value();
    loop.attr("call_exception_handler")(context);
  } catch (...) {
    error.restore();
    PyErr_WriteUnraisable(nullptr);
  }
}

void set_result(nb::handle future, Outcome& outcome) {
  nb::object result = outcome_tuple(outcome);
  nb::object ok = nb::steal(PyObject_CallMethodOneArg(future.ptr(), names().set_result, result.ptr()));
  if (!ok.is_valid()) throw nb::python_error();
}

// Resolves the future waiting for `token`, unless it was forgotten or cancelled meanwhile.
void complete_future(BridgeHandle& h, std::uint64_t token, Outcome& outcome) {
  auto it = h.futures.find(token);
  if (it == h.futures.end()) return;
  nb::object future = std::move(it->second);
  h.futures.erase(it);
  nb::object done = nb::steal(PyObject_CallMethodNoArgs(future.ptr(), names().done));
  if (!done.is_valid()) throw nb::python_error();
  if (PyObject_IsTrue(done.ptr()) != 1) set_result(future, outcome);
}

void dispatch_one(BridgeHandle& h, BridgeItem& item) {
  if (item.kind == BridgeItem::Kind::completion) {
    complete_future(h, item.key, item.outcome);
    return;
  }
  auto it = h.runners.find(item.agent);
  if (it == h.runners.end()) return;  // removed meanwhile
  nb::object result;
  if (item.kind == BridgeItem::Kind::ready) {
    nb::object on_ready = it->second.on_ready;  // owned across the call: it may remove itself
    result = nb::steal(PyObject_CallNoArgs(on_ready.ptr()));
  } else {
    nb::object runner = it->second.self;
    nb::object id = nb::steal(PyLong_FromUnsignedLongLong(item.key));
    if (!id.is_valid()) throw nb::python_error();
    result = nb::steal(PyObject_CallMethodOneArg(runner.ptr(), names().abandon, id.ptr()));
  }
  if (!result.is_valid()) throw nb::python_error();
}

// Takes the queued work and dispatches it, twice: the second pass takes what the first
// produced, such as the answer to a query from this loop, which would otherwise wait for the
// next turn. Between the two, posts wake no one; the second pass re-arms whatever happens.
// Returns the first SystemExit / KeyboardInterrupt met, or an invalid object.
nb::object drain(BridgeHandle& h) {
  nb::object interrupt;
  const bool outer = std::exchange(h.draining, true);
  std::vector<BridgeItem> batch = std::move(h.spare);  // a nested drain gets a fresh buffer
  for (bool rearm : {false, true}) {
    batch.clear();
    h.bridge->drain(batch, rearm);
    for (BridgeItem& item : batch) {
      try {
        dispatch_one(h, item);
      } catch (nb::python_error& e) {
        e.restore();
        report(h, interrupt);
      } catch (...) {
        set_python_error(std::current_exception());
        report(h, interrupt);
      }
    }
  }
  batch.clear();  // payloads die here, with the GIL
  h.spare = std::move(batch);
  h.draining = outer;
  return interrupt;
}

// A drain in a turn of its own (the fd's reader, the polling selector, or scheduled by the
// local wake). Raises what an earlier inline drain or this one met that only the loop may
// handle (SystemExit, KeyboardInterrupt).
void drain_turn(BridgeHandle& h) {
  h.inline_budget = kInlineBudget;
  nb::object interrupt = drain(h);
  if (!interrupt.is_valid()) interrupt = std::move(h.interrupt);
  h.interrupt.reset();
  if (interrupt.is_valid()) {
    PyErr_SetObject(reinterpret_cast<PyObject*>(Py_TYPE(interrupt.ptr())), interrupt.ptr());
    throw nb::python_error();
  }
}

// The bridge's local wake: runs on the loop's own thread, inside a binding call that holds
// the GIL, so calling Python here is calling it from the loop itself. A query's post drains
// at once when no drain is under way: the target's plain handler runs inside the posting
// call and its answer waits in the query's LoopWaiter, so the round trip takes no turn of
// the loop (at most kInlineBudget times between two turns). Any other post schedules a drain
// on the loop. Anything unusual (no GIL, an error already pending, the loop refusing) falls
// back to the fd.
bool wake_locally(void* context, bool query) {
  if (PyGILState_Check() == 0 || PyErr_Occurred() != nullptr) return false;
  auto& h = *static_cast<BridgeHandle*>(context);
  if (query && !h.draining && h.inline_budget > 0) {
    --h.inline_budget;
    nb::object interrupt;
    {
      LoopBridge::QueryScope handlers(false);  // the handlers' own posts are not the query's
      interrupt = drain(h);
    }
    if (!interrupt.is_valid()) return true;
    // Only the loop may raise it: the next turn's drain does.
    if (!h.interrupt.is_valid()) h.interrupt = std::move(interrupt);
  }
  nb::object loop = h.loop();
  if (!loop.is_valid()) return false;
  if (!h.drain_turn.is_valid()) {
    nb::object self = nb::find(&h);
    if (!self.is_valid()) return false;
    h.drain_turn = nb::steal(PyObject_GetAttr(self.ptr(), names().drain_turn));
    if (!h.drain_turn.is_valid()) {
      PyErr_Clear();
      return false;
    }
  }
  PyObject* handle = PyObject_CallMethodOneArg(loop.ptr(), names().call_soon, h.drain_turn.ptr());
  if (handle == nullptr) {
    PyErr_Clear();
    return false;
  }
  Py_DECREF(handle);
  return true;
}

BridgeHandle::BridgeHandle(nb::handle loop)
    : loop_ref(nb::steal(PyWeakref_NewRef(loop.ptr(), nullptr))) {
  if (!loop_ref.is_valid()) throw nb::python_error();
  bridge->set_local_wake(&wake_locally, this);  // nanobind constructs in place: `this` stays
}

// A future on the loop that the waiter's outcome resolves, and its token; if the outcome came
// already, the future is resolved at once. Each caller builds the one tuple it returns.
struct Listened {
  nb::object future;
  std::uint64_t token;
};

Listened listen(BridgeHandle& h, LoopWaiter& waiter) {
  nb::object loop = h.loop();
  if (!loop.is_valid()) throw std::runtime_error("the loop of this bridge no longer exists");
  nb::object future = nb::steal(PyObject_CallMethodNoArgs(loop.ptr(), names().create_future));
  if (!future.is_valid()) throw nb::python_error();
  const std::uint64_t token = ++h.last_token;
  if (waiter.listen(token)) {
    h.futures.emplace(token, future);
  } else {
    std::optional<Outcome> outcome = waiter.take();
    if (!outcome) throw std::logic_error("listen: this waiter was listened to or taken already");
    set_result(future, *outcome);
  }
  return {std::move(future), token};
}

// The handle's Python references (runners, futures, the bound drain_turn) lead back to it.
int traverse(PyObject* self, visitproc visit, void* arg) {
  Py_VISIT(Py_TYPE(self));
  if (!nb::inst_ready(self)) return 0;
  auto* h = nb::inst_ptr<BridgeHandle>(self);
  Py_VISIT(h->loop_ref.ptr());
  Py_VISIT(h->drain_turn.ptr());
  Py_VISIT(h->interrupt.ptr());
  for (auto& [id, runner] : h->runners) {
    Py_VISIT(runner.self.ptr());
    Py_VISIT(runner.on_ready.ptr());
  }
  for (auto& [token, future] : h->futures) Py_VISIT(future.ptr());
  return 0;
}

int clear(PyObject* self) {
  auto* h = nb::inst_ptr<BridgeHandle>(self);
  h->bridge->set_local_wake(nullptr, nullptr);
  // Moved out first: the references may run code that reaches this handle again.
  auto runners = std::move(h->runners);
  auto futures = std::move(h->futures);
  nb::object drain = std::move(h->drain_turn);
  nb::object interrupt = std::move(h->interrupt);
  return 0;
}

PyType_Slot slots[] = {{Py_tp_traverse, reinterpret_cast<void*>(traverse)},
                       {Py_tp_clear, reinterpret_cast<void*>(clear)},
                       {0, nullptr}};

Deadline deadline_after(double seconds) {
  return Clock::now() + std::chrono::duration_cast<Clock::duration>(
                            std::chrono::duration<double>(seconds));
}

}  // namespace

// Error texts may quote what a server sent, which need not be UTF-8: a strict conversion
// would raise where the outcome is due, and leave its awaiting caller waiting for good.
static nb::object lenient_str(const std::string& text) {
  return nb::steal(
      PyUnicode_DecodeUTF8(text.data(), static_cast<Py_ssize_t>(text.size()), "replace"));
}

nb::tuple outcome_tuple(Outcome& o) {
  nb::object type = lenient_str(o.error_type);
  nb::object message = lenient_str(o.error_message);
  if (!type.is_valid() || !message.is_valid()) throw nb::python_error();
  return nb::make_tuple(static_cast<int>(o.status), from_payload(o.payload), type, message);
}

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

  nb::class_<LoopWaiter, Waiter>(
      m, "LoopWaiter",
      "A wait whose answer the loop's thread looks for itself first (Mesh.query takes it), "
      "then listens for (LoopBridge.listen). A request made with one from its loop's thread "
      "may run the target's plain handler inside the request call.");

  m.attr("INLINE_BUDGET") = kInlineBudget;

  nb::class_<BridgeHandle>(m, "LoopBridge", nb::type_slots(slots), nb::is_weak_referenceable(),
                           "The native side of one event loop: a ready queue, an eventfd, and "
                           "the dispatch of their work to runners and futures. Whoever makes "
                           "one has the loop watch `fd` with `drain_turn`; `close` stops that.")
      .def(nb::init<nb::handle>(), nb::arg("loop"),
           nb::sig("def __init__(self, loop: asyncio.AbstractEventLoop) -> None"))
      .def_prop_ro("fd", [](BridgeHandle& h) { return h.bridge->fd(); })
      .def_prop_ro(
          "loop",
          [](BridgeHandle& h) {
            nb::object loop = h.loop();
            if (!loop.is_valid()) throw std::runtime_error("the loop of this bridge no longer exists");
            return loop;
          },
          nb::for_getter(nb::sig("def loop(self, /) -> asyncio.AbstractEventLoop")),
          "The bridge's loop (alive while anything can still use the bridge).")
      .def(
          "owns",
          [](BridgeHandle& h, nb::handle loop) {
            return !h.bridge->closed() && h.loop().ptr() == loop.ptr();
          },
          nb::arg("loop"), nb::sig("def owns(self, loop: asyncio.AbstractEventLoop) -> bool"),
          "True while the bridge is open and `loop` is its loop.")
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
      .def("drain_turn", &drain_turn,
           "Dispatches every queued item: runner.on_ready(), future.set_result(outcome), "
           "runner.abandon(request_id). A failing item goes to the loop's exception handler; "
           "SystemExit and KeyboardInterrupt are raised once the batch is done. Loop thread "
           "only.")
      .def(
          "add_runner",
          [](BridgeHandle& h, AgentId agent, nb::object runner) {
            nb::object on_ready = runner.attr("on_ready");
            // The one it replaces dies after the assignment: it may run Python.
            BridgeHandle::Runner old = std::exchange(
                h.runners[agent], BridgeHandle::Runner{std::move(runner), std::move(on_ready)});
          },
          nb::arg("agent"), nb::arg("runner"),
          nb::sig("def add_runner(self, agent: int, runner: serendip._bridge.Runnable) -> None"),
          "Routes agent `agent`'s ready and abandon items to `runner`.")
      .def(
          "remove_runner",
          [](BridgeHandle& h, AgentId agent) {
            auto node = h.runners.extract(agent);  // dies after the erase: it may run Python
          },
          nb::arg("agent"), "Stops routing agent `agent`'s items (a no-op if it is not routed).")
      .def(
          "waiter", [](BridgeHandle& h) { return h.bridge->make_waiter(); },
          "A LoopWaiter for a request from this loop.")
      .def(
          "listen",
          [](BridgeHandle& h, LoopWaiter& waiter) {
            Listened l = listen(h, waiter);
            return nb::make_tuple(l.future, l.token);
          },
          nb::arg("waiter"),
           nb::sig("def listen(self, waiter: LoopWaiter) -> tuple[asyncio.Future[tuple[int, "
                   "object, str, str]], int]"),
           "(future, token): a future on the loop that the waiter's outcome resolves (at once "
           "if it came already). Drop it with forget(token) if nobody awaits it any more. "
           "Loop thread only.")
      .def(
          "answer_or_listen",
          [](nb::handle self, LoopWaiter& waiter, RequestId request_id) {
            return answer_or_listen(self, waiter, request_id);
          },
          nb::arg("waiter"), nb::arg("request_id"),
          nb::sig("def answer_or_listen(self, waiter: LoopWaiter, request_id: int) -> "
                  "tuple[int, typing.Any, int]"),
          "(request_id, outcome, 0) if the waiter holds its outcome, else (request_id, "
          "future, token) as listen() gives them. Loop thread only.")
      .def(
          "new_wait",
          [](BridgeHandle& h) {
            std::shared_ptr<LoopWaiter> waiter = h.bridge->make_waiter();
            Listened l = listen(h, *waiter);
            return nb::make_tuple(l.future, waiter, l.token);
          },
          nb::sig("def new_wait(self) -> tuple[asyncio.Future[tuple[int, object, str, str]], "
                  "Waiter, int]"),
          "(future, waiter, token): a future on the loop and the waiter that resolves it.")
      .def(
          "forget", [](BridgeHandle& h, std::uint64_t token) { h.futures.erase(token); },
          nb::arg("token"), "Drops a wait whose future is no longer awaited.")
      .def(
          "close",
          [](BridgeHandle& h) {
            h.shut();
            auto futures = std::move(h.futures);
            for (auto& [token, future] : futures) future.attr("cancel")();
            nb::object loop = h.loop();
            if (loop.is_valid() && !nb::cast<bool>(loop.attr("is_closed")()))
              loop.attr("remove_reader")(h.bridge->fd());
          },
          "Refuses further items, drops the queued ones, cancels the futures still waiting and "
          "stops the loop watching `fd`. Loop thread only.")
      .def_prop_ro("closed", [](BridgeHandle& h) { return h.bridge->closed(); });
}

LoopBridgePtr bridge_of(nb::handle handle) { return nb::cast<BridgeHandle&>(handle).bridge; }

int& inline_budget(nb::handle bridge) { return nb::cast<BridgeHandle&>(bridge).inline_budget; }

nb::tuple answer_or_listen(nb::handle bridge, LoopWaiter& waiter, RequestId id) {
  if (std::optional<Outcome> outcome = waiter.take()) {
    return nb::make_tuple(id, outcome_tuple(*outcome), 0);
  }
  Listened l = listen(nb::cast<BridgeHandle&>(bridge), waiter);
  return nb::make_tuple(id, l.future, l.token);
}

}  // namespace serendip::binding
