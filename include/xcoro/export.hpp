// Symbol visibility for the xcoro library. The library is built with hidden visibility;
// everything public is marked XCORO_EXPORT.
#pragma once

#if defined(_WIN32)
#define XCORO_EXPORT
#else
#define XCORO_EXPORT __attribute__((visibility("default")))
#endif
