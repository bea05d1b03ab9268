// Everything xcoro offers, in one include: the async IO layer too, where the build has it.
#pragma once

#include "xcoro/channel.hpp"
#include "xcoro/config.hpp"
#include "xcoro/coro.hpp"
#include "xcoro/executor.hpp"
#include "xcoro/result.hpp"
#include "xcoro/scope.hpp"
#include "xcoro/stack.hpp"
#include "xcoro/sync.hpp"
#include "xcoro/trace.hpp"
#include "xcoro/version.hpp"

// The generated config.hpp, not the platform or __has_include, says whether aio exists:
// it describes the library this header was installed with.
#if XCORO_WITH_AIO
#include "xcoro/aio.hpp"
#include "xcoro/runtime.hpp"
#endif
