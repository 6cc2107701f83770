// tests/core/native_agent_stress_test.cpp: a million messages to sixteen agents, none lost.
// SPDX-License-Identifier: Apache-2.0
#include <serendip/client.hpp>
#include <serendip/native_agent.hpp>

#include "test_support.hpp"

#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <string>
#include <thread>
#include <vector>

namespace serendip {
namespace {

using testing::patience;

TEST(NativeAgentStress, every_message_sent_to_sixteen_agents_from_four_threads_is_handled_once) {
  constexpr int agents = 16;
  constexpr int senders = 4;
  constexpr long total = SERENDIP_TEST_SCALE_DOWN ? 128'000 : 1'000'000;
  constexpr long per_sender = total / senders;
  static_assert(per_sender % agents == 0, "every sender sends each agent the same number");

  Mesh mesh{MeshOptions{.worker_threads = 4}};
  std::array<std::atomic<long>, agents> handled{};
  for (int a = 0; a < agents; ++a) {
    spawn(mesh, "worker-" + std::to_string(a), [&handled, a](NativeContext&, Payload) -> Payload {
      handled[a].fetch_add(1, std::memory_order_relaxed);
      return {};
    });
  }

  std::atomic<long> refused{0};
  std::vector<std::thread> threads;
  for (int s = 0; s < senders; ++s) {
    threads.emplace_back([&] {
      for (long i = 0; i < per_sender; ++i) {
        const std::string target = "worker-" + std::to_string(i % agents);
        if (tell(mesh, target, i, patience) != RouteResult::delivered) ++refused;
      }
    });
  }
  for (auto& t : threads) t.join();
  ASSERT_EQ(refused, 0);
  ASSERT_TRUE(wait_idle(mesh, patience));

  long sum = 0;
  for (int a = 0; a < agents; ++a) {
    EXPECT_EQ(handled[a].load(), total / agents) << "worker-" << a;
    sum += handled[a].load();
  }
  EXPECT_EQ(sum, total);
  EXPECT_EQ(mesh.work().outstanding(), 0);
}

}  // namespace
}  // namespace serendip
