// examples/native_agents.cpp: C++ agents: plain handlers and a coroutine that asks others.
// SPDX-License-Identifier: Apache-2.0
//
// "squarer" and "echo" are plain handlers: each call runs to completion on a scheduler worker.
// "coordinator" is a coroutine handler: every `co_await ctx.query(...)` frees the worker while
// the other agent works, and the coordinator resumes on its own agent when the reply arrives.
// main() is a plain C++ caller: `ask` blocks it until the request ends.
#include <serendip/client.hpp>
#include <serendip/mesh.hpp>
#include <serendip/native_agent.hpp>

#include <cstdio>
#include <stdexcept>
#include <string>

using namespace serendip;

namespace {

Payload square(NativeContext&, Payload p) {
  const int n = *p.get<int>();
  if (n < 0) throw std::invalid_argument("negative input");
  return n * n;
}

Task<Payload> coordinate(NativeContext& ctx, Payload p) {
  const int n = *p.get<int>();
  int total = 0;
  for (int i = 1; i <= n; ++i) {
    Outcome squared = co_await ctx.query("squarer", i);
    if (squared.status != Status::ok) throw std::runtime_error(squared.error_message);
    total += *squared.payload.get<int>();
  }
  Outcome echoed = co_await ctx.query("echo", std::string("hello"));
  Outcome missing = co_await ctx.query("nobody", 0);
  Outcome failing = co_await ctx.query("squarer", -1);
  co_return "sum of squares 1.." + std::to_string(n) + " = " + std::to_string(total) +
      "\nechoed: " + *echoed.payload.get<std::string>() +
      "\nnobody: " + to_string(missing.status) +
      "\nfailing: " + to_string(failing.status) + " " + failing.error_type + ": " +
      failing.error_message;
}

}  // namespace

int main() {
  Mesh mesh(MeshOptions{.worker_threads = 2});
  spawn(mesh, "squarer", square);
  spawn(mesh, "echo", [](NativeContext&, Payload p) { return p; });
  spawn(mesh, "coordinator", coordinate);

  Outcome report = ask(mesh, "coordinator", 4);
  if (report.status != Status::ok) {
    std::printf("coordinator failed: %s %s\n", to_string(report.status),
                report.error_message.c_str());
    return 1;
  }
  std::printf("%s\n", report.payload.get<std::string>()->c_str());

  mesh.close();
  mesh.join();
  std::printf("native_agents: ok\n");
  return 0;
}
