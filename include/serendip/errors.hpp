// include/serendip/errors.hpp: the exceptions the core throws at its API boundary.
// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <stdexcept>
#include <string>

namespace serendip {

/// Base of every error the mesh reports by exception.
class MeshError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// No agent of that name is registered (and no transport knows it).
class AgentNotFound : public MeshError {
 public:
  explicit AgentNotFound(const std::string& name) : MeshError("no agent named '" + name + "'") {}
};

/// An agent of that name is already registered.
class DuplicateAgent : public MeshError {
 public:
  explicit DuplicateAgent(const std::string& name)
      : MeshError("an agent named '" + name + "' is already registered") {}
};

/// The mesh is closed (or closing) and accepts no new work.
class MeshClosed : public MeshError {
 public:
  MeshClosed() : MeshError("the mesh is closed") {}
  explicit MeshClosed(const std::string& why) : MeshError(why) {}
};

}  // namespace serendip
