// tests/core/native_action_test.cpp: NativeAction over C functions of the native-action ABI.
// SPDX-License-Identifier: Apache-2.0
#include <serendip/native_action.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace serendip {
namespace {

void write_text(serendip_write_fn write, void* sink, const char* text) {
  write(sink, text, std::strlen(text));
}

// Answers {"echo": <inputs>} in three writes, and counts its calls in the state.
int echo(void* state, const char* inputs, size_t size, serendip_write_fn write, void* sink) {
  static_cast<std::atomic<int>*>(state)->fetch_add(1);
  write_text(write, sink, "{\"echo\": ");
  write(sink, inputs, size);
  write_text(write, sink, "}");
  return 0;
}

int refuse(void*, const char*, size_t, serendip_write_fn write, void* sink) {
  write_text(write, sink, "no such city");
  return 7;
}

int refuse_silently(void*, const char*, size_t, serendip_write_fn, void*) { return 1; }

int answer_prose(void*, const char*, size_t, serendip_write_fn write, void* sink) {
  write_text(write, sink, "it is sunny");
  return 0;
}

TEST(NativeAction, ReturnsWhatTheFunctionWroteAcrossWrites) {
  std::atomic<int> calls{0};
  NativeAction action(echo, &calls);
  EXPECT_EQ(action.call(R"({"city": "Oslo"})"), R"({"echo": {"city": "Oslo"}})");
  EXPECT_EQ(calls.load(), 1);
}

TEST(NativeAction, PassesInputsByLengthNotByTerminator) {
  std::atomic<int> calls{0};
  NativeAction action(echo, &calls);
  const std::string buffer = R"({"a": 1}trailing bytes the action must not see)";
  EXPECT_EQ(action.call(std::string_view(buffer).substr(0, 8)), R"({"echo": {"a": 1}})");
}

TEST(NativeAction, AnErrorStatusThrowsTheActionsMessage) {
  NativeAction action(refuse, nullptr);
  try {
    action.call("{}");
    FAIL() << "expected NativeActionFailed";
  } catch (const NativeActionFailed& e) {
    EXPECT_STREQ(e.what(), "no such city");
  }
}

TEST(NativeAction, AnErrorWithoutMessageStillSaysItFailed) {
  NativeAction action(refuse_silently, nullptr);
  EXPECT_THROW(
      {
        try {
          action.call("{}");
        } catch (const NativeActionFailed& e) {
          EXPECT_NE(std::string(e.what()).find("failed"), std::string::npos);
          throw;
        }
      },
      NativeActionFailed);
}

TEST(NativeAction, AResultThatIsNotJsonIsAFailure) {
  NativeAction action(answer_prose, nullptr);
  try {
    action.call("{}");
    FAIL() << "expected NativeActionFailed";
  } catch (const NativeActionFailed& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("not JSON"), std::string::npos) << what;
    EXPECT_NE(what.find("it is sunny"), std::string::npos) << what;
  }
}

TEST(NativeAction, ANullFunctionIsRefused) {
  EXPECT_THROW(NativeAction(nullptr, nullptr), std::invalid_argument);
}

TEST(NativeAction, CallsFromManyThreadsAtOnceEachGetTheirOwnAnswer) {
  std::atomic<int> calls{0};
  const NativeAction action(echo, &calls);
  constexpr int kThreads = 8;
  constexpr int kCalls = 500;
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kCalls; ++i) {
        const std::string inputs = "[" + std::to_string(t) + ", " + std::to_string(i) + "]";
        if (action.call(inputs) != "{\"echo\": " + inputs + "}") wrong.fetch_add(1);
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_EQ(calls.load(), kThreads * kCalls);
}

}  // namespace
}  // namespace serendip
