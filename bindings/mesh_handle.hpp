// bindings/mesh_handle.hpp: the native mesh as the Python `_core.Mesh` object owns it.
// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <serendip/errors.hpp>
#include <serendip/mesh.hpp>

#include <nanobind/nanobind.h>

#include <memory>

namespace serendip::binding {

namespace nb = nanobind;

// The Python object's mesh. Joining native threads is the one blocking step, so it releases
// the GIL (rule 6); everything that may destroy envelopes keeps the GIL (see PyRef).
class MeshHandle {
 public:
  explicit MeshHandle(std::size_t worker_threads)
      : mesh_(std::make_unique<Mesh>(MeshOptions{worker_threads})) {}

  ~MeshHandle() {
    if (!mesh_) return;
    mesh_->close();
    nb::gil_scoped_release release;
    mesh_->join();
    mesh_.reset();
  }

  Mesh& get() {
    if (!mesh_) throw MeshClosed();
    return *mesh_;
  }

  // In a forked child the native threads do not exist: joining them would hang and their
  // mutexes may be held by threads that vanished, so the native mesh is abandoned unfreed.
  void leak() { (void)mesh_.release(); }

 private:
  std::unique_ptr<Mesh> mesh_;
};

}  // namespace serendip::binding
