// Everything xcoro offers, in one include.
#pragma once

#include "xcoro/channel.hpp"
#include "xcoro/coro.hpp"
#include "xcoro/executor.hpp"
#include "xcoro/result.hpp"
#include "xcoro/stack.hpp"
#include "xcoro/sync.hpp"
#include "xcoro/trace.hpp"
#include "xcoro/version.hpp"
