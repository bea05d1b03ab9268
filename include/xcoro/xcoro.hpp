// Everything xcoro offers, in one include.
#pragma once

#include "xcoro/coro.hpp"
#include "xcoro/result.hpp"
#include "xcoro/stack.hpp"
#include "xcoro/version.hpp"
