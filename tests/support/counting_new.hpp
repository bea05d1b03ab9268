// A replacement global operator new that counts allocations (counting_new.cpp), so tests
// can show that a code path makes none.
#pragma once

namespace xcoro_test {

/// Heap allocations through operator new since the program started; -1 in builds where
/// the replacement is left out (ThreadSanitizer replaces operator new itself).
long allocations() noexcept;

}  // namespace xcoro_test
