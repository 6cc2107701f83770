// src/envelope_pool.cpp: the memory of envelopes (Envelope's operator new and delete).
// SPDX-License-Identifier: Apache-2.0
//
// An envelope is usually allocated by the sending thread and freed by the receiving one, and a
// burst queues many before any is freed. The general allocator serves that pattern badly: each
// block is split from the heap's top and later coalesced with its neighbours (a third of the
// native cost of a Python send), and a block freed by another thread goes back to its arena
// under the arena's lock, which the sender holds to allocate.
//
// So envelopes live in slabs: 2 MiB regions aligned to their size (one transparent huge page
// where the kernel allows it, so that a burst takes one page fault per 16,000 envelopes rather
// than one per 32, and as few TLB entries), handed out a run of never-used blocks at a time.
// Each thread keeps a short free list; surplus goes back one batch at a time, so the pool's
// lock is taken once per `kBatch` envelopes at most. The pool keeps a few whole batches as
// they came, for the steady traffic between a sending and a freeing thread; beyond those, each
// block goes back to its slab, and a slab whose every block is free again is returned to the
// system, unless it is the last one.
//
// Under AddressSanitizer the blocks go to the general allocator, which can then report a use
// after free that recycling would hide.
#include <serendip/envelope.hpp>

#include <sys/mman.h>

#include <pthread.h>

#include <algorithm>
#include <cstdint>
#include <mutex>
#include <new>
#include <utility>
#include <vector>

namespace serendip {

namespace {

#if defined(__SANITIZE_ADDRESS__)
constexpr bool recycle = false;
#else
constexpr bool recycle = true;
#endif

// Whole cache lines, so that an envelope spans no more of them than it must (the Dispatcher
// fetches them ahead by line).
constexpr std::size_t kBlock = (sizeof(Envelope) + 63) / 64 * 64;
constexpr std::size_t kSlab = std::size_t{2} << 20;
constexpr std::size_t kBatch = 64;  // blocks moved between a thread and the slabs at once
constexpr std::size_t kKeptBatches = 64;  // whole batches kept as given (4,096 blocks)

struct Block {
  Block* next;
};

// A slab's first block is its header; blocks 1.. are envelopes, carved from the front.
struct Slab {
  static constexpr std::size_t capacity = kSlab / kBlock - 1;

  Block* free = nullptr;  // blocks of this slab given back to the pool
  std::size_t free_count = 0;
  std::size_t carved = 0;  // blocks handed out at least once
  Slab* prev = nullptr;    // in the pool's list of slabs with blocks to hand out
  Slab* next = nullptr;
  bool listed = false;

  static Slab* of(void* block) noexcept {
    return reinterpret_cast<Slab*>(reinterpret_cast<std::uintptr_t>(block) & ~(kSlab - 1));
  }
  bool has_blocks() const noexcept { return free_count > 0 || carved < capacity; }
  char* carve(std::size_t n) noexcept {
    char* first = reinterpret_cast<char*>(this) + kBlock * (1 + carved);
    carved += n;
    return first;
  }
};

static_assert(sizeof(Slab) <= kBlock && sizeof(Block) <= kBlock);
static_assert(kBlock % alignof(Envelope) == 0);

// Blocks handed to a thread: freed ones in a list, or a run of never-used ones, which are
// not written until each is allocated (a burst's memory is touched once, by its envelope).
struct Batch {
  Block* head = nullptr;
  std::size_t count = 0;
  char* fresh = nullptr;
  std::size_t fresh_count = 0;
};

// The slabs and their free blocks, shared by every thread under one mutex.
class Slabs {
 public:
  Slabs() {
    whole_.reserve(kKeptBatches);  // so that give() never allocates
    // A fork while another thread holds the lock would leave the child's copy locked forever.
    pthread_atfork([] { slabs().mutex_.lock(); }, [] { slabs().mutex_.unlock(); },
                   [] { slabs().mutex_.unlock(); });
  }

  static Slabs& slabs() {
    static Slabs* instance = new Slabs;  // never destroyed: threads free envelopes after exit
    return *instance;
  }

  // Up to `max` blocks of one slab (a new one when none has any to hand out): its freed
  // blocks if it has any, else a run of never-used ones.
  Batch take(std::size_t max) {
    std::lock_guard lock(mutex_);
    if (max == kBatch && !whole_.empty()) {
      Batch out = whole_.back();
      whole_.pop_back();
      return out;
    }
    Slab* s = available_ != nullptr ? available_ : map();
    Batch out;
    while (out.count < max && s->free != nullptr) {
      Block* b = s->free;
      s->free = b->next;
      --s->free_count;
      b->next = out.head;
      out.head = b;
      ++out.count;
    }
    if (out.count == 0) {
      out.fresh_count = std::min(max, Slab::capacity - s->carved);
      out.fresh = s->carve(out.fresh_count);
    }
    if (!s->has_blocks()) unlist(s);
    return out;
  }

  // Gives back the list of `count` blocks at `head`: a whole batch as it is while few are
  // kept (a thread that frees what another allocates passes them on at the cost of a lock),
  // else each block to its slab, which goes back to the system once all of it is free.
  void give(Block* head, std::size_t count) noexcept {
    std::lock_guard lock(mutex_);
    if (count == kBatch && whole_.size() < kKeptBatches) {
      whole_.push_back({head, count});
      return;
    }
    while (head != nullptr) {
      Block* b = head;
      head = head->next;
      Slab* s = Slab::of(b);
      b->next = s->free;
      s->free = b;
      ++s->free_count;
      if (!s->listed) list(s);
      if (s->free_count == s->carved && mapped_ > 1) unmap(s);
    }
  }

  std::size_t mapped_bytes() {
    std::lock_guard lock(mutex_);
    return mapped_ * kSlab;
  }

 private:
  Slab* map() {
    // Twice the size, then the unaligned ends are given back: mmap aligns to pages only.
    void* p = mmap(nullptr, 2 * kSlab, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    const auto start = reinterpret_cast<std::uintptr_t>(p);
    const std::uintptr_t base = (start + kSlab - 1) & ~(kSlab - 1);
    if (base > start) munmap(p, base - start);
    if (base + kSlab < start + 2 * kSlab) {
      munmap(reinterpret_cast<void*>(base + kSlab), start + 2 * kSlab - (base + kSlab));
    }
    void* slab = reinterpret_cast<void*>(base);
    (void)madvise(slab, kSlab, MADV_HUGEPAGE);  // a hint: refused where THP is off
    Slab* s = ::new (slab) Slab;
    ++mapped_;
    list(s);
    return s;
  }

  void unmap(Slab* s) noexcept {
    unlist(s);
    --mapped_;
    munmap(s, kSlab);
  }

  void list(Slab* s) noexcept {
    s->prev = nullptr;
    s->next = available_;
    if (available_ != nullptr) available_->prev = s;
    available_ = s;
    s->listed = true;
  }

  void unlist(Slab* s) noexcept {
    if (s->prev != nullptr) s->prev->next = s->next;
    if (s->next != nullptr) s->next->prev = s->prev;
    if (available_ == s) available_ = s->next;
    s->prev = s->next = nullptr;
    s->listed = false;
  }

  std::mutex mutex_;
  std::vector<Batch> whole_;   // guarded by mutex_: whole batches of freed blocks, as given
  Slab* available_ = nullptr;  // guarded by mutex_: slabs with free or uncarved blocks
  std::size_t mapped_ = 0;     // guarded by mutex_
};

// One thread's free blocks: at most 2 * kBatch; past that, kBatch go back to the slabs.
// Trivially destructible, so that it stays usable while the thread's other thread_local
// objects are destroyed (they may free envelopes). At the thread's exit `ThreadExit` gives
// its blocks back; later allocations and frees of the thread go to the slabs one by one.
struct LocalBlocks {
  Block* head = nullptr;
  std::size_t count = 0;
  char* fresh = nullptr;  // a run of never-used blocks, taken before asking the slabs again
  std::size_t fresh_count = 0;
  bool registered = false;  // the ThreadExit of this thread exists
  bool exited = false;      // it ran
};

// Initial-exec: read at a fixed offset from the thread pointer, not through __tls_get_addr
// (two calls per message otherwise, since this code lives in a dlopen()ed extension). It
// takes a few bytes of the static TLS that glibc reserves for such modules.
[[gnu::tls_model("initial-exec")]] thread_local LocalBlocks local_blocks;

struct ThreadExit {
  ~ThreadExit() {
    LocalBlocks& local = local_blocks;
    local.exited = true;
    for (; local.fresh_count > 0; --local.fresh_count, local.fresh += kBlock) {
      auto* b = reinterpret_cast<Block*>(local.fresh);
      b->next = local.head;
      local.head = b;
      ++local.count;
    }
    Slabs::slabs().give(local.head, local.count);
    local.head = nullptr;
    local.count = 0;
  }
};

[[gnu::tls_model("initial-exec")]] thread_local ThreadExit thread_exit;

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
    if (local.fresh_count == 0) {
      const Batch batch = Slabs::slabs().take(local.exited ? 1 : kBatch);
      if (local.exited) return batch.head != nullptr ? static_cast<void*>(batch.head) : batch.fresh;
      local.head = batch.head;
      local.count = batch.count;
      local.fresh = batch.fresh;
      local.fresh_count = batch.fresh_count;
    }
    if (local.head == nullptr) {
      --local.fresh_count;
      return std::exchange(local.fresh, local.fresh + kBlock);
    }
  }
  Block* b = local.head;
  local.head = b->next;
  --local.count;
  return b;
}

void give_block(void* p) noexcept {
  LocalBlocks& local = local_blocks_registered();
  Block* b = static_cast<Block*>(p);
  if (local.exited) {
    b->next = nullptr;
    return Slabs::slabs().give(b, 1);
  }
  b->next = local.head;
  local.head = b;
  if (++local.count < 2 * kBatch) return;
  // Detach the newest kBatch blocks (the list's front) and give them back.
  Block* first = local.head;
  Block* last = first;
  for (std::size_t i = 1; i < kBatch; ++i) last = last->next;
  local.head = last->next;
  last->next = nullptr;
  local.count -= kBatch;
  Slabs::slabs().give(first, kBatch);
}

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

std::size_t envelope_memory() { return recycle ? Slabs::slabs().mapped_bytes() : 0; }

}  // namespace serendip
