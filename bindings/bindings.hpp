// bindings/bindings.hpp: the binding's areas, each defined in its own file.
// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <serendip/fwd.hpp>

#include <nanobind/nanobind.h>

#include <exception>
#include <optional>
#include <string>
#include <string_view>

namespace serendip::binding {

class MeshHandle;

/// Raises the Python error `serendip._errors.<name>` with `message` (module.cpp).
[[noreturn]] void raise_error(const char* name, const std::string& message);
/// Sets the Python error for a mesh exception (DuplicateAgent, AgentNotFound, MeshClosed,
/// NativeActionFailed) and returns true; false for any other exception (module.cpp).
bool set_mesh_error(const std::exception_ptr& p);
/// Sets the Python error for any exception, as nanobind would: for the functions defined
/// without nanobind (module.cpp).
void set_python_error(const std::exception_ptr& p) noexcept;
/// `text` as an interned str, kept for the life of the process: for the method names the
/// binding calls on hot paths (module.cpp). GIL held.
PyObject* interned(const char* text);
/// LoopBridge, Waiter and BlockingWaiter (bridge.cpp).
void bind_bridge(nanobind::module_& m);
/// An outcome as the tuple Python reads: (status, payload, error_type, error_message), the
/// texts decoded leniently (bridge.cpp).
nanobind::tuple outcome_tuple(Outcome& outcome);
/// The core bridge behind a Python `_core.LoopBridge` object (bridge.cpp).
LoopBridgePtr bridge_of(nanobind::handle bridge);
/// The rest of a query made with `waiter` from `bridge`'s loop (request `id`): (id, outcome,
/// 0) when its answer came already, else (id, future, token), the future listening for it
/// (bridge.cpp; see LoopBridge.listen).
nanobind::tuple answer_or_listen(nanobind::handle bridge, LoopWaiter& waiter, RequestId id);
/// Opens a request to `agent` with `waiter` and queues it; its id, or 0 when the mailbox is
/// full (nothing was opened). Raises the Python error for any other refusal (mesh.cpp).
RequestId request_to(MeshHandle& h, const AgentCellPtr& agent, nanobind::handle payload,
                     std::optional<std::string_view> sender, std::optional<double> timeout,
                     WaiterPtr waiter);
/// The queries `bridge`'s loop may still answer inside their calls before it must turn: a
/// plain handler's (wake_locally) and an idle async handler's that ends without suspending
/// (Dispatcher.ask) count alike (bridge.cpp).
int& inline_budget(nanobind::handle bridge);
/// Mesh, AgentRef and Envelope (mesh.cpp).
void bind_mesh(nanobind::module_& m);
/// Context, what handlers receive (context.cpp).
void bind_context(nanobind::module_& m);
/// Dispatcher, the native engine under a Python agent (dispatcher.cpp).
void bind_dispatcher(nanobind::module_& m);
/// NativeAction (native_action.cpp).
void bind_native_action(nanobind::module_& m);
/// LlmEndpoint, LlmTools, LlmStats, LlmStream and LlmClient (llm.cpp).
void bind_llm(nanobind::module_& m);
/// An LLM call's result or failure payload as a tuple; an invalid handle for other payloads
/// (llm.cpp).
nanobind::object llm_payload(const Payload& payload);

}  // namespace serendip::binding
