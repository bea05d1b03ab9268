#!/usr/bin/env python3
"""Compiles and runs every ```cpp block of README.md against a build of xcoro.

Each block is a complete program. It is compiled with the build's compiler, build-type
flags, sanitizers and debug-check setting, plus -Wall -Wextra -Werror, linked to the build's
libxcoro, run, and its standard output compared with the README's when the README shows
one. A comment on the line before a block changes what is done with it:

  <!-- not compiled: REASON -->        skipped (a fragment that cannot stand alone)
  <!-- compile only: REASON -->        compiled and linked, not run
  <!-- echo server: HOST:PORT -->      HOST:PORT in the code is replaced by a free loopback
                                       port; the program is started, three clients
                                       connected at once must each get their lines echoed,
                                       then the server is stopped

Expected output: a ```text block right after the ```cpp block (only blank lines and an
optional line "Output:" between them) is what the program must print on stdout, compared
line by line with trailing spaces and trailing blank lines ignored.

Blocks that include <xcoro/aio.hpp> are skipped when the build has no async IO
(--with-aio OFF). Exit status: 0 if every block passed or was skipped, 1 otherwise.

Usage: readme_blocks.py --build-dir BUILD [--library LIB] [--include DIR]... [--with-aio ON|OFF]
                        [--readme README.md] [--keep]
The CMake test readme_blocks (tests/CMakeLists.txt) passes all of them.
"""

import argparse
import concurrent.futures
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DIRECTIVE = re.compile(r"^<!--\s*(not compiled|compile only|echo server)\s*:\s*(.*?)\s*-->\s*$")


class Block:
    def __init__(self, index, line, code, mode, arg, expected):
        self.index = index        # 1-based, in README order
        self.line = line          # line of the first code line in README.md
        self.code = code
        self.mode = mode          # "run", "not compiled", "compile only", "echo server"
        self.arg = arg
        self.expected = expected  # list of lines, or None

    @property
    def name(self):
        return f"block {self.index} (README.md:{self.line - 1})"


def parse_readme(text):
    """Returns the ```cpp blocks with their directives and expected outputs."""
    lines = text.split("\n")
    blocks = []
    errors = []
    i = 0
    while i < len(lines):
        if lines[i].strip() != "```cpp":
            if lines[i].startswith("```"):
                i = skip_fence(lines, i)  # other fences: their content is not looked at
                continue
            i += 1
            continue
        fence = i
        end = skip_fence(lines, i) - 1  # the closing fence
        code = "\n".join(lines[fence + 1:end]) + "\n"
        mode, arg = "run", ""
        prev = fence - 1
        while prev >= 0 and not lines[prev].strip():
            prev -= 1
        if prev >= 0 and lines[prev].lstrip().startswith("<!--"):
            m = DIRECTIVE.match(lines[prev].strip())
            if not m or not m.group(2):
                errors.append(f"README.md:{prev + 1}: unknown or empty directive before a cpp "
                              f"block: {lines[prev].strip()}")
            else:
                mode, arg = m.group(1), m.group(2)
        expected = None
        j = end + 1
        while j < len(lines) and (not lines[j].strip() or lines[j].strip() == "Output:"):
            j += 1
        if j < len(lines) and lines[j].strip() == "```text":
            close = skip_fence(lines, j) - 1
            expected = lines[j + 1:close]
        blocks.append(Block(len(blocks) + 1, fence + 2, code, mode, arg, expected))
        i = end + 1
    return blocks, errors


def skip_fence(lines, i):
    """From an opening fence at i, returns the index after its closing fence."""
    j = i + 1
    while j < len(lines) and lines[j].strip() != "```":
        j += 1
    return j + 1


def normalise(out_lines):
    out = [l.rstrip() for l in out_lines]
    while out and not out[-1]:
        out.pop()
    return out


def read_cache(build_dir):
    cache = {}
    path = Path(build_dir) / "CMakeCache.txt"
    for line in path.read_text().splitlines():
        m = re.match(r"^([A-Za-z0-9_]+):[A-Z_]+=(.*)$", line)
        if m:
            cache[m.group(1)] = m.group(2)
    return cache


def on(value):
    return value.upper() in ("1", "ON", "YES", "TRUE", "Y") if value else False


class Toolchain:
    """The compile and link commands of one build, read from its CMakeCache.txt."""

    def __init__(self, args):
        cache = read_cache(args.build_dir)
        self.cxx = cache.get("CMAKE_CXX_COMPILER") or "c++"
        build_type = cache.get("CMAKE_BUILD_TYPE", "")
        version = subprocess.run([self.cxx, "--version"], capture_output=True, text=True).stdout
        flags = ["-std=c++20", "-Wall", "-Wextra", "-Werror"]
        if "clang" in version:
            flags.append("-Wpedantic")  # as the build's own targets (g++ turns it off there)
        flags += shlex.split(cache.get("CMAKE_CXX_FLAGS", ""))
        if build_type:
            flags += shlex.split(cache.get(f"CMAKE_CXX_FLAGS_{build_type.upper()}", ""))
        sanitize = cache.get("XCORO_SANITIZE", "")
        link = shlex.split(cache.get("CMAKE_EXE_LINKER_FLAGS", ""))
        if sanitize:
            flags += [f"-fsanitize={sanitize}", "-fno-omit-frame-pointer"]
            link.append(f"-fsanitize={sanitize}")
        if on(cache.get("XCORO_DEBUG_CHECKS")):
            flags.append("-DXCORO_DEBUG_CHECKS=1")
        library = Path(args.library).resolve() if args.library else None
        if library is None:
            for name in ("libxcoro.a", "libxcoro.so"):
                if (Path(args.build_dir) / name).exists():
                    library = (Path(args.build_dir) / name).resolve()
                    break
        if library is None or not library.exists():
            sys.exit(f"readme_blocks: no built libxcoro in {args.build_dir} (build the xcoro "
                     "target first, or pass --library)")
        if library.suffix == ".so":
            flags.append("-DXCORO_SHARED_LIBRARY=1")
            link.append(f"-Wl,-rpath,{library.parent}")
        includes = [Path(d).resolve() for d in args.include or [Path(args.build_dir) / "include"]]
        self.compile_flags = flags + [f"-I{ROOT / 'include'}"] + [f"-I{d}" for d in includes]
        self.link = [str(library)]
        if on(cache.get("XCORO_WITH_IO_URING")) and library.suffix != ".so":
            self.link.append("-luring")  # a static libxcoro leaves liburing to the program
        self.link += ["-pthread"] + link
        multiplier = cache.get("XCORO_TEST_TIMEOUT_MULTIPLIER", "1")
        self.timeout = 60 * (int(multiplier) if multiplier.isdigit() else 1)

    def compile(self, source, binary):
        cmd = [self.cxx] + self.compile_flags + [str(source), "-o", str(binary)] + self.link
        p = subprocess.run(cmd, capture_output=True, text=True)
        return p.returncode == 0, " ".join(shlex.quote(c) for c in cmd) + "\n" + p.stdout + p.stderr


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def check_echo_server(binary, port, timeout):
    """Starts the server, has three clients talk to it at once, stops it."""
    proc = subprocess.Popen([str(binary)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    problem = None
    clients = []
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                problem = f"the server exited with status {proc.returncode} before accepting"
                break
            try:
                clients.append(socket.create_connection(("127.0.0.1", port), timeout=1))
                break
            except OSError:
                if time.monotonic() > deadline:
                    problem = f"nothing accepted on port {port} within {timeout} s"
                    break
                time.sleep(0.05)
        if problem is None:
            for _ in range(2):
                clients.append(socket.create_connection(("127.0.0.1", port), timeout=5))
            for round_ in range(3):  # the connections stay open, interleaved
                for n, c in enumerate(clients):
                    message = f"client {n} says hello, round {round_}\n".encode()
                    c.settimeout(5)
                    c.sendall(message)
                    got = b""
                    while len(got) < len(message):
                        chunk = c.recv(len(message) - len(got))
                        if not chunk:
                            break
                        got += chunk
                    if got != message:
                        problem = (f"client {n} sent {message!r} and got {got!r} back"
                                   + (" (connection closed)" if len(got) < len(message) else ""))
                        break
                if problem:
                    break
        if problem is None and proc.poll() is not None:
            problem = f"the server exited with status {proc.returncode} while serving"
    except OSError as e:
        problem = f"client error: {e}"
    finally:
        for c in clients:
            c.close()
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        out, err = proc.communicate()
    return problem, out + err


def check_block(block, tc, workdir, with_aio, readme):
    """Returns (status, details): status is 'passed', 'skipped' or 'FAILED'."""
    if block.mode == "not compiled":
        return "skipped", f"not compiled: {block.arg}"
    if "<xcoro/aio.hpp>" in block.code and not with_aio:
        return "skipped", "uses <xcoro/aio.hpp>, which this build does not have"
    code = block.code
    port = None
    if block.mode == "echo server":
        if block.arg not in code:
            return "FAILED", f"the directive names {block.arg}, which the code does not contain"
        port = free_port()
        code = code.replace(block.arg, f"127.0.0.1:{port}")
    source = workdir / f"block{block.index}.cpp"
    binary = workdir / f"block{block.index}"
    # Compiler messages point into README.md.
    source.write_text(f'#line {block.line} "{readme}"\n' + code)
    ok, log = tc.compile(source, binary)
    if not ok:
        return "FAILED", "does not compile:\n" + log
    if block.mode == "compile only":
        return "passed", f"compiled only: {block.arg}"
    if block.mode == "echo server":
        problem, log = check_echo_server(binary, port, tc.timeout)
        if problem:
            return "FAILED", problem + ("\n" + log if log else "")
        return "passed", "echoed three clients' lines"
    try:
        p = subprocess.run([str(binary)], capture_output=True, text=True, timeout=tc.timeout)
    except subprocess.TimeoutExpired:
        return "FAILED", f"still running after {tc.timeout} s"
    if p.returncode != 0:
        return "FAILED", f"exited with status {p.returncode}\n{p.stdout}{p.stderr}"
    if block.expected is not None:
        want = normalise(block.expected)
        got = normalise(p.stdout.split("\n"))
        if want != got:
            return "FAILED", ("printed something else than the README shows\n--- README\n"
                              + "\n".join(want) + "\n--- program\n" + "\n".join(got)
                              + ("\n--- stderr\n" + p.stderr if p.stderr else ""))
        return "passed", f"output matches ({len(want)} lines)"
    return "passed", "ran, exit status 0"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build-dir", required=True, help="a CMake build dir of xcoro")
    ap.add_argument("--library", help="the built libxcoro (default: BUILD/libxcoro.a)")
    ap.add_argument("--include", action="append", help="generated headers (default: BUILD/include)")
    ap.add_argument("--with-aio", default="ON" if sys.platform.startswith("linux") else "OFF")
    ap.add_argument("--readme", default=str(ROOT / "README.md"))
    ap.add_argument("--keep", action="store_true", help="keep the sources and binaries")
    args = ap.parse_args()

    readme = Path(args.readme).resolve()
    blocks, errors = parse_readme(readme.read_text())
    for e in errors:
        print(e)
    if not blocks:
        print("readme_blocks: no ```cpp block found")
        return 1
    tc = Toolchain(args)
    workdir = Path(tempfile.mkdtemp(prefix="readme_blocks.", dir=args.build_dir))
    with_aio = on(args.with_aio)
    # Two at a time: compiling is most of the cost, and ctest runs other tests beside.
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda b: check_block(b, tc, workdir, with_aio, readme), blocks))
    failed = len(errors)
    for block, (status, details) in zip(blocks, results):
        first, _, rest = details.partition("\n")
        print(f"{block.name}: {status}: {first}")
        if rest:
            print("    " + rest.rstrip().replace("\n", "\n    "))
        failed += status == "FAILED"
    if not args.keep:
        for f in workdir.iterdir():
            f.unlink()
        workdir.rmdir()
    else:
        print(f"sources and binaries kept in {workdir}")
    count = {s: sum(1 for r, _ in results if r == s) for s in ("passed", "skipped", "FAILED")}
    print(f"readme_blocks: {len(blocks)} cpp blocks: {count['passed']} passed, "
          f"{count['skipped']} skipped, {count['FAILED']} failed"
          + (f"; {len(errors)} bad directives" if errors else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
