// A payload type for tests that owns heap memory and keeps a ledger of its lives, so a test
// can show that every value was destroyed exactly once: no leak, no double destruction, no
// use of a destroyed value. Channels, generators and results are tested with it, beside
// std::string and std::unique_ptr, because int payloads hide exactly these bugs.
#pragma once

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <string>
#include <utility>

namespace xcoro_test {

/// Counts constructions and destructions of `counted` values, and the misuses it caught.
struct counted_ledger {
  std::atomic<long> made{0};       // every constructor, copies and moves included
  std::atomic<long> destroyed{0};  // every destructor that found a live value
  std::atomic<long> twice{0};      // destructors that found a value already destroyed
  std::atomic<long> dead_use{0};   // copies, moves or reads from a destroyed value

  long live() const noexcept { return made.load() - destroyed.load(); }
  void reset() noexcept {
    made = 0;
    destroyed = 0;
    twice = 0;
    dead_use = 0;
  }
};

inline counted_ledger& ledger() noexcept {
  static counted_ledger l;
  return l;
}

/// A value that owns heap memory (a string long enough to defeat the small-string buffer,
/// and an int) and marks itself dead when destroyed. Destroying it twice, or copying,
/// moving or reading it after destruction, is counted in ledger() instead of freeing its
/// memory twice, so a test reports the bug rather than crashing on it. It holds its memory
/// through plain pointers for that reason: members with destructors of their own would be
/// destroyed again by a second destructor call whatever its body does.
class counted {
 public:
  explicit counted(int v = 0) : value_(v), text_(new std::string(text_for(v))), box_(new int(v)) {
    ++ledger().made;
  }
  counted(const counted& o)
      : value_(o.check_alive() ? o.value_ : -2),
        text_(new std::string(o.text_ != nullptr ? *o.text_ : std::string())),
        box_(o.box_ != nullptr ? new int(*o.box_) : nullptr) {
    ++ledger().made;
  }
  counted(counted&& o) noexcept
      : value_(o.check_alive() ? o.value_ : -2),
        text_(std::exchange(o.text_, nullptr)),
        box_(std::exchange(o.box_, nullptr)) {
    o.value_ = -1;
    ++ledger().made;
  }
  counted& operator=(const counted& o) {
    if (this != &o) {
      counted copy(o);
      *this = std::move(copy);
    }
    return *this;
  }
  counted& operator=(counted&& o) noexcept {
    if (this != &o && check_alive() && o.check_alive()) {
      free_memory();
      value_ = std::exchange(o.value_, -1);
      text_ = std::exchange(o.text_, nullptr);
      box_ = std::exchange(o.box_, nullptr);
    }
    return *this;
  }
  ~counted() {
    if (state_ != alive) {
      ++ledger().twice;
      std::fprintf(stderr, "counted: value destroyed twice\n");
      return;
    }
    state_ = dead;
    free_memory();
    ++ledger().destroyed;
  }

  /// The value given at construction; -1 once moved from.
  int value() const noexcept {
    check_alive();
    return value_;
  }
  /// True if the owned memory still matches the value (it was not freed or overwritten).
  bool intact() const noexcept {
    if (!check_alive()) {
      return false;
    }
    return value_ < 0 ||
           (box_ != nullptr && *box_ == value_ && text_ != nullptr && *text_ == text_for(value_));
  }

 private:
  static constexpr std::uint64_t alive = 0xA11FE0A11FE0A11Full;
  static constexpr std::uint64_t dead = 0xDEADDEADDEADDEADull;

  static std::string text_for(int v) {
    return "counted value " + std::to_string(v) + " with a heap buffer";
  }
  bool check_alive() const noexcept {
    if (state_ != alive) {
      ++ledger().dead_use;
      return false;
    }
    return true;
  }
  void free_memory() noexcept {
    delete text_;
    delete box_;
    text_ = nullptr;
    box_ = nullptr;
  }

  std::uint64_t state_ = alive;
  int value_;
  std::string* text_;
  int* box_;
};

}  // namespace xcoro_test
