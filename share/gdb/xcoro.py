# gdb commands for xcoro coroutines: list them, show one record, and print (or step into)
# the backtrace of a suspended coroutine from the context saved in its record. Works on a
# live process and on a core file: nothing here writes registers or memory.
#
# Load it with `source <prefix>/share/xcoro/gdb/xcoro.py` (or from ~/.gdbinit).
#
#   info xcoro [-scan] [-threads]   every coroutine of the selected thread (or of all
#                                   threads): id, status, name, record, starter, where
#   info xcoro ID|ADDR              one coroutine in detail (ADDR: a record address or an
#                                   expression such as `f.c_` or `xcoro::xframe()`)
#   xcoro bt ID|ADDR [BT-ARGS]      backtrace of a coroutine (`bt` options such as -full
#                                   or a frame count go after it)
#   xcoro switch ID|ADDR            make gdb unwind the coroutine as if it were running:
#                                   `up`, `frame N`, `info locals` then show its frames.
#   xcoro switch                    back to the thread's real frames (also on resume)
#
# How coroutines are found. The thread-local xcoro::detail::tls holds the root record and
# the running one; every started, unfinished coroutine is linked into the children list of
# its starter (first_child_ / next_sibling_), recursively from tls.root. Two kinds of
# coroutine are in no such list: those created but never resumed (status start), and those
# whose starter finished first (orphans). `-scan` finds them too, by searching the
# process's writable memory for records that name this thread as their owner and lie at the
# high end of the stack they describe. Records of stacks that sit in the default
# allocator's free lists are skipped when its symbols are available (a Debug build of the
# library); a freed heap stack or a reused caller-owned span may still show a stale record,
# marked `?` in the list. A scan reads the whole writable address space: seconds for a few
# GiB.
#
# How a suspended coroutine is unwound. The switch saves rsp, the resume address, rbp and
# rbx at offsets 0, 8, 16 and 24 of the record (detail::context_offsets), and the CFI of the
# code around the resume address is valid there (docs/design.md). A Python unwinder claims
# the innermost frame and reports those four values as its caller's registers, so frame #1
# is the coroutine's resume point and gdb's DWARF unwinder takes it from there, down to
# xcoro_entry_stub, whose CFI ends the chain. `xcoro bt` prints that backtrace without the
# real frame #0 and renumbers it.
#
# Core files: gdb's `gcore` fails to dump memory mappings that contain MADV_GUARD_INSTALL
# guard pages (Linux 6.13+; the default stack allocator uses them), and then leaves out
# the coroutine stacks. Kernel-written core dumps are complete.

import re

import gdb
import gdb.unwinder

_STATUS = {0: "start", 1: "active", 2: "suspended", 3: "done"}
_FLAG_ROOT = 8
_MAX_WHERE_FRAMES = 24
_MAX_SCAN_REGION = 64 << 30  # larger mappings are not scanned (sanitizer shadow memory)


class XcoroError(gdb.GdbError):
    pass


def _in_cxx(fn):
    """Runs fn() with the language set to C++: a core file stopped in libc (C) cannot parse
    `xcoro::detail::tls` otherwise."""
    saved = gdb.parameter("language")
    if saved == "c++":
        return fn()
    gdb.execute("set language c++", to_string=True)
    try:
        return fn()
    finally:
        gdb.execute("set language %s" % saved, to_string=True)


def _coro_ptr_type():
    try:
        return gdb.lookup_type("xcoro::coro").pointer()
    except gdb.error:
        raise XcoroError(
            "xcoro: no debug information for xcoro::coro; build the program with -g")


def _thread_state():
    """The selected thread's xcoro::detail::thread_state, as a gdb.Value."""
    def get():
        return gdb.parse_and_eval("xcoro::detail::tls")
    try:
        return _in_cxx(get)
    except gdb.error as e:
        raise XcoroError(
            "xcoro: cannot read xcoro::detail::tls in this thread (%s). Without thread-local "
            "storage support (libthread_db), use `info xcoro ADDR`." % e)


class Record:
    """A snapshot of one coroutine record."""

    def __init__(self, addr):
        self.addr = int(addr)
        v = gdb.Value(self.addr).cast(_coro_ptr_type()).dereference()
        self.value = v
        self.sp = int(v["sp_"])
        self.pc = int(v["pc_"])
        self.fp = int(v["fp_"])
        self.bx = int(v["bx_"])
        self.status = int(v["status_"])
        self.flags = int(v["flags_"])
        self.resumer = int(v["resumer_"])
        self.invocation = int(v["invocation_"])
        self.owner = int(v["owner_"])
        self.id = int(v["id_"])
        self.starter = int(v["starter_"])
        self.first_child = int(v["first_child_"])
        self.next_sibling = int(v["next_sibling_"])
        self.stack_lo = int(v["stack_lo_"])
        self.stack_size = int(v["stack_size_"])
        self.allocator = int(v["allocator_"])
        self.entry = int(v["entry_"])
        raw = bytes(gdb.selected_inferior().read_memory(v["name_"].address,
                                                        v["name_"].type.sizeof))
        self.name = raw.split(b"\0", 1)[0].decode("utf-8", "replace")
        self.found_by_scan = False
        self.maybe_stale = False

    @property
    def is_root(self):
        return bool(self.flags & _FLAG_ROOT)

    @property
    def status_name(self):
        return _STATUS.get(self.status, "?(%d)" % self.status)

    def label(self):
        if self.is_root:
            return "(root)"
        return self.name if self.name else "-"


class Thread:
    """The coroutines of one thread, found from its thread_state."""

    def __init__(self, ts_addr=None):
        ts = _thread_state() if ts_addr is None else gdb.Value(ts_addr).cast(
            gdb.lookup_type("xcoro::detail::thread_state").pointer()).dereference()
        self.ts_addr = int(ts.address)
        self.root = Record(ts["root"].address)
        cur = int(ts["current"])
        self.current = cur if cur != 0 else self.root.addr
        self.last_id = int(ts["last_id"])
        self.ready = bool(ts["ready"])

    def walk(self):
        """The root and every coroutine reachable through the children lists."""
        out = []
        seen = set()
        stack = [self.root.addr]
        while stack:
            addr = stack.pop()
            if addr in seen or len(seen) > 10000000:
                continue
            seen.add(addr)
            r = Record(addr)
            out.append(r)
            k = r.first_child
            steps = 0
            while k != 0 and k not in seen and steps < 10000000:
                stack.append(k)
                k = Record(k).next_sibling
                steps += 1
        return out

    def resuming(self):
        """Records suspended in an xresume: the chain of resumers of the running one."""
        out = set()
        addr = Record(self.current).resumer
        while addr != 0 and addr not in out and len(out) < 100000:
            out.add(addr)
            addr = Record(addr).resumer
        return out


# ---------------------------------------------------------------------------------------
# Memory scan (info xcoro -scan).

def _regions():
    """(start, end) of the memory worth scanning: writable mappings of a live process, the
    loaded segments of a core file."""
    inf = gdb.selected_inferior()
    conn = inf.connection
    out = []
    if conn is not None and conn.type == "core":
        text = gdb.execute("info files", to_string=True)
        for m in re.finditer(r"0x([0-9a-f]+) - 0x([0-9a-f]+) is load\d+", text):
            out.append((int(m.group(1), 16), int(m.group(2), 16)))
        return out
    text = gdb.execute("info proc mappings", to_string=True)
    untouched = _untouched_regions(inf.pid)
    skipped = 0
    for line in text.splitlines():
        f = line.split()
        if len(f) >= 5 and f[0].startswith("0x") and "w" in f[4]:
            name = f[5] if len(f) > 5 else ""
            if name in ("[vvar]", "[vsyscall]", "[vvar_vclock]"):
                continue
            start, end = int(f[0], 16), int(f[1], 16)
            if start in untouched:
                continue  # no resident page: nothing was ever written there
            if end - start > _MAX_SCAN_REGION:
                skipped += 1  # e.g. a sanitizer's shadow memory
                continue
            out.append((start, end))
    if skipped:
        gdb.write("xcoro: scan skipped %d mapping(s) larger than %d GiB\n" % (
            skipped, _MAX_SCAN_REGION >> 30))
    return out


def _untouched_regions(pid):
    """Start addresses of the mappings without resident pages, from /proc/PID/smaps when
    gdb runs on the same machine as the process; else an empty set."""
    out = set()
    try:
        with open("/proc/%d/smaps" % pid) as f:
            start = None
            for line in f:
                if line[:1] in "0123456789abcdef" and "-" in line.split()[0]:
                    start = int(line.split("-", 1)[0], 16)
                elif line.startswith("Rss:") and start is not None:
                    if int(line.split()[1]) == 0:
                        out.add(start)
    except (OSError, ValueError):
        pass
    return out


def _read(inf, addr, size):
    """Reads [addr, addr+size), page by page where a bulk read fails (guard pages); pages
    that cannot be read come back as zeros."""
    try:
        return bytes(inf.read_memory(addr, size))
    except gdb.MemoryError:
        pass
    page = 4096
    parts = []
    for a in range(addr, addr + size, page):
        try:
            parts.append(bytes(inf.read_memory(a, page)))
        except gdb.MemoryError:
            parts.append(b"\0" * page)
    return b"".join(parts)


def _free_stacks():
    """The default allocator's address and the low ends of the stacks in its free lists
    (pool and this thread's cache), when the library has debug information; else
    (None, empty set)."""
    free = set()
    state = {"pool": None}

    def vec(v):
        impl = v["_M_impl"]
        start, finish = impl["_M_start"], impl["_M_finish"]
        n = int(finish - start)
        return [start[i] for i in range(min(n, 50000000))]

    def get():
        try:
            # `static pooled_allocator* p` in xcoro::(anonymous namespace)::pool().
            fn = gdb.lookup_static_symbol("xcoro::(anonymous namespace)::pool")
            if fn is None:
                return
            sym, _ = gdb.lookup_symbol("p", gdb.block_for_pc(int(fn.value().address)))
            if sym is None:
                return
            p = sym.value()
            if int(p) == 0:
                return
            pool = p.dereference()
            for sc in vec(pool["classes_"]):
                for lo in vec(sc["free"]):
                    free.add(int(lo))
            tc = pool["thread_cache"]  # a static thread_local member: this thread's
            for i in range(int(tc["count"])):
                free.add(int(tc["items"][i]))
            state["pool"] = int(p)
        except (gdb.error, RuntimeError):
            free.clear()
    _in_cxx(get)
    return state["pool"], free


def scan(thread, known):
    """Records owned by `thread` found in memory and not in `known` (a set of addresses).
    Records on stacks in the default allocator's free lists are left out; those that
    cannot be checked that way are marked maybe_stale."""
    ctype = _coro_ptr_type().target()
    owner_off = next(f.bitpos // 8 for f in ctype.fields() if f.name == "owner_")
    rec_size = ctype.sizeof
    align = 64  # alignas(64) class coro
    needle = thread.ts_addr.to_bytes(8, "little")
    inf = gdb.selected_inferior()
    pool, free = _free_stacks()
    found = []
    chunk = 64 << 20
    for start, end in _regions():
        a = start
        while a < end:
            n = min(chunk, end - a)
            data = _read(inf, a, n)
            i = data.find(needle)
            while i >= 0:
                rec = a + i - owner_off
                if rec % align == 0 and rec not in known and rec != thread.root.addr:
                    r = _validate(rec, rec_size, align, thread)
                    if r is not None and r.stack_lo not in free:
                        r.found_by_scan = True
                        r.maybe_stale = pool is None or r.allocator != pool
                        found.append(r)
                i = data.find(needle, i + 1)
            a += n
    return found


def _validate(addr, rec_size, align, thread):
    try:
        r = Record(addr)
    except gdb.error:
        return None
    if r.owner != thread.ts_addr or r.is_root or r.status not in _STATUS:
        return None
    if not (1 <= r.id <= thread.last_id) or r.stack_size == 0:
        return None
    hi = r.stack_lo + r.stack_size
    if (hi - rec_size) // align * align != addr:
        return None
    if r.status == 0 and r.invocation != 0:
        return None
    return r


# ---------------------------------------------------------------------------------------
# Unwinding a suspended coroutine.

class _FrameId:
    def __init__(self, sp, pc):
        self.sp = sp
        self.pc = pc


class CoroUnwinder(gdb.unwinder.Unwinder):
    """When engaged, claims frame #0 and reports a coroutine's saved context as the
    registers of frame #1."""

    def __init__(self):
        super().__init__("xcoro")
        self.target = None  # (sp, pc, fp, bx) or None

    def __call__(self, pending):
        if self.target is None or pending.level() != 0:
            return None
        sp, pc, fp, bx = self.target
        rip = pending.read_register("rip")
        rsp = pending.read_register("rsp")
        rbp = pending.read_register("rbp")
        rbx = pending.read_register("rbx")
        # Frame #0's id takes the coroutine's stack pointer: gdb refuses a caller frame
        # that is "inner" (lower) than its callee, and the coroutine's stack may lie
        # below the thread's real one.
        info = pending.create_unwind_info(_FrameId(gdb.Value(sp).cast(rsp.type),
                                                   gdb.Value(rip)))
        info.add_saved_register("rip", gdb.Value(pc).cast(rip.type))
        info.add_saved_register("rsp", gdb.Value(sp).cast(rsp.type))
        info.add_saved_register("rbp", gdb.Value(fp).cast(rbp.type))
        info.add_saved_register("rbx", gdb.Value(bx).cast(rbx.type))
        return info


_unwinder = CoroUnwinder()
gdb.unwinder.register_unwinder(None, _unwinder, replace=True)


def _engage(rec):
    _unwinder.target = (rec.sp, rec.pc, rec.fp, rec.bx) if rec is not None else None
    gdb.invalidate_cached_frames()


def _on_resume(_event):
    if _unwinder.target is not None:
        _unwinder.target = None
        gdb.invalidate_cached_frames()


gdb.events.cont.connect(_on_resume)


def _needs_unwinder(thread, rec):
    """False for the running coroutine, whose frames are the thread's real ones."""
    return rec.addr != thread.current


def _frame_text(frame):
    name = frame.name() or ("0x%x" % frame.pc())
    sal = frame.find_sal()
    if sal.symtab is not None:
        return "%s at %s:%d" % (name, sal.symtab.filename.split("/")[-1], sal.line)
    return name


def _is_library_frame(frame):
    name = frame.name() or ""
    if name.startswith(("xcoro::", "std::", "xcoro_")):
        return True
    fn = frame.function()
    if fn is not None and fn.symtab is not None:
        path = fn.symtab.filename
        if "/include/xcoro/" in path or "/src/coro.cpp" in path:
            return True
    return False


def _where(thread, rec):
    """The innermost frame of a coroutine that is not xcoro's or the standard library's."""
    if rec.status == 0:
        return "(not started)"
    if rec.status == 3:
        return "(finished)"
    engaged = _needs_unwinder(thread, rec)
    try:
        if engaged:
            _engage(rec)
        f = gdb.newest_frame()
        if engaged:
            f = f.older()
        first = None
        n = 0
        while f is not None and n < _MAX_WHERE_FRAMES:
            if first is None:
                first = f
            if not _is_library_frame(f):
                return _frame_text(f)
            f = f.older()
            n += 1
        return _frame_text(first) if first is not None else "0x%x" % rec.pc
    except gdb.error:
        return "0x%x" % rec.pc
    finally:
        if engaged:
            _engage(None)


# ---------------------------------------------------------------------------------------
# Commands.

def _find(thread, arg, allow_scan=True):
    """A record by id (a small integer) or by address (any other expression)."""
    v = _in_cxx(lambda: gdb.parse_and_eval(arg))
    if v.type.strip_typedefs().code == gdb.TYPE_CODE_PTR:
        return Record(int(v))
    n = int(v)
    if n >= 1 << 32:
        return Record(n)
    if thread is None:
        raise XcoroError("xcoro: no thread state; give a record address")
    recs = thread.walk()
    for r in recs:
        if r.id == n:
            return r
    if allow_scan:
        for r in scan(thread, {r.addr for r in recs}):
            if r.id == n:
                return r
    raise XcoroError("xcoro: no live coroutine with id %d in this thread" % n)


def _print_list(thread, do_scan):
    recs = thread.walk()
    extra = scan(thread, {r.addr for r in recs}) if do_scan else []
    ids = {r.addr: r.id for r in recs + extra}
    resuming = thread.resuming()
    rows = []
    for r in sorted(recs + extra, key=lambda r: r.id):
        mark = "*" if r.addr == thread.current else (" " if not r.maybe_stale else "?")
        status = r.status_name
        if r.addr in resuming and r.addr != thread.current:
            status = "suspended (xresume)"
        starter = "-" if r.starter == 0 else str(ids.get(r.starter, "0x%x" % r.starter))
        if r.found_by_scan and r.starter == 0 and r.status in (1, 2):
            starter = "orphan"
        rows.append((mark, str(r.id), status, r.label(), "0x%x" % r.addr, starter,
                     str(r.invocation), _where(thread, r)))
    head = ("", "Id", "Status", "Name", "Record", "Starter", "Switches", "Where")
    widths = [max(len(x[i]) for x in rows + [head]) for i in range(len(head))]
    for row in [head] + rows:
        gdb.write(("%-*s %-*s  %-*s  %-*s  %-*s  %-*s  %*s  %s\n" % (
            widths[0], row[0], widths[1], row[1], widths[2], row[2], widths[3], row[3],
            widths[4], row[4], widths[5], row[5], widths[6], row[6], row[7])).rstrip() + "\n")
    if not do_scan:
        gdb.write("(%d created on this thread so far; coroutines never started or whose "
                  "starter finished are listed only with `info xcoro -scan`)\n" % thread.last_id)


def _print_one(thread, r):
    cur = thread is not None and r.addr == thread.current
    gdb.write("coroutine %d%s \"%s\" at 0x%x\n" % (r.id, " (root)" if r.is_root else "",
                                                    r.name, r.addr))
    gdb.write("  status      %s%s\n" % (r.status_name, " (running)" if cur else ""))
    gdb.write("  switches    %d\n" % r.invocation)
    gdb.write("  starter     0x%x%s\n" % (r.starter, "" if r.starter else " (none: orphan or "
                                            "not started)" if not r.is_root else ""))
    gdb.write("  resumer     0x%x\n" % r.resumer)
    gdb.write("  owner       0x%x (thread_state)\n" % r.owner)
    if not r.is_root:
        gdb.write("  stack       [0x%x, 0x%x) %d bytes\n" % (r.stack_lo, r.stack_lo +
                                                          r.stack_size, r.stack_size))
    gdb.write("  saved sp    0x%x\n  saved pc    0x%x" % (r.sp, r.pc))
    sym = gdb.execute("info symbol 0x%x" % r.pc, to_string=True).strip() if r.pc else ""
    gdb.write("  %s\n" % sym if sym and not sym.startswith("No symbol") else "\n")
    gdb.write("  saved rbp   0x%x\n  saved rbx   0x%x\n" % (r.fp, r.bx))
    children = []
    k = r.first_child
    while k != 0 and len(children) < 1000:
        c = Record(k)
        children.append("%d (%s)" % (c.id, c.label()))
        k = c.next_sibling
    gdb.write("  children    %s\n" % (", ".join(children) if children else "-"))
    if thread is not None and r.owner == thread.ts_addr:
        gdb.write("  where       %s\n" % _where(thread, r))


class InfoXcoro(gdb.Command):
    """List xcoro coroutines, or show one.

Usage: info xcoro [-scan] [-threads]
       info xcoro ID|ADDR

Without arguments, lists the selected thread's root and every coroutine reachable from
it through the starters' children lists: id, status, name, record address, starter id,
number of switches into it, and the innermost frame outside xcoro (`*` marks the running
one). -scan also searches memory for coroutines in no such list (never started, or
orphaned by a finished starter). -threads lists every thread.
With ID (a coroutine id) or ADDR (a record address or pointer expression), shows that
coroutine's record."""

    def __init__(self):
        super().__init__("info xcoro", gdb.COMMAND_STACK)

    def invoke(self, arg, from_tty):
        args = gdb.string_to_argv(arg)
        do_scan = "-scan" in args
        all_threads = "-threads" in args
        rest = [a for a in args if a not in ("-scan", "-threads")]
        if rest:
            thread = None
            try:
                thread = Thread()
            except gdb.GdbError:
                pass
            _print_one(thread, _find(thread, " ".join(rest)))
            return
        if not all_threads:
            _print_list(Thread(), do_scan)
            return
        selected = gdb.selected_thread()
        try:
            for t in gdb.selected_inferior().threads()[::-1]:
                t.switch()
                gdb.write("\nThread %d (%s):\n" % (t.num, t.name or t.ptid[1]))
                try:
                    _print_list(Thread(), do_scan)
                except gdb.GdbError as e:
                    gdb.write("  %s\n" % e)
        finally:
            selected.switch()


class XcoroPrefix(gdb.Command):
    """Commands for xcoro coroutines: xcoro bt, xcoro switch. See also `info xcoro`."""

    def __init__(self):
        super().__init__("xcoro", gdb.COMMAND_STACK, prefix=True)


def _split_target(arg):
    args = gdb.string_to_argv(arg)
    if not args:
        raise XcoroError("xcoro: give a coroutine id or record address")
    target = args[0]
    return target, " ".join(args[1:])


def _thread_or_none():
    try:
        return Thread()
    except gdb.GdbError:
        return None


class XcoroBt(gdb.Command):
    """Backtrace of an xcoro coroutine.

Usage: xcoro bt ID|ADDR [BT-OPTIONS]

ID is a coroutine id as listed by `info xcoro`, ADDR a record address or pointer
expression. For a suspended coroutine, unwinds from the context saved in its record
(works on core files too); for the running one, this is plain `bt`. Options and a frame
count are passed to `bt` (for example `xcoro bt 2 -full`)."""

    def __init__(self):
        super().__init__("xcoro bt", gdb.COMMAND_STACK)

    def invoke(self, arg, from_tty):
        target, bt_args = _split_target(arg)
        thread = _thread_or_none()
        rec = _find(thread, target)
        if rec.status == 0:
            gdb.write("coroutine %d \"%s\" has not started: it has no frames yet\n" % (
                rec.id, rec.name))
            return
        if rec.status == 3:
            gdb.write("coroutine %d \"%s\" has finished\n" % (rec.id, rec.name))
            return
        if thread is not None and not _needs_unwinder(thread, rec):
            gdb.execute("bt %s" % bt_args, from_tty)
            return
        gdb.write("coroutine %d \"%s\" (%s):\n" % (rec.id, rec.label(), rec.status_name))
        level = gdb.selected_frame().level()
        try:
            _engage(rec)
            gdb.execute("select-frame 0")
            text = gdb.execute("bt %s" % bt_args, to_string=True)
        finally:
            _engage(None)
            try:
                gdb.execute("select-frame %d" % level)
            except gdb.error:
                pass
        gdb.write(_drop_frame_zero(text))


def _drop_frame_zero(text):
    """Removes frame #0 (the thread's real frame) from `bt` output and renumbers."""
    out = []
    skipping = False
    for line in text.splitlines(True):
        m = re.match(r"#(\d+)(\s+)", line)
        if m:
            n = int(m.group(1))
            skipping = n == 0
            if not skipping:
                num = "#%d" % (n - 1)
                pad = " " * max(1, len(m.group(0)) - len(num))
                line = num + pad + line[m.end():]
        if not skipping:
            out.append(line)
    return "".join(out)


class XcoroSwitch(gdb.Command):
    """Show an xcoro coroutine's frames in place of the thread's.

Usage: xcoro switch ID|ADDR
       xcoro switch

With a suspended coroutine, frame #1 becomes the point where it is suspended and the
frames above it are its callers, so `frame N`, `up`, `info locals` and `bt` work in it.
Frame #0 stays the thread's real innermost frame. Without an argument, or when the
program is resumed, the thread's real frames come back. Nothing is written to the
process, so it works on core files."""

    def __init__(self):
        super().__init__("xcoro switch", gdb.COMMAND_STACK)

    def invoke(self, arg, from_tty):
        if not arg.strip():
            _engage(None)
            gdb.write("xcoro: showing the thread's own frames\n")
            return
        thread = _thread_or_none()
        rec = _find(thread, arg.strip())
        if rec.status != 2 or (thread is not None and not _needs_unwinder(thread, rec)):
            raise XcoroError("xcoro: coroutine %d is %s, not suspended" % (
                rec.id, "running" if rec.status == 1 else rec.status_name))
        _engage(rec)
        gdb.execute("select-frame 1")
        gdb.write("xcoro: frames #1 and up are coroutine %d \"%s\"; `xcoro switch` to leave\n"
                  % (rec.id, rec.name))
        gdb.execute("frame", from_tty)


InfoXcoro()
XcoroPrefix()
XcoroBt()
XcoroSwitch()
