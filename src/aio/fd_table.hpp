// The process-wide table of descriptor numbers that every loop of the process shares
// (docs/aio.md, "IO inside a runtime"): per number, a generation that xcoro bumps each time
// it closes (or replaces) the descriptor, and the set of epoll loops that keep state for
// it. A loop that finds the generation moved since it registered the number knows that its
// registration, its "read would block" mark and its waiters belong to a closed descriptor.
#pragma once

#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>

namespace xcoro::aio::detail {

/// What the process knows of one descriptor number.
struct fd_entry {
  /// Bumped (release) by xcoro before it closes or replaces the descriptor.
  std::atomic<std::uint32_t> gen{0};
  /// One bit per epoll loop (epoll_backend's slot) that registered the number since the
  /// last close; the closer takes the set (exchange) and tells those loops.
  std::atomic<std::uint64_t> loops{0};
};

/// A lazily grown, lock-free table of fd_entry, never shrunk or freed: chunk k holds the
/// 2^(k + 10) numbers from 2^(k + 10) - 1024, so 22 chunks cover every int descriptor
/// and an entry never moves (a loop keeps a pointer to it).
class fd_table {
 public:
  /// The entry of `fd` (>= 0), or nullptr if no loop ever asked for one in its chunk (then
  /// no loop keeps state for it). Any thread.
  static fd_entry* find(int fd) noexcept {
    auto [k, i] = place(fd);
    fd_entry* chunk = chunks_[k].load(std::memory_order_acquire);
    return chunk != nullptr ? chunk + i : nullptr;
  }
  /// The entry of `fd` (>= 0), making its chunk if needed. Any thread.
  static fd_entry& get(int fd) {
    auto [k, i] = place(fd);
    fd_entry* chunk = chunks_[k].load(std::memory_order_acquire);
    if (chunk == nullptr) [[unlikely]] {
      chunk = make_chunk(k);
    }
    return chunk[i];
  }

 private:
  static constexpr unsigned base_bits = 10;
  static constexpr std::size_t chunk_count = 22;

  struct where {
    std::size_t chunk;
    std::size_t index;
  };
  static where place(int fd) noexcept {
    std::uint64_t n = static_cast<std::uint64_t>(static_cast<unsigned>(fd)) + (1u << base_bits);
    std::size_t k = static_cast<std::size_t>(std::bit_width(n)) - base_bits - 1;
    return {k, static_cast<std::size_t>(n - (std::uint64_t{1} << (k + base_bits)))};
  }
  /// Installs chunk k (compare-exchange; a loser frees its copy) and returns it.
  static fd_entry* make_chunk(std::size_t k) {
    auto* fresh = new fd_entry[std::size_t{1} << (k + base_bits)];
    fd_entry* expected = nullptr;
    if (chunks_[k].compare_exchange_strong(expected, fresh, std::memory_order_acq_rel,
                                           std::memory_order_acquire)) {
      return fresh;
    }
    delete[] fresh;
    return expected;
  }

  static inline std::atomic<fd_entry*> chunks_[chunk_count] = {};
};

}  // namespace xcoro::aio::detail
