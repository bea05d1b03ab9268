// The xcoro version, as numbers and as a string.
#pragma once

#define XCORO_VERSION_MAJOR 0
#define XCORO_VERSION_MINOR 1
#define XCORO_VERSION_PATCH 0
#define XCORO_VERSION_STRING "0.1.0"
