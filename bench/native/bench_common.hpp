// bench/native/bench_common.hpp: command line, timing, the scenario's shape and JSON output,
// shared by the serendip and CAF programs of the `native` scenario.
// SPDX-License-Identifier: Apache-2.0
//
// Kept free of both libraries (and of C++20), so that each program differs from the other only
// in how it spawns agents, sends, and waits.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace bench {

/// What a run measures. Both programs parse the same flags, so that bench/run.py can call
/// them alike:
///   --agents A         agents receiving the one-way messages (round-robin)
///   --messages N       one-way messages timed
///   --rtt-iters M      request/response round trips timed (after a warm-up)
///   --threads T        worker threads of the library's scheduler
/// plus program-specific flags that each program documents in its own usage().
struct Options {
  std::size_t agents = 16;
  std::uint64_t messages = 1000000;
  std::uint64_t rtt_iters = 50000;
  std::size_t threads = 2;
  bool verbose = false;  ///< diagnostics on stderr; stdout stays one JSON object
};

using Clock = std::chrono::steady_clock;

inline double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

/// Reports a failed check and ends the program with status 1 (never returns).
[[noreturn]] inline void fail(const std::string& what) {
  std::fprintf(stderr, "error: %s\n", what.c_str());
  std::exit(1);
}

/// Round trips run before the timed ones: they start the threads and warm the allocator.
inline std::uint64_t warmup_iters(const Options& o) {
  return o.rtt_iters / 10 < 1000 ? 1000 : o.rtt_iters / 10;
}

/// One-way messages sent (and waited for) before the timed ones.
inline std::uint64_t warmup_messages(const Options& o) { return 1000 * o.agents; }

/// How many of `n` messages numbered 0..n-1, dealt round-robin over `agents`, agent `a` gets,
/// and the sum of their numbers: what each agent's tally must come to.
struct Share {
  std::uint64_t count = 0;
  std::uint64_t sum = 0;
};

inline Share share_of(std::uint64_t n, std::size_t agents, std::size_t a) {
  Share s;
  if (a >= n) return s;
  s.count = (n - a + agents - 1) / agents;  // a, a + agents, a + 2 agents, ... below n
  const std::uint64_t last = a + (s.count - 1) * agents;
  s.sum = s.count * (a + last) / 2;
  return s;
}

/// What agent `a` must have tallied after a run: one-way message i carries the number i and
/// goes to agent i % agents; warm-up messages are 0..warm-1 and timed ones follow them. Each
/// agent counts and adds what it receives, so matching totals show every message arrived once.
inline Share expected_tally(std::uint64_t warm, std::uint64_t timed, std::size_t agents,
                            std::size_t a) {
  return share_of(warm + timed, agents, a);
}

inline void print_json(double oneway_msgs_per_s, double rtt_us) {
  std::printf("{\"oneway_msgs_per_s\": %.1f, \"rtt_us\": %.3f}\n", oneway_msgs_per_s, rtt_us);
  std::fflush(stdout);
}

/// Parses the shared flags; `extra(flag, value)` gets the others and returns how many
/// arguments it consumed (0: unknown flag). Exits with status 2 on a usage error.
template <class Extra>
Options parse(int argc, char** argv, const char* usage, Extra extra) {
  Options o;
  auto number = [&](int& i) -> std::uint64_t {
    if (i + 1 >= argc) {
      std::fprintf(stderr, "%s: %s needs a value\n%s", argv[0], argv[i], usage);
      std::exit(2);
    }
    char* end = nullptr;
    const unsigned long long v = std::strtoull(argv[++i], &end, 10);
    if (end == argv[i] || *end != '\0') {
      std::fprintf(stderr, "%s: bad number '%s'\n%s", argv[0], argv[i], usage);
      std::exit(2);
    }
    return v;
  };
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--agents") {
      o.agents = number(i);
    } else if (flag == "--messages") {
      o.messages = number(i);
    } else if (flag == "--rtt-iters") {
      o.rtt_iters = number(i);
    } else if (flag == "--threads") {
      o.threads = number(i);
    } else if (flag == "--verbose") {
      o.verbose = true;
    } else if (flag == "--help" || flag == "-h") {
      std::fputs(usage, stdout);
      std::exit(0);
    } else {
      const int used = extra(flag, i + 1 < argc ? argv[i + 1] : nullptr);
      if (used == 0) {
        std::fprintf(stderr, "%s: unknown flag '%s'\n%s", argv[0], flag.c_str(), usage);
        std::exit(2);
      }
      i += used - 1;
    }
  }
  if (o.agents == 0 || o.messages == 0 || o.rtt_iters == 0 || o.threads == 0) {
    std::fprintf(stderr, "%s: --agents, --messages, --rtt-iters and --threads must be > 0\n%s",
                 argv[0], usage);
    std::exit(2);
  }
  return o;
}

}  // namespace bench
