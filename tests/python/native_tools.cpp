// tests/python/native_tools.cpp: native actions the Python tests compile and load (ctypes).
// SPDX-License-Identifier: Apache-2.0
#include <serendip/native_action.h>

#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>

namespace {

void answer(serendip_write_fn write, void* sink, const std::string& text) {
  write(sink, text.data(), text.size());
}

std::atomic<bool> released{false};

}  // namespace

extern "C" {

// {"a": number, "b": number} -> a + b.
int add(void*, const char* inputs, size_t size, serendip_write_fn write, void* sink) {
  const auto in = nlohmann::json::parse(inputs, inputs + size, nullptr, false);
  if (in.is_discarded() || !in.contains("a") || !in.contains("b")) {
    answer(write, sink, "add needs numbers a and b");
    return 1;
  }
  answer(write, sink, nlohmann::json(in["a"].get<double>() + in["b"].get<double>()).dump());
  return 0;
}

// {"city": string} -> an error naming the city.
int forecast(void*, const char* inputs, size_t size, serendip_write_fn write, void* sink) {
  const auto in = nlohmann::json::parse(inputs, inputs + size);
  answer(write, sink, "no forecast for " + in.value("city", std::string("nowhere")));
  return 2;
}

// Answers prose where JSON belongs.
int chatter(void*, const char*, size_t, serendip_write_fn write, void* sink) {
  answer(write, sink, "sunny, I think");
  return 0;
}

// {"x": number} -> x times the double its state points at.
int scale(void* state, const char* inputs, size_t size, serendip_write_fn write, void* sink) {
  const auto in = nlohmann::json::parse(inputs, inputs + size);
  answer(write, sink, nlohmann::json(in["x"].get<double>() * *static_cast<double*>(state)).dump());
  return 0;
}

// Waits (at most 30 s) for release_waiter(); answers whether it came. Called while another
// Python thread must run to release it: it comes only if the caller let go of the GIL.
int wait_for_release(void*, const char*, size_t, serendip_write_fn write, void* sink) {
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!released.load() && std::chrono::steady_clock::now() < give_up) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  answer(write, sink, released.load() ? "\"released\"" : "\"never released\"");
  return 0;
}

void release_waiter() { released.store(true); }

}  // extern "C"
