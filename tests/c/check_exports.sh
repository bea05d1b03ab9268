#!/bin/sh
# Compares the exported C API with the list in docs/c-api.md (between the "exports begin"
# and "exports end" markers):
#   check_exports.sh header <xcoro.h> <c-api.md>   the functions the header declares
#   check_exports.sh nm <libxcoro.so> <c-api.md>   the xcoro_ symbols `nm -D` lists, which
#       must also include the switch's own (between "asm exports begin" and "end"); every
#       other exported symbol must be C++ in namespace xcoro, or a weak (W, V) or unique
#       (u) instance of a libstdc++ template or inline function, which its headers give
#       default visibility: std::lock's, std::thread's typeinfo for a lambda, the static
#       waiter pool of std::atomic::wait.
# Any difference is printed and fails the test.
set -eu
mode=$1 subject=$2 doc=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
sed -n '/<!-- exports begin -->/,/<!-- exports end -->/p' "$doc" | grep '^xcoro_' | sort > "$tmp/doc"
case $mode in
  header)
    grep -v '^#' "$subject" | grep -o 'XCORO_C_API[^(]*(' | sed -E 's/.*[ *](xcoro_[a-z0-9_]+)\($/\1/' \
      | sort > "$tmp/got" ;;
  nm)
    sed -n '/<!-- asm exports begin -->/,/<!-- asm exports end -->/p' "$doc" | grep '^xcoro_' \
      >> "$tmp/doc"
    sort -o "$tmp/doc" "$tmp/doc"
    nm -D --defined-only "$subject" | awk '{print $NF}' | grep '^xcoro_' | sort > "$tmp/got"
    # The rest, demangled: "<address> <type> <name...>".
    nm -D --defined-only -C "$subject" | grep -v ' xcoro_' \
      | grep -Ev ' (xcoro::|(typeinfo|typeinfo name|vtable|VTT|guard variable) for xcoro::)' \
      | grep -Ev ' [WVu] ((typeinfo|typeinfo name|vtable|VTT|guard variable) for |void |bool )?std::' \
      > "$tmp/stray" || true
    if [ -s "$tmp/stray" ]; then
      echo "exported, but neither the C API nor C++ in namespace xcoro:" >&2
      cat "$tmp/stray" >&2
      exit 1
    fi ;;
  *)
    echo "usage: $0 header|nm FILE DOC" >&2
    exit 2 ;;
esac
if [ ! -s "$tmp/doc" ]; then
  echo "no symbols listed in $doc" >&2
  exit 1
fi
if ! diff -u "$tmp/doc" "$tmp/got"; then
  echo "the exported C API and docs/c-api.md disagree (- documented, + $mode)" >&2
  exit 1
fi
echo "$(wc -l < "$tmp/got") symbols match docs/c-api.md"
