// bindings/dispatcher.cpp: runs a Python agent's handlers from native code, a batch per call.
// SPDX-License-Identifier: Apache-2.0
#include "bindings.hpp"
#include "handler_context.hpp"
#include "mesh_handle.hpp"
#include "py_payload.hpp"

#include <serendip/envelope.hpp>
#include <serendip/handling_meter.hpp>
#include <serendip/loop_bridge.hpp>
#include <serendip/mesh.hpp>

#include <nanobind/stl/optional.h>
#include <nanobind/stl/shared_ptr.h>
#include <nanobind/stl/string_view.h>

#include <algorithm>
#include <string>
#include <vector>

namespace serendip::binding {

namespace {

// Envelopes taken from the mailbox per lock: enough to amortise it, few enough that one
// agent's batch never holds much work back from its other runners.
constexpr std::size_t kRefill = 64;
// How far ahead of the message being handled its envelope's memory is fetched (the object it
// carries: half as far, once that envelope has arrived). A burst queues thousands of messages
// before the first is handled, so each one's memory has left the caches by then; fetched
// ahead, those misses overlap the handlers before them instead of stalling each in turn.
constexpr std::size_t kAhead = 8;

// The exception being raised, taken off the thread with its traceback attached.
nb::object take_exception() {
#if PY_VERSION_HEX >= 0x030C0000
  return nb::steal(PyErr_GetRaisedException());
#else
  PyObject *type = nullptr, *value = nullptr, *traceback = nullptr;
  PyErr_Fetch(&type, &value, &traceback);
  PyErr_NormalizeException(&type, &value, &traceback);
  if (traceback != nullptr) PyException_SetTraceback(value, traceback);
  Py_XDECREF(type);
  Py_XDECREF(traceback);
  return nb::steal(value);
#endif
}

// KeyboardInterrupt, SystemExit and the like: the handler's failure, and then the loop's.
bool escapes_handler(nb::handle exc) {
  if (PyErr_GivenExceptionMatches(exc.ptr(), PyExc_Exception)) return false;
  nb::object cancelled = nb::module_::import_("asyncio").attr("CancelledError");
  return !PyErr_GivenExceptionMatches(exc.ptr(), cancelled.ptr());
}

// What asyncio can await: an object with __await__, or a generator-based coroutine.
bool awaitable(nb::handle obj) {
  if (PyObject_HasAttrString(obj.ptr(), "__await__") != 0) return true;
  constexpr int kIterableCoroutine = 0x100;  // CO_ITERABLE_COROUTINE: @types.coroutine
  return PyGen_Check(obj.ptr()) &&
         (nb::cast<int>(obj.attr("gi_code").attr("co_flags")) & kIterableCoroutine) != 0;
}

// Whether this thread has used half of Python's recursion limit. A query from a handler runs
// an idle target's handler nested in the same stack (Dispatcher::ask); past that depth the
// target's runner Task, on a stack of its own, takes it, so a long chain of queries never
// meets the limit.
bool deep_in_stack() {
  PyThreadState* ts = PyThreadState_Get();
#if PY_VERSION_HEX >= 0x030C0000
  return ts->py_recursion_remaining < ts->py_recursion_limit / 2;
#else
  return ts->recursion_remaining < ts->recursion_limit / 2;
#endif
}

std::string describe(nb::handle exc) {
  try {
    return nb::cast<std::string>(nb::str(exc));
  } catch (const nb::python_error&) {
    return "<unprintable exception>";
  }
}

}  // namespace

class Dispatcher;

/// A handler invocation that suspended, awaited by the runner Task that will finish it
/// (`await step`). Each resumption steps the handler's coroutine inside the message's context
/// copy, natively: between the Task and the handler there is the runner's frame and this,
/// as in a hand-written consumer task. When the handler returns, or raises an Exception, the
/// step settles the invocation itself (answer or failure, counted as handled); a one-way
/// message's step then takes on the next one-way messages (Dispatcher::chain) and the await
/// ends when none is left to start. A CancelledError or another BaseException propagates
/// unsettled, for the runner to decide (`settle`). Home loop thread only.
class HandlerStep {
 public:
  HandlerStep(nb::object dispatcher, nb::object iter, nb::object context, nb::object first,
              const Envelope& env, nb::object payload, nb::object ctx, std::int64_t started)
      : dispatcher_(std::move(dispatcher)),
        iter_(std::move(iter)),
        context_(std::move(context)),
        first_(std::move(first)),
        payload_(std::move(payload)),
        ctx_(std::move(ctx)),
        request_id_(env.request_id),
        message_id_(env.id),
        started_(started) {}

  RequestId request_id() const noexcept { return request_id_; }

  /// Steps the handler with `value` sent in (or `error` thrown in, when set). When a one-way
  /// message's handler ends, the step goes on with the next one-way messages (Dispatcher::
  /// chain): the runner awaits one step for a run of them.
  PySendResult resume(PyObject* value, PyObject* error, PyObject** out);

  /// Answers the request with `value` or fails the invocation with `error`, and counts it
  /// handled; with `answer` false the request is left for the mesh's close. Once only.
  void settle(nb::handle value, nb::handle error, bool answer);

  /// The outer coroutine is being closed: close the handler's too.
  void close() {
    if (!iter_.is_valid()) return;
    nb::object iter = iter_;
    if (PyObject_HasAttrString(iter.ptr(), "close")) iter.attr("close")();
  }

  /// The Python references it holds, for garbage collection.
  std::vector<nb::object*> objects() {
    return {&dispatcher_, &iter_, &context_, &first_, &payload_, &ctx_};
  }

 private:
  friend class Dispatcher;

  // One step of the handler, inside its context copy.
  PySendResult advance(PyObject* value, PyObject* error, PyObject** out);

  // Settles the invocation `sent` ended (PYGEN_RETURN with the result in `out`, or
  // PYGEN_ERROR with the exception raised); a BaseException other than Exception is left
  // raised and unsettled, for the runner (PYGEN_ERROR).
  PySendResult complete(PySendResult sent, PyObject** out);

  // Takes on a new invocation in place of the settled one.
  void rebind(const Envelope& env, nb::object iter, nb::object context, nb::object payload,
              nb::object ctx, std::int64_t started) {
    iter_ = std::move(iter);
    context_ = std::move(context);
    payload_ = std::move(payload);
    ctx_ = std::move(ctx);
    request_id_ = env.request_id;
    message_id_ = env.id;
    started_ = started;
    settled_ = false;
    first_.reset();
  }

  nb::object dispatcher_;  // the Python Dispatcher, which settles
  nb::object iter_;        // the handler's coroutine (or its awaitable's iterator)
  nb::object context_;     // the message's copy of the agent's context
  nb::object first_;       // what it yielded before the runner took over; handed out first
  nb::object payload_;     // for a failed one-way message's report
  nb::object ctx_;         // the Context it was called with
  RequestId request_id_;
  MessageId message_id_;
  std::int64_t started_;   // handling_meter's start
  bool settled_ = false;
};

/// The per-agent engine under AgentRunner (threading rule 4: no Task per message). It pops the
/// agent's mailbox, calls the handler in a fresh copy of the agent's context variables with a
/// Context describing the message, and answers requests, all without running Python code of
/// its own. A coroutine handler is stepped until it first suspends; only then does Python
/// take it over (run_async returns it), inside the runner Task that called run_async.
///
/// Home loop thread only (GIL held), like the mailbox pops it makes.
class Dispatcher {
 public:
  Dispatcher(nb::object mesh_handle, AgentCellPtr cell, nb::object handler, nb::object invoke,
             nb::object invocation_type, nb::object context, nb::object mesh, nb::object on_fail,
             nb::object spawn, nb::object defer, std::size_t max_concurrency)
      : handle_obj_(std::move(mesh_handle)),
        handle_(&nb::cast<MeshHandle&>(handle_obj_)),
        cell_(std::move(cell)),
        handler_(std::move(handler)),
        invoke_(std::move(invoke)),
        invocation_type_(std::move(invocation_type)),
        defer_(std::move(defer)),
        base_context_(std::move(context)),
        mesh_(std::move(mesh)),
        agent_name_(nb::str(cell_->name().data(), cell_->name().size())),
        on_fail_(std::move(on_fail)),
        spawn_(std::move(spawn)),
        max_concurrency_(max_concurrency) {}

  ~Dispatcher() { drop_batch(); }
  Dispatcher(const Dispatcher&) = delete;
  Dispatcher& operator=(const Dispatcher&) = delete;

  /// Handles up to `limit` messages with a plain handler; returns how many it took (fewer
  /// means the mailbox went idle).
  std::size_t run_sync(std::size_t limit) {
    Finished finished{mesh()};
    RunOfCopies run{*this};
    std::size_t taken = 0;
    while (taken < limit && !stopped_) {
      EnvelopePtr env = next();
      if (!env) break;
      ++taken;
      ++finished.count;
      if (expired(*env)) continue;
      nb::object copy;
      nb::object error;
      const std::int64_t started = begin_handling(stats(), *env);
      bool invoked = false;
      nb::object value = call(*env, copy, error, invoked);
      if (error.is_valid() || env->request_id != 0 || PyCoro_CheckExact(value.ptr())) {
        leave_copy();  // what follows may run Python code of the mesh's, not the agent's
      }
      if (invoked && value.is_valid() && PyCoro_CheckExact(value.ptr())) {
        // An async action on an agent with a plain handler: it runs as a task of its own,
        // which settles it (and counts it) when it ends.
        --finished.count;
        defer_(suspended(*env, value, copy, nb::object(), started));
        continue;
      }
      if (value.is_valid() && PyCoro_CheckExact(value.ptr())) {
        value.attr("close")();
        error = nb::steal(PyObject_CallFunction(
            PyExc_TypeError, "s",
            (cell_->name() + ": on_message is a plain function that returned a coroutine; "
                             "declare it `async def` (or wrap it with functools.wraps)")
                .c_str()));
        value.reset();
      }
      if (error.is_valid()) {
        conclude_failure(*env, started, error);
      } else {
        end_handling(stats(), started, {});
        if (env->request_id != 0) reply(env->request_id, value);
      }
    }
    return taken;
  }

  /// Handles messages with a coroutine handler until one suspends, `limit` have completed,
  /// or the mailbox is idle. Returns, respectively, the suspended invocation as a HandlerStep
  /// for the caller to await; the int `limit`; or None.
  nb::object run_async(std::size_t limit) {
    limit_ = limit;
    Finished finished{mesh()};
    RunOfCopies run{*this};
    std::size_t completed = 0;
    while (completed < limit) {
      if (stopped_) return nb::none();
      EnvelopePtr env = next();
      if (!env) return nb::none();
      if (expired(*env)) {
        ++completed;
        ++finished.count;
        continue;
      }
      Started s = start(*env, finished);
      if (!s.coro.is_valid()) {
        ++completed;
        continue;
      }
      return suspended(*env, s.coro, s.copy, std::move(s.yielded), s.started);
    }
    return nb::int_(completed);
  }

  /// AgentRunner.query_here's one call, made on the home loop while no runner works: claims
  /// the mailbox (so that its own push readies no runner), asks the agent with a waiter of
  /// `bridge`, and starts the handler at once if the request is the next message. Returns
  /// (id, step, waiter) when the handler suspended, for the asking Task to await before it
  /// takes the outcome (LoopBridge.answer_or_listen); else as Mesh.query does: (id, outcome,
  /// 0) answered, (id, future, token) when other messages are ahead, (0, waiter, 0) full.
  /// None, asking nothing, when the loop must turn first (inline_budget) or the stack is
  /// deep already (deep_in_stack).
  nb::object ask(nb::handle bridge, nb::handle payload, std::optional<std::string_view> sender,
                 std::optional<double> timeout) {
    int& budget = inline_budget(bridge);
    if (budget <= 0 || deep_in_stack()) return nb::none();
    std::shared_ptr<LoopWaiter> waiter = bridge_of(bridge)->make_waiter();
    cell_->mailbox().claim();
    const RequestId id = request_to(*handle_, cell_, payload, sender, timeout, waiter);
    if (id == 0) return nb::make_tuple(0, waiter, 0);
    nb::object step = start_request(id);
    if (nb::isinstance<HandlerStep>(step)) {
      // A request that ended while its handler's first step ran may have had its abandon
      // dispatched already (the step querying a plain agent drains the bridge), before the
      // runner knew which Task to cancel: abandon it again, for when it does.
      if (!mesh().requests().pending(id)) bridge_of(bridge)->abandon(cell_, id);
      return nb::make_tuple(id, step, waiter);
    }
    if (step.is_none()) --budget;  // it ended inside the call: no turn of the loop
    return answer_or_listen(bridge, *waiter, id);
  }

  /// Makes the mailbox idle, so that its next push readies the runner, if no message is left
  /// to take; returns whether it did. For a runner that alone holds the mailbox.
  bool try_idle() { return cursor_ == batch_.size() && cell_->mailbox().try_idle(); }

  /// Goes on from `step`, whose one-way message was just settled, with the next messages while
  /// they are one-way: each is started in `step`'s place until one suspends (PYGEN_NEXT, `out`
  /// what it yielded). PYGEN_RETURN (`out` None) gives the runner its loop back: a request is
  /// next, the mailbox is idle, or run_async's `limit` ended without suspending (the loop's
  /// turn). PYGEN_ERROR: a handler raised past Exception (HandlerStep::complete).
  PySendResult chain(HandlerStep& step, PyObject** out) {
    Finished finished{mesh()};
    RunOfCopies run{*this};
    try {
      for (std::size_t completed = 0; completed < limit_ && !stopped_;) {
        const Envelope* queued = peek();
        if (queued == nullptr || queued->request_id != 0) break;
        EnvelopePtr env = next();
        Started s = start(*env, finished);
        if (!s.coro.is_valid()) {
          ++completed;
          continue;
        }
        const bool begun = s.yielded.is_valid();
        step.rebind(*env, begun ? s.coro : iter_of(s.coro), s.copy, from_payload(env->payload),
                    nb::borrow(spare_), s.started);
        if (begun) {
          *out = s.yielded.release().ptr();
          return PYGEN_NEXT;
        }
        const PySendResult sent = step.advance(Py_None, nullptr, out);
        if (sent == PYGEN_NEXT) return sent;
        if (step.complete(sent, out) == PYGEN_ERROR) return PYGEN_ERROR;  // else settled, counted
        Py_CLEAR(*out);
        ++completed;
      }
    } catch (nb::python_error& e) {
      e.restore();
      return PYGEN_ERROR;
    }
    *out = Py_NewRef(Py_None);
    return PYGEN_RETURN;
  }

  /// Ends an invocation that a HandlerStep carried (see HandlerStep::settle).
  void settle(HandlerStep& step, nb::handle value, nb::handle error, bool answer) {
    Finished finished{mesh(), 1};
    const RequestId request_id = answer ? step.request_id_ : RequestId{0};
    if (!error.is_none()) {
      end_handling(stats(), step.started_, type_name(error));
      fail(request_id, step.message_id_, step.payload_, step.ctx_, error);
    } else {
      end_handling(stats(), step.started_, {});
      if (request_id != 0) reply(request_id, value);
    }
  }

  /// Takes no more messages; those already taken from the mailbox are dropped as handled.
  void stop() {
    stopped_ = true;
    drop_batch();
  }

  /// The Python references it holds, for garbage collection.
  std::vector<nb::object*> objects() {
    // Not handle_obj_: the native mesh holds no Python objects, and handle_ must stay valid.
    return {&handler_, &invoke_, &invocation_type_, &defer_, &base_context_,
            &mesh_,    &on_fail_, &spawn_,          &spare_, &copy_};
  }

 private:
  // Reports handled messages to the WorkTracker however the batch ends.
  struct Finished {
    Mesh& mesh;
    std::int64_t count = 0;
    ~Finished() {
      if (count > 0) mesh.work().finish(count);
    }
  };

  Mesh& mesh() { return handle_->get(); }
  AgentStats& stats() { return cell_->stats(); }

  // A coroutine handler's invocation as `start` left it: ended (no `coro`), or suspended at
  // its first await (`yielded` what it yielded), or an awaitable not started (no `yielded`).
  struct Started {
    nb::object coro;
    nb::object copy;  // the message's context
    nb::object yielded;
    std::int64_t started = 0;  // handling_meter's start
  };

  // Calls the handler for `env` and steps a coroutine it returns to its first await. One that
  // ends there (returned, failed, or was no awaitable at all) is settled and counted here.
  Started start(const Envelope& env, Finished& finished) {
    // A free slot must hear of work still queued while this handler runs.
    if (max_concurrency_ > 1 && (cursor_ < batch_.size() || !cell_->mailbox().try_idle())) {
      leave_copy();
      spawn_();
    }
    Started s;
    nb::object error;
    s.started = begin_handling(stats(), env);
    bool invoked = false;
    FirstStep first;
    nb::object coro = call(env, s.copy, error, invoked, &first);
    // Only a one-way coroutine that ended at its first step goes on in the entered copy.
    if (error.is_valid() || env.request_id != 0 || !first.taken || first.sent != PYGEN_RETURN) {
      leave_copy();
    }
    nb::object result;
    if (error.is_valid()) {
      ++finished.count;
      conclude_failure(env, s.started, error);
      return {};
    }
    if (!first.taken && awaitable(coro)) {
      s.coro = std::move(coro);  // not started yet
      return s;
    }
    if (first.taken) {
      result = nb::steal(first.out);
      if (first.sent == PYGEN_NEXT) {
        s.coro = std::move(coro);
        s.yielded = std::move(result);
        return s;
      }
    } else {
      result = std::move(coro);  // a sync action's result, or a wrapped plain function's
    }
    ++finished.count;
    end_handling(stats(), s.started, {});
    if (env.request_id != 0) reply(env.request_id, result);  // what it returned
    return {};
  }

  /// Starts request `id` if it is the next message: its HandlerStep if it suspended, None if
  /// it ended (answered, failed or expired), or False, taking nothing, when another message
  /// is ahead of it.
  nb::object start_request(RequestId id) {
    Finished finished{mesh()};
    RunOfCopies run{*this};
    const Envelope* queued = stopped_ ? nullptr : peek();
    if (queued == nullptr || queued->request_id != id) return nb::bool_(false);
    EnvelopePtr env = next();
    if (expired(*env)) {
      ++finished.count;
      return nb::none();
    }
    Started s = start(*env, finished);
    if (!s.coro.is_valid()) return nb::none();
    return suspended(*env, s.coro, s.copy, std::move(s.yielded), s.started);
  }

  // What run_async (or, for an async action, run_sync's defer) hands over for a runner Task
  // to await: a HandlerStep of the handler's coroutine, started (`first` is what it yielded)
  // or not (`first` invalid; a non-coroutine awaitable is stepped through its iterator).
  nb::object suspended(const Envelope& env, nb::handle awaitable, nb::handle copy,
                       nb::object first, std::int64_t start) {
    nb::object iter = first.is_valid() ? nb::borrow(awaitable) : iter_of(awaitable);
    return nb::cast(HandlerStep(nb::find(this), std::move(iter), nb::borrow(copy),
                                std::move(first), env, from_payload(env.payload),
                                nb::borrow(spare_), start));
  }

  // What steps an awaitable that has not started: a coroutine or generator itself, else the
  // iterator its __await__ returns.
  static nb::object iter_of(nb::handle awaitable) {
    if (PyCoro_CheckExact(awaitable.ptr()) || PyGen_Check(awaitable.ptr())) {
      return nb::borrow(awaitable);
    }
    return awaitable.attr("__await__")();
  }

  static std::string type_name(nb::handle exc) {
    return nb::cast<std::string>(nb::handle(Py_TYPE(exc.ptr())).attr("__qualname__"));
  }

  // The next message, left in the batch; null when the mailbox is idle or the mesh closed.
  const Envelope* peek() {
    // What the batch holds is still queued: a close drops it as it drops what is left in the
    // mailbox, also when a handler of this batch closed the mesh and stop() is yet to come.
    if (mesh().closed()) {
      drop_batch();
      return nullptr;
    }
    if (cursor_ == batch_.size()) {
      batch_.clear();
      cursor_ = 0;
      cell_->mailbox().pop_batch(batch_, kRefill);  // an empty pop makes the mailbox idle
      dispose_dropped();
      if (batch_.empty()) return nullptr;
      for (std::size_t i = 0; i < std::min(kAhead, batch_.size()); ++i) fetch(*batch_[i]);
    }
    return batch_[cursor_].get();
  }

  static void fetch(const Envelope& env) {
    static_assert(sizeof(Envelope) <= 128);  // two cache lines
    __builtin_prefetch(&env);
    __builtin_prefetch(reinterpret_cast<const char*>(&env) + 64);
  }

  // Takes the next message (see peek), fetching the memory of those behind it (kAhead).
  EnvelopePtr next() {
    if (peek() == nullptr) return nullptr;
    if (cursor_ + kAhead < batch_.size()) fetch(*batch_[cursor_ + kAhead]);
    if (cursor_ + kAhead / 2 < batch_.size()) {
      if (const auto* ref = batch_[cursor_ + kAhead / 2]->payload.get<PyRef>()) {
        __builtin_prefetch(ref->ptr());
      }
    }
    return std::move(batch_[cursor_++]);
  }

  // Envelopes the overflow policy dropped: their payloads die here, with the GIL (rule 1).
  // After the pop, which makes every earlier drop visible (Mailbox::take_dropped).
  void dispose_dropped() {
    if (cell_->mailbox().take_dropped(dropped_) == 0) return;
    const auto n = static_cast<std::int64_t>(dropped_.size());
    dropped_.clear();
    mesh().work().finish(n);
  }

  void drop_batch() {
    const auto left = static_cast<std::int64_t>(batch_.size() - cursor_);
    batch_.clear();
    cursor_ = 0;
    if (left > 0) {
      try {
        mesh().work().finish(left);
      } catch (const MeshClosed&) {  // inherited across fork: nothing to report to
      }
    }
  }

  // Cancelled or expired while queued: nobody would read the answer.
  bool expired(const Envelope& env) {
    if (env.request_id == 0 || mesh().requests().pending(env.request_id)) return false;
    mesh().dead_letter(DeadLetterReason::expired, cell_->name(), env.sender, env.id,
                       env.request_id, "the request ended while it was queued");
    return true;
  }

  // How the first step of a coroutine went, when `call` was asked to take it.
  struct FirstStep {
    bool taken = false;
    PySendResult sent = PYGEN_ERROR;
    PyObject* out = nullptr;  // new reference: what it yielded or returned
  };

  // Calls the handler (or, for an Invocation payload, the action runner: `invoked`) in a fresh
  // copy of the agent's context (`copy`); on failure `error` holds the exception and the
  // result is null. With `first`, a coroutine it returns is stepped once in the same entry of
  // the context (one enter and exit per message, not two); a failing step sets `error` too.
  nb::object call(const Envelope& env, nb::object& copy, nb::object& error, bool& invoked,
                  FirstStep* first = nullptr) {
    nb::object payload = from_payload(env.payload);
    PyObject* ctx = context_for(env);
    invoked = Py_TYPE(payload.ptr()) == reinterpret_cast<PyTypeObject*>(invocation_type_.ptr());
    PyObject* target = invoked ? invoke_.ptr() : handler_.ptr();
    copy = nb::borrow(enter_copy());
    // A free slot before the arguments lets a bound method put `self` there instead of
    // copying the arguments into a new array (PY_VECTORCALL_ARGUMENTS_OFFSET).
    PyObject* args[3] = {nullptr, payload.ptr(), ctx};
    nb::object result = nb::steal(
        PyObject_Vectorcall(target, args + 1, 2 | PY_VECTORCALL_ARGUMENTS_OFFSET, nullptr));
    if (!result.is_valid()) {
      error = take_exception();
    } else if (first != nullptr && PyCoro_CheckExact(result.ptr())) {
      first->taken = true;
      first->sent = PyIter_Send(result.ptr(), Py_None, &first->out);
      if (first->sent == PYGEN_ERROR) error = take_exception();
    }
    return result;
  }

  // A handler runs in a copy of the agent's context, entered around the call. One copy serves
  // a run of messages (run_sync, run_async, chain: RunOfCopies), entered once, while no
  // handler set a variable in it and nothing else holds it (a suspended handler's step):
  // such a copy cannot be told from a fresh one, since Python code only ever gets copies of
  // a context, never the entered object itself. A copy, an enter and an exit fewer per
  // message (callgrind, tell_sync: 2,790 -> 2,713 instructions per message).
  PyObject* enter_copy() {
    if (copy_.is_valid()) {
      const Py_ssize_t holders = copy_entered_ ? 2 : 1;  // this, and the thread state
      if (Py_REFCNT(copy_.ptr()) == holders && unchanged(copy_.ptr())) {
        if (!copy_entered_) {
          if (PyContext_Enter(copy_.ptr()) < 0) throw nb::python_error();
          copy_entered_ = true;
        }
        return copy_.ptr();
      }
      leave_copy();
      copy_.reset();
    }
    nb::object copy = nb::steal(PyContext_Copy(base_context_.ptr()));
    if (!copy.is_valid() || PyContext_Enter(copy.ptr()) < 0) throw nb::python_error();
    copy_ = std::move(copy);
    copy_entered_ = true;
    return copy_.ptr();
  }

  // Whether `copy` holds the variables of the agent's context still. The type's own
  // comparison, which for an untouched copy compares two pointers; PyObject_RichCompareBool's
  // generic path around it cost more than the copy it saves.
  bool unchanged(PyObject* copy) {
    PyObject* same = Py_TYPE(copy)->tp_richcompare(copy, base_context_.ptr(), Py_EQ);
    if (same == nullptr) {
      PyErr_Clear();
      return false;
    }
    const bool result = same == Py_True;
    Py_DECREF(same);
    return result;
  }

  // Back to the context the run began in: before Python code that is not a handler's.
  void leave_copy() noexcept {
    if (std::exchange(copy_entered_, false)) PyContext_Exit(copy_.ptr());
  }

  // A run of handler calls: leaves its copy, and drops it, however the run ends. A run nested
  // in another of the same dispatcher (a handler's first step draining its own loop) starts
  // without the outer run's copy and hands it back, still entered, beneath its own.
  struct RunOfCopies {
    Dispatcher& dispatcher;
    nb::object outer_copy = std::move(dispatcher.copy_);
    bool outer_entered = std::exchange(dispatcher.copy_entered_, false);
    ~RunOfCopies() {
      dispatcher.leave_copy();
      dispatcher.copy_ = std::move(outer_copy);
      dispatcher.copy_entered_ = outer_entered;
    }
  };

  // One Context serves message after message while nobody else holds it; a handler that
  // keeps its context keeps that one, unchanged.
  PyObject* context_for(const Envelope& env) {
    if (!spare_.is_valid() || Py_REFCNT(spare_.ptr()) != 1) {
      spare_ = make_context(mesh_, agent_name_);
    }
    nb::inst_ptr<HandlerContext>(spare_)->describe(env);
    return spare_.ptr();
  }

  void reply(RequestId id, nb::handle value) {
    // If the request already ended, the outcome dies here, with the GIL.
    mesh().reply(id, Outcome::success(Payload(PyRef(value))));
  }

  void conclude_failure(const Envelope& env, std::int64_t started, nb::handle error) {
    end_handling(stats(), started, type_name(error));
    fail(env.request_id, env.id, env.request_id == 0 ? from_payload(env.payload) : nb::none(),
         nb::handle(spare_), error);
    if (escapes_handler(error)) {
      PyErr_SetObject(reinterpret_cast<PyObject*>(Py_TYPE(error.ptr())), error.ptr());
      throw nb::python_error();
    }
  }

  // Fails the request, or reports a failed one-way message: a dead letter, and the runner's
  // on_fail (the agent's on_error hook, or a log record) with the message and its Context.
  void fail(RequestId request_id, MessageId message_id, nb::handle payload, nb::handle ctx,
            nb::handle error) {
    if (request_id != 0) {
      Outcome o{Status::error, Payload(PyRef(error)), type_name(error), describe(error)};
      mesh().reply(request_id, std::move(o));
      return;
    }
    mesh().dead_letter(DeadLetterReason::failed, cell_->name(),
                       nb::inst_ptr<HandlerContext>(ctx)->sender, message_id, 0,
                       type_name(error) + ": " + describe(error));
    try {
      on_fail_(error, payload, ctx);
    } catch (nb::python_error& e) {
      e.discard_as_unraisable(on_fail_);
    }
  }

  nb::object handle_obj_;  // the Python _core.Mesh, kept alive for handle_
  MeshHandle* handle_;
  AgentCellPtr cell_;
  nb::object handler_;
  nb::object invoke_;           // runs an Invocation payload's action instead of handler_
  nb::object invocation_type_;  // the type of those payloads
  nb::object defer_;            // runs an async action's coroutine from run_sync as a task
  nb::object base_context_;
  nb::object mesh_;  // the LocalMesh, for Context.mesh
  nb::object agent_name_;
  nb::object on_fail_;
  nb::object spawn_;
  nb::object spare_;  // the Context reused while only this dispatcher holds it
  nb::object copy_;   // the agent's context copy of the current run (enter_copy)
  bool copy_entered_ = false;
  const std::size_t max_concurrency_;
  // run_async's last `limit`, which chain keeps to; 0 until run_async runs, so the steps of
  // a plain handler's agent (its deferred actions, run beside run_sync) never chain.
  std::size_t limit_ = 0;
  std::vector<EnvelopePtr> batch_;  // taken from the mailbox, handled from cursor_ on
  std::size_t cursor_ = 0;
  std::vector<EnvelopePtr> dropped_;  // reused by dispose_dropped
  bool stopped_ = false;
};

PySendResult HandlerStep::resume(PyObject* value, PyObject* error, PyObject** out) {
  *out = nullptr;
  if (settled_ || !iter_.is_valid()) {
    PyErr_SetString(PyExc_RuntimeError, "this handler step is already finished");
    return PYGEN_ERROR;
  }
  if (first_.is_valid() && error == nullptr) {  // the runner's first resumption
    *out = first_.release().ptr();
    return PYGEN_NEXT;
  }
  first_.reset();
  PySendResult sent = advance(value, error, out);
  if (sent == PYGEN_NEXT) return sent;
  sent = complete(sent, out);
  // Only one-way runs are chained: the runner maps a request to its Task for the whole await.
  if (sent == PYGEN_RETURN && request_id_ == 0 && error == nullptr) {
    Py_DECREF(*out);
    *out = nullptr;
    nb::object dispatcher = dispatcher_;
    return nb::inst_ptr<Dispatcher>(dispatcher)->chain(*this, out);
  }
  return sent;
}

PySendResult HandlerStep::advance(PyObject* value, PyObject* error, PyObject** out) {
  if (PyContext_Enter(context_.ptr()) < 0) return PYGEN_ERROR;
  PySendResult sent;
  if (error == nullptr) {
    sent = PyIter_Send(iter_.ptr(), value, out);
  } else {
    PyObject* result = PyObject_CallMethod(iter_.ptr(), "throw", "O", error);
    if (result != nullptr) {
      *out = result;
      sent = PYGEN_NEXT;
    } else if (PyErr_ExceptionMatches(PyExc_StopIteration)) {
      nb::object stop = take_exception();
      *out = nb::object(stop.attr("value")).release().ptr();
      sent = PYGEN_RETURN;
    } else {
      sent = PYGEN_ERROR;
    }
  }
  PyContext_Exit(context_.ptr());
  return sent;
}

PySendResult HandlerStep::complete(PySendResult sent, PyObject** out) {
  try {
    if (sent == PYGEN_RETURN) {
      nb::object result = nb::steal(*out);
      *out = nullptr;
      settle(result, nb::none(), true);
    } else {
      nb::object raised = take_exception();
      // CancelledError and other BaseExceptions are the runner's to judge (settle).
      if (!PyErr_GivenExceptionMatches(raised.ptr(), PyExc_Exception)) {
        PyObject* traceback = PyException_GetTraceback(raised.ptr());
        PyObject* type = Py_NewRef(reinterpret_cast<PyObject*>(Py_TYPE(raised.ptr())));
        PyErr_Restore(type, raised.release().ptr(), traceback);
        return PYGEN_ERROR;
      }
      settle(nb::none(), raised, true);
    }
  } catch (nb::python_error& e) {
    e.restore();
    return PYGEN_ERROR;
  }
  Py_INCREF(Py_None);
  *out = Py_None;
  return PYGEN_RETURN;
}

void HandlerStep::settle(nb::handle value, nb::handle error, bool answer) {
  if (settled_) return;
  settled_ = true;
  nb::object dispatcher = dispatcher_;
  nb::inst_ptr<Dispatcher>(dispatcher)->settle(*this, value, error, answer);
  iter_.reset();  // the frame and what it holds go now, not with the step
  context_.reset();
  payload_.reset();
  ctx_.reset();
}

namespace {

// Garbage collection of an object that holds Python references (`T::objects`).
template <class T>
int traverse(PyObject* self, visitproc visit, void* arg) {
  Py_VISIT(Py_TYPE(self));
  if (!nb::inst_ready(self)) return 0;
  for (nb::object* o : nb::inst_ptr<T>(self)->objects()) Py_VISIT(o->ptr());
  return 0;
}

template <class T>
int clear(PyObject* self) {
  for (nb::object* o : nb::inst_ptr<T>(self)->objects()) o->reset();
  return 0;
}

// Every resumption of `await step` calls am_send (PyIter_Send), so it is a slot; __await__
// and __next__ are methods, called once per await and never.
PySendResult step_send(PyObject* self, PyObject* value, PyObject** out) {
  return nb::inst_ptr<HandlerStep>(self)->resume(value, nullptr, out);
}

PyType_Slot step_slots[] = {
    {Py_am_send, reinterpret_cast<void*>(step_send)},
    {Py_tp_traverse, reinterpret_cast<void*>(&traverse<HandlerStep>)},
    {Py_tp_clear, reinterpret_cast<void*>(&clear<HandlerStep>)},
    {0, nullptr}};

PyType_Slot slots[] = {{Py_tp_traverse, reinterpret_cast<void*>(&traverse<Dispatcher>)},
                       {Py_tp_clear, reinterpret_cast<void*>(&clear<Dispatcher>)},
                       {0, nullptr}};

}  // namespace

void bind_dispatcher(nb::module_& m) {
  nb::class_<HandlerStep>(m, "HandlerStep", nb::type_slots(step_slots),
                          "A suspended handler invocation; await it to run it to its end.")
      .def_prop_ro("request_id", &HandlerStep::request_id, "The request it answers, or 0.")
      .def(
          "throw",
          [](HandlerStep& step, nb::handle error) {
            PyObject* out = nullptr;
            const PySendResult sent = step.resume(nullptr, error.ptr(), &out);
            if (sent == PYGEN_ERROR) throw nb::python_error();
            nb::object result = nb::steal(out);
            if (sent == PYGEN_RETURN) throw nb::stop_iteration();
            return result;
          },
          nb::arg("error"), "Throws `error` into the handler, as a Task's cancellation does.")
      .def("close", &HandlerStep::close, "Closes the handler's coroutine.")
      .def("settle", &HandlerStep::settle, nb::arg("value").none(), nb::arg("error").none(),
           nb::arg("answer"),
           "Ends the invocation after a CancelledError or BaseException left it unsettled: "
           "answers `value` or fails it with `error` (with `answer` false, leaves the request "
           "to the mesh's close), and counts it handled. Once only.")
      .def("__await__", [](nb::handle self) { return nb::borrow(self); },
           nb::sig("def __await__(self) -> collections.abc.Generator[typing.Any, None, None]"))
      .def("__iter__", [](nb::handle self) { return nb::borrow(self); },
           nb::sig("def __iter__(self) -> HandlerStep"))
      .def(
          "__next__",
          [](HandlerStep& step) {
            PyObject* out = nullptr;
            const PySendResult sent = step.resume(Py_None, nullptr, &out);
            if (sent == PYGEN_ERROR) throw nb::python_error();
            nb::object result = nb::steal(out);
            if (sent == PYGEN_RETURN) throw nb::stop_iteration();
            return result;
          },
          nb::sig("def __next__(self) -> object"));

  nb::class_<Dispatcher>(m, "Dispatcher", nb::type_slots(slots),
                         "Runs one Python agent's handlers natively. Home loop only.")
      .def(nb::init<nb::object, AgentCellPtr, nb::object, nb::object, nb::object, nb::object,
                    nb::object, nb::object, nb::object, nb::object, std::size_t>(),
           nb::arg("mesh_handle"), nb::arg("cell"), nb::arg("handler"), nb::arg("invoke"),
           nb::arg("invocation_type"), nb::arg("context"), nb::arg("mesh"), nb::arg("on_fail"),
           nb::arg("spawn"), nb::arg("defer"), nb::arg("max_concurrency"),
           nb::sig("def __init__(self, mesh_handle: Mesh, cell: AgentRef, "
                   "handler: collections.abc.Callable[..., typing.Any], "
                   "invoke: collections.abc.Callable[..., typing.Any], invocation_type: type, "
                   "context: contextvars.Context, mesh: object, "
                   "on_fail: collections.abc.Callable[[BaseException, typing.Any, Context], None], "
                   "spawn: collections.abc.Callable[[], None], "
                   "defer: collections.abc.Callable[[HandlerStep], None], "
                   "max_concurrency: int) -> None"))
      .def("run_sync", &Dispatcher::run_sync, nb::arg("limit"),
           "Handles up to `limit` messages with a plain handler; returns how many it took.")
      .def("run_async", &Dispatcher::run_async, nb::arg("limit"),
           nb::sig("def run_async(self, limit: int) -> HandlerStep | int | None"),
           "Runs coroutine handlers until one suspends (returned for the caller to await), "
           "`limit` completed (returns the int), or the mailbox is idle (None).")
      .def("ask", &Dispatcher::ask, nb::arg("bridge"), nb::arg("payload").none(),
           nb::arg("sender").none(), nb::arg("timeout").none(),
           nb::sig("def ask(self, bridge: LoopBridge, payload: object, sender: str | None, "
                   "timeout: float | None) -> tuple[int, typing.Any, typing.Any] | None"),
           "Asks the agent from its home loop while no runner works, starting the handler in "
           "the caller: (id, step, waiter) when it suspended (await the step, then "
           "LoopBridge.answer_or_listen), else as Mesh.query returns; None, asking nothing, "
           "when the loop must turn first or the stack is half deep as Python allows.")
      .def("try_idle", &Dispatcher::try_idle,
           "Makes the mailbox idle if no message is left to take; True if it did.")
      .def("stop", &Dispatcher::stop, "Takes no more messages.");
}

}  // namespace serendip::binding
