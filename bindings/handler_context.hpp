// bindings/handler_context.hpp: the `Context` a Python handler receives.
// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <serendip/envelope.hpp>

#include <nanobind/nanobind.h>

#include <string>
#include <utility>

namespace serendip::binding {

namespace nb = nanobind;

/// The header under which a published envelope carries its subject.
inline constexpr const char* kTopicHeader = "topic";

inline std::string topic_of(const Envelope& env) {
  if (!env.headers) return {};
  for (const auto& [key, value] : *env.headers) {
    if (key == kTopicHeader) return value;
  }
  return {};
}

/// What a handler knows about the message it handles. Native, so the Dispatcher fills one per
/// message without running Python code; `send_to` and `query` forward to the Python mesh.
struct HandlerContext {
  HandlerContext(nb::object mesh_, nb::object agent_)
      : mesh(std::move(mesh_)), agent(std::move(agent_)) {}

  nb::object mesh;   ///< the LocalMesh
  nb::object agent;  ///< the handling agent's name (str)
  Name sender;  ///< a Name, like the envelope's: copied per message without allocating
  std::string topic;  ///< for a published message: its subject
  MessageId message_id = 0;
  RequestId request_id = 0;
  bool has_message = false;  ///< false in the start and stop hooks

  void describe(const Envelope& env) {
    sender = env.sender;
    if (env.kind == Kind::publish) {
      topic = topic_of(env);
    } else if (!topic.empty()) {
      topic.clear();
    }
    message_id = env.id;
    request_id = env.request_id;
    has_message = true;
  }
};

/// A new Python `Context` for `agent` of `mesh`, describing no message yet.
nb::object make_context(nb::handle mesh, nb::handle agent);

}  // namespace serendip::binding
