# gdb commands for xcoro coroutines: list them, show one record, and print (or step into)
# the backtrace of a suspended coroutine from the context saved in its record. Works on a
# live process and on a core file: nothing here writes registers or memory.
#
# Load it with `source <prefix>/share/xcoro/gdb/xcoro.py` (or from ~/.gdbinit).
#
#   info xcoro [-threads]           every coroutine of the selected thread (of every
#                                   worker, on a runtime's worker; or of all threads):
#                                   id, status, name, record, starter, where; a worker's
#                                   are headed "worker K (thread N):"
#   info xcoro ID|ADDR              one coroutine in detail (ADDR: a record address or an
#                                   expression such as `f.c_` or `xcoro::xframe()`)
#   xcoro bt ID|ADDR [BT-ARGS]      backtrace of a coroutine (`bt` options such as -full
#                                   or a frame count go after it)
#   xcoro switch ID|ADDR            make gdb unwind the coroutine as if it were running:
#                                   `up`, `frame N`, `info locals` then show its frames.
#   xcoro switch                    back to the thread's real frames (also on resume)
#
# How coroutines are found. The thread-local xcoro::detail::tls holds the root record, the
# running one, and the head of a list of every record of the thread (`live`, linked through
# next_live_ in each record): a record joins it when its frame_t is made (frame_t::init,
# xasync) and leaves it when the frame_t lets go of it. So the list has the coroutines that
# never started, the running and the suspended ones, orphans (their starter finished
# first) and finished ones whose frame_t still exists. The records live at the high end of
# their stacks: a core file without the stacks cannot show them (see below).
#
# Runtime workers. A worker is a thread like any other, so its coroutines are on its list:
# those it made and those spawned elsewhere that it adopted (src/coro.cpp, coro_adopt). Its
# thread_state's worker_index says which worker it is (-1 on other threads); ids are
# numbered per thread, so an adopted coroutine keeps the id its spawning worker gave it and
# may share it with one made here (give the record address then).
#
# How a suspended coroutine is unwound. The switch saves rsp, the resume address and rbp at
# offsets 0, 8 and 16 of the record (detail::context_offsets); a Python unwinder claims the
# innermost frame and reports the suspended coroutine's registers as its caller's, so frame
# #1 is the coroutine's innermost frame and gdb's DWARF unwinder takes it from there, down
# to xcoro_entry_stub, whose CFI ends the chain. The two shapes of the x86-64 switch differ:
#  - inline switch (XCORO_INLINE_SWITCH=ON, the default): rbx is at offset 24 too, the
#    resume address is inside the suspended function, and the CFI there is valid, so
#    frame #1 is (resume address, rsp, rbp, rbx);
#  - called switch (OFF): the resume address is inside xcoro_switch_context
#    (src/arch/switch_x86_64_sysv_elf_gas.S), and the saved rsp points at r12, r13, r14,
#    r15, rbx and the return address into its caller. Frame #1 is that caller, with all
#    five registers, as if xcoro_switch_context had returned.
# Either way frame #1 is xcoro::detail::arch::switch_context. `xcoro bt` prints that
# backtrace without the real frame #0 and renumbers it.
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
_MAX_RECORDS = 50000000  # a bound on list walks, against a corrupted (cyclic) list

# The called switch's save area at the saved rsp (src/arch/switch_x86_64_sysv_elf_gas.S).
_CALLED_SAVED = (("r12", 0x00), ("r13", 0x08), ("r14", 0x10), ("r15", 0x18), ("rbx", 0x20))
_CALLED_RETURN = 0x28  # return address into xcoro_switch_context's caller
_CALLED_FRAME = 0x30   # the caller's rsp is the saved rsp plus this


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
        self.next_live = int(v["next_live_"])
        raw = bytes(gdb.selected_inferior().read_memory(v["name_"].address,
                                                        v["name_"].type.sizeof))
        self.name = raw.split(b"\0", 1)[0].decode("utf-8", "replace")

    @property
    def is_root(self):
        return bool(self.flags & _FLAG_ROOT)

    @property
    def status_name(self):
        return _STATUS.get(self.status, "?(%d)" % self.status)

    @property
    def is_orphan(self):
        """Started, unfinished, and its starter has finished: it returns to its latest
        resumer."""
        return not self.is_root and self.starter == 0 and self.status in (1, 2)

    def label(self):
        if self.is_root:
            return "(root)"
        return self.name if self.name else "-"

    def context(self):
        """The registers of the coroutine's innermost frame while it is switched out, as a
        dict (rip, rsp, rbp and whatever else the switch saved), from either switch."""
        if _in_called_switch(self.pc):
            inf = gdb.selected_inferior()
            raw = bytes(inf.read_memory(self.sp, _CALLED_FRAME))

            def word(off):
                return int.from_bytes(raw[off:off + 8], "little")
            regs = {name: word(off) for name, off in _CALLED_SAVED}
            regs["rip"] = word(_CALLED_RETURN)
            regs["rsp"] = self.sp + _CALLED_FRAME
            regs["rbp"] = self.fp
            return regs
        return {"rip": self.pc, "rsp": self.sp, "rbp": self.fp, "rbx": self.bx}


_called_switch_pcs = {}  # resume address -> in the called switch; per loaded program


def _forget_symbols(_event):
    _called_switch_pcs.clear()


gdb.events.new_objfile.connect(_forget_symbols)
gdb.events.clear_objfiles.connect(_forget_symbols)


def _in_called_switch(pc):
    """True if `pc` (a saved resume address) is inside xcoro_switch_context, the called
    switch: the inline switch resumes inside the suspended function instead."""
    if pc == 0:
        return False
    if pc not in _called_switch_pcs:
        try:
            sym = gdb.execute("info symbol 0x%x" % pc, to_string=True)
        except gdb.error:
            sym = ""
        _called_switch_pcs[pc] = sym.startswith("xcoro_switch_context ")
    return _called_switch_pcs[pc]


class Thread:
    """The coroutines of one thread, found from its thread_state's live list."""

    def __init__(self, ts_addr=None):
        ts = _thread_state() if ts_addr is None else gdb.Value(ts_addr).cast(
            gdb.lookup_type("xcoro::detail::thread_state").pointer()).dereference()
        self.ts_addr = int(ts.address)
        self.root = Record(ts["root"].address)
        cur = int(ts["current"])
        self.current = cur if cur != 0 else self.root.addr
        self.last_id = int(ts["last_id"])
        self.ready = bool(ts["ready"])
        self.live = int(ts["live"])
        try:
            self.worker_index = int(ts["worker_index"])
        except gdb.error:  # a program built before runtimes had worker_index
            self.worker_index = -1
        self.complete = False

    @property
    def is_worker(self):
        return self.worker_index >= 0

    def walk(self):
        """The root and every record on the thread's live list, newest first. A record
        that cannot be read, or does not name this thread as its owner (a core file
        without the stacks), ends the walk with a note."""
        out = [self.root]
        seen = {self.root.addr}
        addr = self.live
        self.complete = False
        while addr != 0 and addr not in seen and len(out) < _MAX_RECORDS:
            seen.add(addr)
            try:
                r = Record(addr)
            except gdb.MemoryError:
                r = None
            # A core file that left the stacks out reads as zeros there, or not at all.
            if r is None or r.owner != self.ts_addr:
                gdb.write("xcoro: cannot read the record at 0x%x; it and the coroutines after "
                          "it in the list are missing (a core file without the stacks?)\n"
                          % addr)
                return out
            out.append(r)
            addr = r.next_live
        self.complete = addr == 0
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
# Unwinding a suspended coroutine.

class _FrameId:
    def __init__(self, sp, pc):
        self.sp = sp
        self.pc = pc


class CoroUnwinder(gdb.unwinder.Unwinder):
    """When engaged, claims frame #0 and reports a coroutine's saved registers (a dict
    from Record.context) as the registers of frame #1."""

    def __init__(self):
        super().__init__("xcoro")
        self.target = None  # {register name: value} or None

    def __call__(self, pending):
        if self.target is None or pending.level() != 0:
            return None
        rip = pending.read_register("rip")
        rsp = pending.read_register("rsp")
        # Frame #0's id takes the coroutine's stack pointer: gdb refuses a caller frame
        # that is "inner" (lower) than its callee, and the coroutine's stack may lie
        # below the thread's real one.
        info = pending.create_unwind_info(_FrameId(
            gdb.Value(self.target["rsp"]).cast(rsp.type), gdb.Value(rip)))
        for name, value in self.target.items():
            reg_type = rip.type if name == "rip" else rsp.type
            info.add_saved_register(name, gdb.Value(value).cast(reg_type))
        return info


_unwinder = CoroUnwinder()
gdb.unwinder.register_unwinder(None, _unwinder, replace=True)


def _engage(rec):
    _unwinder.target = rec.context() if rec is not None else None
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

def _find(thread, arg):
    """A record by id (a small integer) or by address (any other expression)."""
    v = _in_cxx(lambda: gdb.parse_and_eval(arg))
    if v.type.strip_typedefs().code == gdb.TYPE_CODE_PTR:
        return Record(int(v))
    n = int(v)
    if n >= 1 << 32:
        return Record(n)
    if thread is None:
        raise XcoroError("xcoro: no thread state; give a record address")
    found = [r for r in thread.walk() if r.id == n]
    if len(found) > 1:
        raise XcoroError("xcoro: %d coroutines with id %d on this worker (adopted ones keep "
                         "their spawning worker's ids); give a record address: %s" % (
                             len(found), n, ", ".join("0x%x" % r.addr for r in found)))
    if found:
        return found[0]
    raise XcoroError("xcoro: no coroutine with id %d in this thread (ids so far: 0-%d; a "
                     "coroutine leaves the list when its frame_t is destroyed)" % (
                         n, thread.last_id))


def _print_list(thread):
    recs = thread.walk()
    ids = {r.addr: r.id for r in recs}
    resuming = thread.resuming()
    rows = []
    for r in sorted(recs, key=lambda r: r.id):
        mark = "*" if r.addr == thread.current else " "
        status = r.status_name
        if r.addr in resuming and r.addr != thread.current:
            status = "suspended (xresume)"
        starter = "-" if r.starter == 0 else str(ids.get(r.starter, "0x%x" % r.starter))
        if r.is_orphan:
            starter = "orphan"
        rows.append((mark, str(r.id), status, r.label(), "0x%x" % r.addr, starter,
                     str(r.invocation), _where(thread, r)))
    head = ("", "Id", "Status", "Name", "Record", "Starter", "Switches", "Where")
    widths = [max(len(x[i]) for x in rows + [head]) for i in range(len(head))]
    for row in [head] + rows:
        gdb.write(("%-*s %-*s  %-*s  %-*s  %-*s  %-*s  %*s  %s\n" % (
            widths[0], row[0], widths[1], row[1], widths[2], row[2], widths[3], row[3],
            widths[4], row[4], widths[5], row[5], widths[6], row[6], row[7])).rstrip() + "\n")
    if thread.complete and thread.is_worker:
        gdb.write("(%d on worker %d: made here (%d so far) or adopted from another worker, "
                  "whose id they keep)\n" % (len(recs) - 1, thread.worker_index,
                                             thread.last_id))
    elif thread.complete:
        gdb.write("(%d of the %d created on this thread so far; the others' frame_t are "
                  "gone)\n" % (len(recs) - 1, thread.last_id))


def _thread_header(gdb_thread, thread):
    """The line above a thread's list: "worker K (thread N):" for a runtime's worker."""
    if thread is not None and thread.is_worker:
        return "worker %d (thread %d):\n" % (thread.worker_index, gdb_thread.num)
    return "Thread %d (%s):\n" % (gdb_thread.num, gdb_thread.name or gdb_thread.ptid[1])


def _symbol(pc):
    """`info symbol` for pc, or ""."""
    if pc == 0:
        return ""
    sym = gdb.execute("info symbol 0x%x" % pc, to_string=True).strip()
    return "" if sym.startswith("No symbol") else sym


def _print_one(thread, r):
    cur = thread is not None and r.addr == thread.current
    gdb.write("coroutine %d%s \"%s\" at 0x%x\n" % (r.id, " (root)" if r.is_root else "",
                                                    r.name, r.addr))
    gdb.write("  status      %s%s\n" % (r.status_name, " (running)" if cur else ""))
    gdb.write("  switches    %d\n" % r.invocation)
    gdb.write("  starter     0x%x%s\n" % (r.starter, " (none: orphan)" if r.is_orphan else ""))
    gdb.write("  resumer     0x%x\n" % r.resumer)
    gdb.write("  owner       0x%x (thread_state)\n" % r.owner)
    if not r.is_root:
        gdb.write("  stack       [0x%x, 0x%x) %d bytes\n" % (r.stack_lo, r.stack_lo +
                                                          r.stack_size, r.stack_size))
    gdb.write("  saved sp    0x%x\n  saved pc    0x%x" % (r.sp, r.pc))
    gdb.write("  %s\n" % _symbol(r.pc))
    if r.status in (1, 2) and _in_called_switch(r.pc):
        try:
            regs = r.context()
            gdb.write("  returns to  0x%x  %s (called switch)\n" % (regs["rip"],
                                                                  _symbol(regs["rip"])))
            gdb.write("  saved rbp   0x%x\n" % r.fp)
            gdb.write("".join("  saved %-5s 0x%x\n" % (name, regs[name])
                              for name, _ in _CALLED_SAVED))
        except gdb.MemoryError:
            gdb.write("  saved rbp   0x%x\n  (its stack cannot be read)\n" % r.fp)
    else:
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


def _print_workers():
    """Every worker of the runtime the selected thread works for, in index order, each
    under its "worker K (thread N):" line. A coroutine may move between workers, so the
    worker gdb stopped on is no better a place to look than another."""
    selected = gdb.selected_thread()
    workers = []
    try:
        for t in gdb.selected_inferior().threads():
            t.switch()
            try:
                thread = Thread()
            except gdb.GdbError:
                continue
            if thread.is_worker:
                workers.append((thread.worker_index, t.num, t))
        for index, _, t in sorted(workers, key=lambda w: (w[0], w[1])):
            t.switch()
            thread = Thread()
            gdb.write(_thread_header(t, thread))
            _print_list(thread)
    finally:
        selected.switch()
    gdb.write("(ids are per worker: `info xcoro ID` and `xcoro bt ID` look on the selected "
              "thread, worker %d; `thread N` selects another, or give a record address)\n"
              % Thread().worker_index)


class InfoXcoro(gdb.Command):
    """List xcoro coroutines, or show one.

Usage: info xcoro [-threads]
       info xcoro ID|ADDR

Without arguments, lists the selected thread's root and every coroutine whose frame_t
exists (never started, running, suspended, finished): id, status, name, record address,
starter id ("orphan" when the starter finished first), number of switches into it, and
the innermost frame outside xcoro (`*` marks the running one). On a runtime's worker
thread, it lists every worker of the runtime instead, each under a line "worker K (thread
N):". -threads lists every thread, each worker's coroutines under such a line. (-scan, which searched memory in earlier versions,
is accepted and ignored.)
With ID (a coroutine id) or ADDR (a record address or pointer expression), shows that
coroutine's record."""

    def __init__(self):
        super().__init__("info xcoro", gdb.COMMAND_STACK)

    def invoke(self, arg, from_tty):
        args = gdb.string_to_argv(arg)
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
            thread = Thread()
            if thread.is_worker:
                _print_workers()
            else:
                _print_list(thread)
            return
        selected = gdb.selected_thread()
        try:
            for t in gdb.selected_inferior().threads()[::-1]:
                t.switch()
                try:
                    thread = Thread()
                except gdb.GdbError as e:
                    gdb.write("\n" + _thread_header(t, None))
                    gdb.write("  %s\n" % e)
                    continue
                gdb.write("\n" + _thread_header(t, thread))
                _print_list(thread)
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
