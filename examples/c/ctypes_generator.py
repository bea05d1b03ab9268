#!/usr/bin/env python3
"""Drives a generator written in C through xcoro's C API from Python's ctypes.

    ctypes_generator.py LIBXCORO_SO CTYPES_GEN_SO

Loads libxcoro.so, takes the C function `squares` from the second module, creates the
generator with xcoro_create_gen, resumes it with xcoro_next (injecting a new step each
time) and reads the yielded values, checking each. Exits 0 when every value matched.
"""
import ctypes
import sys


class SquaresArgs(ctypes.Structure):
    _fields_ = [("start", ctypes.c_int64), ("count", ctypes.c_int64),
                ("produced", ctypes.c_int64)]


def main(argv):
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    xc = ctypes.CDLL(argv[1])
    mod = ctypes.CDLL(argv[2])

    xc.xcoro_abi_version.restype = ctypes.c_uint
    xc.xcoro_version.restype = ctypes.c_uint
    xc.xcoro_strerror.restype = ctypes.c_char_p
    xc.xcoro_strerror.argtypes = [ctypes.c_int]
    xc.xcoro_create_gen.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_void_p,
                                    ctypes.c_void_p, ctypes.c_size_t, ctypes.c_size_t,
                                    ctypes.c_size_t]
    xc.xcoro_next.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]
    xc.xcoro_status.argtypes = [ctypes.c_void_p]
    xc.xcoro_destroy.argtypes = [ctypes.c_void_p]
    xc.xcoro_destroy.restype = None

    if xc.xcoro_abi_version() != 1:
        print(f"unexpected ABI version {xc.xcoro_abi_version()}", file=sys.stderr)
        return 1
    v = xc.xcoro_version()
    print(f"libxcoro {v >> 16}.{(v >> 8) & 255}.{v & 255}")

    args = SquaresArgs(start=2, count=5, produced=0)
    gen = ctypes.c_void_p()
    fn = ctypes.cast(mod.squares, ctypes.c_void_p)
    rc = xc.xcoro_create_gen(ctypes.byref(gen), fn, ctypes.byref(args), 0, 8, 8)
    if rc != 0:
        print(f"xcoro_create_gen: {xc.xcoro_strerror(rc).decode()}", file=sys.stderr)
        return 1

    out = ctypes.c_uint64()
    step = ctypes.c_int64(1)
    got, x, steps = [], 2, [1, 2, 3, 4, 5]
    expected = []
    for i in range(6):
        step.value = steps[i - 1] if i > 0 else 0
        rc = xc.xcoro_next(gen, ctypes.byref(step), ctypes.byref(out))
        if rc == 1:  # XCORO_RETURNED
            break
        if rc != 0:
            print(f"xcoro_next: {xc.xcoro_strerror(rc).decode()}", file=sys.stderr)
            return 1
        if i > 0:
            x += step.value
        expected.append(x * x)
        got.append(out.value)
    print("squares:", got)
    ok = got == expected and args.produced == 5 and xc.xcoro_status(gen) == 3  # XCORO_DONE
    rc = xc.xcoro_next(gen, ctypes.byref(step), ctypes.byref(out))
    ok = ok and rc == -5  # XCORO_EDONE: a finished generator cannot be resumed
    xc.xcoro_destroy(gen)
    if not ok:
        print(f"mismatch: got {got}, expected {expected}, produced {args.produced}, "
              f"last rc {rc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
