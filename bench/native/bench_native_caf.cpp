// bench/native/bench_native_caf.cpp: the `native` scenario on CAF 0.17 (the baseline).
// SPDX-License-Identifier: Apache-2.0
//
// One-way: the main thread's scoped_actor sends N numbered messages round-robin to A
// event-based stateful actors; each adds the numbers it gets to its own tally. Timed from the
// first send until a final `get` request to every actor has been answered: CAF delivers the
// messages of one sender to one receiver in order, so each answer comes after that actor has
// handled everything sent to it. CAF mailboxes are unbounded, so the sender never waits.
// Round trip: the scoped_actor sends `request(echo, 30 s, n).receive(...)` M times in a row;
// echo answers n + 1, and each answer is checked.
// The same scenario on serendip is bench_native_serendip.cpp.
#include "bench_common.hpp"

#include <caf/all.hpp>

#include <string>
#include <vector>

namespace {

constexpr const char* usage =
    "usage: bench_native_caf [--agents A] [--messages N] [--rtt-iters M] [--threads T]\n"
    "                        [--policy stealing|sharing] [--no-deadline] [--verbose]\n"
    "  --policy P     CAF's scheduler: `stealing` (CAF's default: workers poll, then sleep in\n"
    "                 short steps) or `sharing` (one queue with a condition variable)\n"
    "  --no-deadline  round trips request with an infinite timeout (no timeout per request)\n"
    "prints {\"oneway_msgs_per_s\": float, \"rtt_us\": float} on stdout\n";

struct Flags {
  std::string policy = "stealing";
  bool no_deadline = false;
};

struct tally_state {
  std::uint64_t count = 0;
  std::uint64_t sum = 0;
};

caf::behavior counter(caf::stateful_actor<tally_state>* self) {
  return {
      [=](std::uint64_t n) {
        ++self->state.count;
        self->state.sum += n;
      },
      [=](caf::get_atom) { return caf::make_message(self->state.count, self->state.sum); },
  };
}

caf::behavior echo(caf::event_based_actor*) {
  return {
      [](std::uint64_t n) { return n + 1; },
  };
}

// Sends messages first..first+count-1 round-robin (message i to actor i % A), then collects
// every actor's tally: each answer comes only after everything sent before it was handled.
std::vector<bench::Share> send_round_robin(caf::scoped_actor& self,
                                           const std::vector<caf::actor>& counters,
                                           std::uint64_t first, std::uint64_t count) {
  const std::size_t agents = counters.size();
  std::size_t a = first % agents;
  for (std::uint64_t i = first; i < first + count; ++i) {
    self->send(counters[a], i);
    if (++a == agents) a = 0;
  }
  // All requests first, then their answers: one round trip of latency, not one per actor.
  using handle = decltype(self->request(counters[0], caf::infinite, caf::get_atom_v));
  std::vector<handle> pending;
  pending.reserve(agents);
  for (std::size_t k = 0; k < agents; ++k) {
    pending.push_back(self->request(counters[k], caf::infinite, caf::get_atom_v));
  }
  std::vector<bench::Share> tallies(agents);
  for (std::size_t k = 0; k < agents; ++k) {
    pending[k].receive(
        [&](std::uint64_t n, std::uint64_t sum) {
          tallies[k].count = n;
          tallies[k].sum = sum;
        },
        [&](caf::error& e) {
          bench::fail("collecting tally " + std::to_string(k) + ": " + self->system().render(e));
        });
  }
  return tallies;
}

double run_oneway(caf::actor_system& sys, const bench::Options& o) {
  std::vector<caf::actor> counters;
  for (std::size_t i = 0; i < o.agents; ++i) counters.push_back(sys.spawn(counter));
  caf::scoped_actor self{sys};

  const std::uint64_t warm = bench::warmup_messages(o);
  send_round_robin(self, counters, 0, warm);

  const auto start = bench::Clock::now();
  const std::vector<bench::Share> tallies = send_round_robin(self, counters, warm, o.messages);
  const double elapsed = bench::seconds_since(start);

  for (std::size_t a = 0; a < o.agents; ++a) {
    const bench::Share want = bench::expected_tally(warm, o.messages, o.agents, a);
    if (tallies[a].count != want.count || tallies[a].sum != want.sum) {
      bench::fail("counter " + std::to_string(a) + " handled " + std::to_string(tallies[a].count) +
                  " messages (sum " + std::to_string(tallies[a].sum) + "), expected " +
                  std::to_string(want.count) + " (sum " + std::to_string(want.sum) + ")");
    }
  }
  for (auto& c : counters) self->send_exit(c, caf::exit_reason::user_shutdown);
  if (o.verbose) {
    std::fprintf(stderr, "caf one-way: %llu messages in %.3f s\n",
                 static_cast<unsigned long long>(o.messages), elapsed);
  }
  return static_cast<double>(o.messages) / elapsed;
}

void request_checked(caf::scoped_actor& self, const caf::actor& target, std::uint64_t n,
                     const caf::duration& timeout) {
  self->request(target, timeout, n)
      .receive(
          [&](std::uint64_t got) {
            if (got != n + 1) {
              bench::fail("request(echo, " + std::to_string(n) + ") answered " +
                          std::to_string(got));
            }
          },
          [&](caf::error& e) {
            bench::fail("request(echo) failed: " + self->system().render(e));
          });
}

double run_round_trip(caf::actor_system& sys, const bench::Options& o, const Flags& flags) {
  caf::actor target = sys.spawn(echo);
  caf::scoped_actor self{sys};
  const caf::duration timeout =
      flags.no_deadline ? caf::duration{caf::infinite} : caf::duration{std::chrono::seconds(30)};
  for (std::uint64_t i = 0; i < bench::warmup_iters(o); ++i) {
    request_checked(self, target, i, timeout);
  }

  const auto start = bench::Clock::now();
  for (std::uint64_t i = 0; i < o.rtt_iters; ++i) request_checked(self, target, i, timeout);
  const double elapsed = bench::seconds_since(start);
  self->send_exit(target, caf::exit_reason::user_shutdown);
  return elapsed * 1e6 / static_cast<double>(o.rtt_iters);
}

}  // namespace

int main(int argc, char** argv) {
  Flags flags;
  const bench::Options o =
      bench::parse(argc, argv, usage, [&](const std::string& flag, const char* value) -> int {
        if (flag == "--no-deadline") return flags.no_deadline = true, 1;
        if (flag == "--policy" && value != nullptr) {
          flags.policy = value;
          return flags.policy == "stealing" || flags.policy == "sharing" ? 2 : 0;
        }
        return 0;
      });

  double oneway = 0;
  double rtt_us = 0;
  {
    caf::actor_system_config cfg;
    cfg.set("scheduler.max-threads", static_cast<std::uint64_t>(o.threads));
    cfg.set("scheduler.policy",
            flags.policy == "sharing" ? caf::atom("sharing") : caf::atom("stealing"));
    caf::actor_system sys{cfg};
    oneway = run_oneway(sys, o);
    rtt_us = run_round_trip(sys, o, flags);
  }  // the actor system waits for every actor to finish here
  bench::print_json(oneway, rtt_us);
  return 0;
}
