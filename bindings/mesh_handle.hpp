// bindings/mesh_handle.hpp: the native mesh as the Python `_core.Mesh` object owns it.
// SPDX-License-Identifier: Apache-2.0
#pragma once

#include "target_cache.hpp"

#include <serendip/errors.hpp>
#include <serendip/mesh.hpp>

#include <nanobind/nanobind.h>

#include <memory>
#include <string>
#include <utility>

namespace serendip::binding {

namespace nb = nanobind;

// The Python object's mesh. Joining native threads is the one blocking step, so it releases
// the GIL (rule 6); everything that may destroy envelopes keeps the GIL (see PyRef).
class MeshHandle {
 public:
  MeshHandle(std::string name, std::size_t worker_threads, std::size_t dead_letter_capacity)
      : name_(std::move(name)),
        mesh_(std::make_unique<Mesh>(MeshOptions{worker_threads, dead_letter_capacity})) {}

  ~MeshHandle() {
    targets_.clear();  // its agents may hold Python payloads: released here, with the GIL
    if (!mesh_) return;
    mesh_->close();
    nb::gil_scoped_release release;
    mesh_->join();
    mesh_.reset();
  }

  /// The native mesh; MeshClosed (saying why) once it is abandoned after fork.
  Mesh& get() {
    if (!mesh_) {
      throw MeshClosed("mesh '" + name_ +
                       "' was created in the parent process and cannot be used after fork(); "
                       "create a new mesh in the child");
    }
    return *mesh_;
  }

  // In a forked child the native threads do not exist: joining them would hang and their
  // mutexes may be held by threads that vanished, so the native mesh is abandoned unfreed.
  void leak() { (void)mesh_.release(); }

  const std::string& name() const { return name_; }

  /// The agents Python sent to lately (GIL held).
  TargetCache& targets() { return targets_; }

 private:
  std::string name_;
  std::unique_ptr<Mesh> mesh_;
  TargetCache targets_;
};

}  // namespace serendip::binding
