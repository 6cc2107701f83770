// src/envelope_pool.cpp: recycled memory for envelopes (Envelope's operator new and delete).
// SPDX-License-Identifier: Apache-2.0
//
// An envelope is usually allocated by the sending thread and freed by the receiving one. With
// the general allocator that crosses threads on every message: glibc returns a block freed by
// another thread to its arena under the arena's lock, which the sender holds to allocate, and
// the two threads wait on each other (futex calls) once messages flow fast. Here each thread
// keeps a short free list of envelope blocks and moves surplus blocks to a shared list in
// batches, so a lock is taken once per `batch` envelopes at most.
//
// Under AddressSanitizer the blocks go to the general allocator, which can then report a use
// after free that recycling would hide.
#include <serendip/envelope.hpp>

#include <mutex>
#include <new>
#include <vector>

namespace serendip {

namespace {

#if defined(__SANITIZE_ADDRESS__)
constexpr bool recycle = false;
#else
constexpr bool recycle = true;
#endif

constexpr std::size_t batch = 64;        // blocks moved between a thread and the shared list
constexpr std::size_t kept_batches = 64;  // shared list bound (~4,000 envelopes)

struct Block {
  Block* next;
};

// Whole batches of free blocks, shared by every thread.
class SharedBlocks {
 public:
  SharedBlocks() { batches_.reserve(kept_batches); }  // so that give() never allocates

  Block* take() {
    std::lock_guard lock(mutex_);
    if (batches_.empty()) return nullptr;
    Block* head = batches_.back();
    batches_.pop_back();
    return head;
  }

  // Keeps a batch of `batch` blocks, or frees it when enough are kept.
  void give(Block* head) noexcept {
    {
      std::lock_guard lock(mutex_);
      if (batches_.size() < kept_batches) {
        batches_.push_back(head);
        return;
      }
    }
    release(head);
  }

  static void release(Block* head) noexcept {
    while (head != nullptr) {
      Block* next = head->next;
      ::operator delete(head);
      head = next;
    }
  }

 private:
  std::mutex mutex_;
  std::vector<Block*> batches_;  // guarded by mutex_
};

// Never destroyed: threads may free envelopes after static destructors have run.
SharedBlocks& shared_blocks() {
  static SharedBlocks* blocks = new SharedBlocks;
  return *blocks;
}

// One thread's free blocks: at most 2 * batch; past that, one batch goes to the shared list.
// Trivially destructible, so that it stays usable while the thread's other thread_local
// objects are destroyed (they may free envelopes). At the thread's exit `ThreadExit` frees
// its blocks and sends every later allocation and free to the general allocator.
struct LocalBlocks {
  Block* head = nullptr;
  std::size_t count = 0;
  bool registered = false;  // the ThreadExit of this thread exists
  bool exited = false;      // it ran: the general allocator serves this thread from now on
};

thread_local LocalBlocks local_blocks;

struct ThreadExit {
  ~ThreadExit() {
    LocalBlocks& local = local_blocks;
    local.exited = true;
    // Freed, not shared: the shared list holds whole batches only (takers count on it).
    SharedBlocks::release(local.head);
    local.head = nullptr;
    local.count = 0;
  }
};

thread_local ThreadExit thread_exit;

// This thread's blocks, with its ThreadExit registered (constructing it queues its
// destructor for the thread's exit).
LocalBlocks& local_blocks_registered() {
  LocalBlocks& local = local_blocks;
  if (!local.registered) {
    local.registered = true;
    (void)&thread_exit;
  }
  return local;
}

void* take_block() {
  LocalBlocks& local = local_blocks_registered();
  if (local.head == nullptr) {
    if (local.exited) return ::operator new(sizeof(Envelope));
    local.head = shared_blocks().take();
    if (local.head == nullptr) return ::operator new(sizeof(Envelope));
    local.count = batch;
  }
  Block* b = local.head;
  local.head = b->next;
  --local.count;
  return b;
}

void give_block(void* p) noexcept {
  LocalBlocks& local = local_blocks_registered();
  if (local.exited) return ::operator delete(p);
  Block* b = static_cast<Block*>(p);
  b->next = local.head;
  local.head = b;
  if (++local.count < 2 * batch) return;
  // Detach the newest `batch` blocks (the list's front) and hand them on.
  Block* first = local.head;
  Block* last = first;
  for (std::size_t i = 1; i < batch; ++i) last = last->next;
  local.head = last->next;
  last->next = nullptr;
  local.count -= batch;
  shared_blocks().give(first);
}

static_assert(sizeof(Envelope) >= sizeof(Block));

}  // namespace

void* Envelope::operator new(std::size_t size) {
  if (!recycle || size != sizeof(Envelope)) return ::operator new(size);
  return take_block();
}

void Envelope::operator delete(void* p, std::size_t size) noexcept {
  if (p == nullptr) return;
  if (!recycle || size != sizeof(Envelope)) return ::operator delete(p);
  give_block(p);
}

}  // namespace serendip
