// bench/native/bench_native_serendip.cpp: the `native` scenario on serendip's native agents.
// SPDX-License-Identifier: Apache-2.0
//
// One-way: the main thread, a plain client outside any agent, sends N numbered messages
// round-robin to A plain-handler agents; each agent adds the numbers it gets to its own tally.
// Timed from the first send until the mesh is idle (every accepted message handled). Mailboxes
// are bounded (serendip's default 1024): when one is full, the sender waits for space, as
// `serendip::tell(mesh, target, payload, wait)` does.
// Round trip: the client asks an "echo" agent, which answers n + 1, M times in a row with
// `serendip::ask`; each answer is checked.
// The same scenario on CAF is bench_native_caf.cpp.
#include "bench_common.hpp"

#include <serendip/client.hpp>
#include <serendip/mesh.hpp>
#include <serendip/native_agent.hpp>

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

using namespace serendip;

namespace {

constexpr const char* usage =
    "usage: bench_native_serendip [--agents A] [--messages N] [--rtt-iters M] [--threads T]\n"
    "                             [--mailbox-capacity C] [--by-name] [--no-deadline] [--verbose]\n"
    "  --mailbox-capacity C  bound of each agent's mailbox (default 1024, serendip's default)\n"
    "  --by-name             one-way sends go through serendip::tell(mesh, name, payload, wait),\n"
    "                        a name lookup per message, instead of Mesh::tell to the agent's cell\n"
    "  --no-deadline         round trips ask with no deadline (no timer per request)\n"
    "prints {\"oneway_msgs_per_s\": float, \"rtt_us\": float} on stdout\n";

struct Flags {
  std::size_t mailbox_capacity = NativeOptions{}.mailbox_capacity;
  bool by_name = false;
  bool no_deadline = false;
};

/// One agent's state: written only by its handler, which serendip runs on one worker at a
/// time; read by main() after wait_idle, which orders it after every handler. Own cache line,
/// so that two workers running two agents do not share one.
struct alignas(64) Tally {
  std::uint64_t count = 0;
  std::uint64_t sum = 0;
};

std::string agent_name(std::size_t i) { return "counter-" + std::to_string(i); }

// Sends one message to `agent`, waiting while its mailbox is full, like the client helper
// tell(mesh, target, payload, wait) but without looking the name up again per message.
// Returns how many times it had to wait.
std::uint64_t send_to_cell(Mesh& mesh, const AgentCellPtr& agent, std::uint64_t n) {
  EnvelopePtr env = make_envelope(Kind::tell, Payload(n));
  std::uint64_t waits = 0;
  for (;;) {
    const RouteResult r = mesh.tell(agent, env);
    if (r == RouteResult::delivered) return waits;
    if (r != RouteResult::full) bench::fail("one-way send to " + agent->name() + " failed");
    ++waits;
    auto space = std::make_shared<BlockingWaiter>();
    if (agent->mailbox().wait_for_space(space)) space->wait_until(Deadline::max());
  }
}

void send_by_name(Mesh& mesh, const std::string& name, std::uint64_t n) {
  const RouteResult r = tell(mesh, name, Payload(n), std::chrono::minutes(10));
  if (r != RouteResult::delivered) bench::fail("one-way send to " + name + " failed");
}

// Sends messages first..first+count-1 round-robin (message i to agent i % A) and waits
// until the mesh is idle. Returns the number of waits for mailbox space.
std::uint64_t send_round_robin(Mesh& mesh, const std::vector<AgentCellPtr>& cells,
                               const std::vector<std::string>& names, const Flags& flags,
                               std::uint64_t first, std::uint64_t count) {
  const std::size_t agents = cells.size();
  std::uint64_t waits = 0;
  std::size_t a = first % agents;
  for (std::uint64_t i = first; i < first + count; ++i) {
    if (flags.by_name) {
      send_by_name(mesh, names[a], i);
    } else {
      waits += send_to_cell(mesh, cells[a], i);
    }
    if (++a == agents) a = 0;
  }
  if (!wait_idle(mesh, std::chrono::minutes(10))) bench::fail("the mesh did not become idle");
  return waits;
}

double run_oneway(Mesh& mesh, const bench::Options& o, const Flags& flags) {
  std::vector<Tally> tallies(o.agents);
  std::vector<AgentCellPtr> cells;
  std::vector<std::string> names;
  for (std::size_t i = 0; i < o.agents; ++i) {
    names.push_back(agent_name(i));
    Tally* tally = &tallies[i];
    cells.push_back(spawn(
        mesh, names.back(),
        [tally](NativeContext&, Payload p) -> Payload {
          const std::uint64_t* n = p.get<std::uint64_t>();
          if (n == nullptr) throw std::invalid_argument("expected a std::uint64_t");
          ++tally->count;
          tally->sum += *n;
          return {};
        },
        NativeOptions{.mailbox_capacity = flags.mailbox_capacity}));
  }

  const std::uint64_t warm = bench::warmup_messages(o);
  send_round_robin(mesh, cells, names, flags, 0, warm);

  const auto start = bench::Clock::now();
  const std::uint64_t waits = send_round_robin(mesh, cells, names, flags, warm, o.messages);
  const double elapsed = bench::seconds_since(start);

  for (std::size_t a = 0; a < o.agents; ++a) {
    const bench::Share want = bench::expected_tally(warm, o.messages, o.agents, a);
    if (tallies[a].count != want.count || tallies[a].sum != want.sum) {
      bench::fail(names[a] + " handled " + std::to_string(tallies[a].count) + " messages (sum " +
                  std::to_string(tallies[a].sum) + "), expected " + std::to_string(want.count) +
                  " (sum " + std::to_string(want.sum) + ")");
    }
  }
  if (o.verbose) {
    std::fprintf(stderr, "serendip one-way: %llu messages in %.3f s, %llu waits for space\n",
                 static_cast<unsigned long long>(o.messages), elapsed,
                 static_cast<unsigned long long>(waits));
  }
  return static_cast<double>(o.messages) / elapsed;
}

void ask_checked(Mesh& mesh, std::uint64_t n, std::chrono::milliseconds timeout) {
  Outcome reply = ask(mesh, "echo", Payload(n), timeout);
  if (reply.status != Status::ok) {
    bench::fail(std::string("ask(echo) ended with ") + to_string(reply.status) + ": " +
                reply.error_message);
  }
  const std::uint64_t* got = reply.payload.get<std::uint64_t>();
  if (got == nullptr || *got != n + 1) {
    bench::fail("ask(echo, " + std::to_string(n) + ") answered " +
                (got == nullptr ? std::string("a non-integer") : std::to_string(*got)));
  }
}

double run_round_trip(Mesh& mesh, const bench::Options& o, const Flags& flags) {
  spawn(mesh, "echo", [](NativeContext&, Payload p) -> Payload {
    const std::uint64_t* n = p.get<std::uint64_t>();
    if (n == nullptr) throw std::invalid_argument("expected a std::uint64_t");
    return *n + 1;
  });
  const std::chrono::milliseconds timeout =
      flags.no_deadline ? std::chrono::milliseconds::max() : std::chrono::seconds(30);
  for (std::uint64_t i = 0; i < bench::warmup_iters(o); ++i) ask_checked(mesh, i, timeout);

  const auto start = bench::Clock::now();
  for (std::uint64_t i = 0; i < o.rtt_iters; ++i) ask_checked(mesh, i, timeout);
  const double elapsed = bench::seconds_since(start);
  return elapsed * 1e6 / static_cast<double>(o.rtt_iters);
}

}  // namespace

int main(int argc, char** argv) {
  Flags flags;
  const bench::Options o =
      bench::parse(argc, argv, usage, [&](const std::string& flag, const char* value) -> int {
        if (flag == "--by-name") return flags.by_name = true, 1;
        if (flag == "--no-deadline") return flags.no_deadline = true, 1;
        if (flag == "--mailbox-capacity" && value != nullptr) {
          flags.mailbox_capacity = std::strtoull(value, nullptr, 10);
          return flags.mailbox_capacity > 0 ? 2 : 0;
        }
        return 0;
      });

  double oneway = 0;
  double rtt_us = 0;
  {
    Mesh mesh(MeshOptions{.worker_threads = o.threads});
    oneway = run_oneway(mesh, o, flags);
    rtt_us = run_round_trip(mesh, o, flags);
    mesh.close();
    mesh.join();
  }
  bench::print_json(oneway, rtt_us);
  return 0;
}
