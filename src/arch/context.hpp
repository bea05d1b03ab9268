// Selects the context-switch support for the target architecture.
#pragma once

#if defined(__x86_64__) && !defined(_WIN32)
#include "arch/context_x86_64.hpp"
#else
#error "xcoro: no context switch for this target yet"
#endif
