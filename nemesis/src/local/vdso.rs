//! Clock faults for programs libfaketime cannot reach: Go programs (etcd,
//! kube-apiserver, the client-go plug-in), which read the clock through the vDSO without
//! libc, and Debian's redis-server, whose jemalloc clashes with libfaketime.
//!
//! Every process maps the kernel's vDSO, a small shared object whose
//! `__vdso_clock_gettime` and `__vdso_gettimeofday` libc and the Go runtime call for the
//! time. The vDSO's pages are the process's own copy-on-write mapping, which a debugger
//! may write (that is how breakpoints in it work), so this module writes, through
//! `/proc/<pid>/mem`:
//!
//! - a fake clock (the blob of [`fake_clock_blob`]) into the zeroed tail of the vDSO's
//!   last page: it makes the real system call and shifts the result by the clock
//!   setting kept in the blob's data block;
//! - a 5-byte `jmp` over the first bytes of each of the two functions, to the fake.
//!
//! The local backend writes it into lock servers libfaketime does not run and into the
//! programs an agent runs (a lock plug-in such as client-go's leader election); the
//! agents themselves read their clock file.
//!
//! As on Linux with a skewed clock: `CLOCK_REALTIME` (and `gettimeofday`) gets the
//! offset, the drift and the strobe; `CLOCK_MONOTONIC` gets the drift only (a rate
//! changes how fast it runs, a step never reaches it) and never steps back: the drift a
//! setting accumulated stays when the next setting takes over. Other clocks are left as
//! they are. This is what Chaos Mesh's TimeChaos does with ptrace, plus drift and
//! strobe; it needs no ptrace attach, only the right to write the process's memory
//! (root, or the same user namespace).
//!
//! The kernel keeps the true clocks: a program that sleeps until an absolute
//! CLOCK_MONOTONIC deadline it computed from the faked clock (`clock_nanosleep` with
//! TIMER_ABSTIME, as Python's `time.sleep` does) waits longer under a fast drift, as
//! much longer as the drift has gained. The Go runtime and Redis compute relative
//! timeouts, so they are not affected.
//!
//! Writes happen with the process stopped (SIGSTOP) and only when no thread's
//! instruction pointer is inside the bytes being replaced, read from
//! `/proc/<pid>/task/<tid>/syscall`; a process the nemesis had paused stays paused.

use crate::ClusterError;
use crate::clock::ClockSetting;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::time::{Duration, Instant};

/// The marker at the start of the blob's data block; also how a patched vDSO is known.
const DATA_MAGIC: &[u8; 8] = b"SBCLOCK1";
/// The marker right before the fake `clock_gettime`.
const CLOCK_GETTIME_MARK: &[u8; 8] = b"SBENTRYA";
/// The marker right before the fake `gettimeofday`.
const GETTIMEOFDAY_MARK: &[u8; 8] = b"SBENTRYB";
/// The marker after the blob's last byte.
const END_MARK: &[u8; 8] = b"SBBLOBND";
/// The vDSO functions replaced, with the marker of their fake.
const PATCHED: [(&str, &[u8; 8]); 2] = [
    ("__vdso_clock_gettime", CLOCK_GETTIME_MARK),
    ("__vdso_gettimeofday", GETTIMEOFDAY_MARK),
];
/// How long the process may take to stop, and to leave the patched bytes.
const STOP_WAIT: Duration = Duration::from_secs(2);

/// The fake clock: data block, then the two entry points. Never called here; only its
/// bytes are copied into other processes. Position-independent: it reaches its data
/// RIP-relative.
///
/// Data block (little-endian i64 after the magic): 8 realtime anchor ns, 16 monotonic
/// anchor ns, 24 rate - 1 in parts per billion, 32 realtime offset ns, 40 strobe delta
/// ns, 48 strobe period ns (0: none), 56 strobe start ns, 64 strobe end ns (realtime),
/// 72 monotonic offset ns (the drift earlier settings accumulated).
#[cfg(target_arch = "x86_64")]
#[unsafe(naked)]
extern "C" fn fake_clock_blob() {
    core::arch::naked_asm!(
        // The data block, 8-byte aligned.
        ".balign 8",
        "7:",
        ".ascii \"SBCLOCK1\"",
        ".quad 0, 0, 0, 0, 0, 0, 0, 0, 0",
        // clock_gettime(clockid %edi, struct timespec *%rsi)
        ".ascii \"SBENTRYA\"",
        "movq %rsi, %r8",
        "movl %edi, %r9d",
        "movl $228, %eax",
        "syscall",
        "testq %rax, %rax",
        "jnz 9f",
        "leaq 7b(%rip), %r11",
        "cmpl $1, %r9d",
        "je 3f",
        "testl %r9d, %r9d",
        "jne 8f",
        // CLOCK_REALTIME: r10 = seconds * 1e9 + nanoseconds
        "movq (%r8), %r10",
        "imulq $1000000000, %r10, %r10",
        "addq 8(%r8), %r10",
        "call 5f",
        // store r10 back as seconds and nanoseconds
        "movq %r10, %rax",
        "cqto",
        "movq $1000000000, %rcx",
        "idivq %rcx",
        "movq %rax, (%r8)",
        "movq %rdx, 8(%r8)",
        "jmp 8f",
        // CLOCK_MONOTONIC: + monotonic offset + (t - monotonic anchor) * rate
        "3:",
        "movq (%r8), %r10",
        "imulq $1000000000, %r10, %r10",
        "addq 8(%r8), %r10",
        "movq %r10, %rax",
        "subq 16(%r11), %rax",
        "imulq 24(%r11)",
        "movq $1000000000, %rcx",
        "idivq %rcx",
        "addq %rax, %r10",
        "addq 72(%r11), %r10",
        "movq %r10, %rax",
        "cqto",
        "idivq %rcx",
        "movq %rax, (%r8)",
        "movq %rdx, 8(%r8)",
        "8:",
        "xorl %eax, %eax",
        "9:",
        "ret",
        // The realtime transform of r10 (true ns) with data at r11; uses r9, rax, rcx, rdx.
        "5:",
        "movq %r10, %r9",
        "movq %r10, %rax",
        "subq 8(%r11), %rax",
        "imulq 24(%r11)",
        "movq $1000000000, %rcx",
        "idivq %rcx",
        "addq %rax, %r10",
        "addq 32(%r11), %r10",
        "movq 48(%r11), %rcx",
        "testq %rcx, %rcx",
        "jz 6f",
        "cmpq 56(%r11), %r9",
        "jl 6f",
        "cmpq 64(%r11), %r9",
        "jge 6f",
        "movq %r9, %rax",
        "subq 56(%r11), %rax",
        "cqto",
        "idivq %rcx",
        "testq $1, %rax",
        "jz 6f",
        "addq 40(%r11), %r10",
        "6:",
        "ret",
        // gettimeofday(struct timeval *%rdi, struct timezone *%rsi)
        ".ascii \"SBENTRYB\"",
        "movq %rdi, %r8",
        "movl $96, %eax",
        "syscall",
        "testq %rax, %rax",
        "jnz 9b",
        "testq %r8, %r8",
        "jz 8b",
        "leaq 7b(%rip), %r11",
        "movq (%r8), %r10",
        "imulq $1000000000, %r10, %r10",
        "movq 8(%r8), %rax",
        "imulq $1000, %rax, %rax",
        "addq %rax, %r10",
        "call 5b",
        "movq %r10, %rax",
        "cqto",
        "movq $1000000000, %rcx",
        "idivq %rcx",
        "movq %rax, (%r8)",
        "movq %rdx, %rax",
        "cqto",
        "movq $1000, %rcx",
        "idivq %rcx",
        "movq %rax, 8(%r8)",
        "jmp 8b",
        ".ascii \"SBBLOBND\"",
        options(att_syntax),
    )
}

/// The fake clock's bytes, from its data block to its end marker.
#[cfg(target_arch = "x86_64")]
pub fn fake_clock_bytes() -> Vec<u8> {
    let start = fake_clock_blob as *const u8;
    // SAFETY: the function's code is mapped and readable; the scan stops at the end
    // marker the assembly above places after the last instruction, within a few hundred
    // bytes, and the marker cannot occur earlier (the code holds no such bytes).
    let code = unsafe { std::slice::from_raw_parts(start, 2048) };
    let first = find(code, DATA_MAGIC).expect("the fake clock's data block");
    let end = find(code, END_MARK).expect("the fake clock's end marker");
    code[first..end + END_MARK.len()].to_vec()
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The data block's contents for `setting`, at true times `now_realtime_ns` and
/// `now_monotonic_ns`, continuing the monotonic drift of the block in force (`previous`,
/// if any) so CLOCK_MONOTONIC never steps.
pub fn data_block(
    setting: &ClockSetting,
    previous: Option<&[i64; 9]>,
    now_realtime_ns: i64,
    now_monotonic_ns: i64,
) -> [i64; 9] {
    let rate_ppb = ((setting.rate - 1.0) * 1e9).round() as i64;
    // Without a drift the anchors are now, which keeps every product in the fake small.
    let anchor_rt = if rate_ppb == 0 {
        now_realtime_ns
    } else {
        ms_to_ns(setting.anchor_unix_ms as i64)
    };
    // The monotonic clock's drift so far, kept as an offset from now on.
    let mono_offset = previous.map_or(0, |p| {
        let (anchor, rate, offset) = (p[1], p[2], p[8]);
        offset + ((now_monotonic_ns - anchor) as i128 * rate as i128 / 1_000_000_000) as i64
    });
    // The new rate counts from its anchor, as the realtime clock's does.
    let mono_anchor = now_monotonic_ns - (now_realtime_ns - anchor_rt).max(0);
    let (delta, period, start, end) = setting.strobe.as_ref().map_or((0, 0, 0, 0), |s| {
        (
            ms_to_ns(s.delta_ms),
            ms_to_ns(s.period_ms as i64),
            ms_to_ns(s.start_unix_ms as i64),
            ms_to_ns(s.end_unix_ms as i64),
        )
    });
    [
        anchor_rt,
        mono_anchor,
        rate_ppb,
        ms_to_ns(setting.offset_ms),
        delta,
        period,
        start,
        end,
        mono_offset,
    ]
}

fn ms_to_ns(ms: i64) -> i64 {
    ms.saturating_mul(1_000_000)
}

/// Where a process's vDSO is and what it holds.
struct Vdso {
    base: u64,
    len: u64,
    image: Vec<u8>,
}

/// Sets the clock of process `pid` to `setting` through its vDSO. `paused` says the
/// process is stopped by the nemesis already (it stays stopped).
#[cfg(target_arch = "x86_64")]
pub fn set_process_clock(
    pid: u32,
    setting: &ClockSetting,
    paused: bool,
) -> Result<(), ClusterError> {
    let err = |what: String| {
        ClusterError::io(format!("pid={pid}: {what}"), std::io::Error::other("vdso"))
    };
    let vdso = read_vdso(pid).map_err(|e| err(format!("cannot read the vDSO: {e}")))?;
    let blob = fake_clock_bytes();
    let blob_at = align_up(image_end(&vdso.image).map_err(|e| err(e.to_string()))?, 64);
    if blob_at + blob.len() as u64 > vdso.len {
        return Err(err(format!(
            "no room for the fake clock: the vDSO's {} bytes end at {blob_at}, the fake needs {}",
            vdso.len,
            blob.len()
        )));
    }
    let patched = vdso.image[blob_at as usize..].starts_with(DATA_MAGIC);
    let previous = patched.then(|| read_block(&vdso.image[blob_at as usize + 8..]));
    let (rt, mono) = (now_ns(libc_clock::REALTIME), now_ns(libc_clock::MONOTONIC));
    let block = data_block(setting, previous.as_ref(), rt, mono);
    let mut writes: Vec<(u64, Vec<u8>)> = Vec::new();
    if patched {
        writes.push((blob_at + 8, block_bytes(&block)));
    } else {
        let mut bytes = blob.clone();
        bytes[8..8 + 72].copy_from_slice(&block_bytes(&block));
        writes.push((blob_at, bytes));
        for (symbol, mark) in PATCHED {
            let entry = symbol_offset(&vdso.image, symbol).map_err(|e| err(e.to_string()))?;
            let fake = blob_at + (find(&blob, mark).expect("entry marker") + mark.len()) as u64;
            writes.push((entry, jmp(entry, fake)));
        }
    }
    let guarded: Vec<(u64, u64)> = writes
        .iter()
        .skip(1)
        .map(|(at, bytes)| (vdso.base + at, vdso.base + at + bytes.len() as u64))
        .collect();
    with_process_stopped(pid, paused, &guarded, || {
        let mem = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(format!("/proc/{pid}/mem"))?;
        for (at, bytes) in &writes {
            mem.write_all_at(bytes, vdso.base + at)?;
        }
        Ok(())
    })
    .map_err(|e| err(format!("cannot write the vDSO: {e}")))
}

/// The processes descended from `pid` (children, their children, ...), from
/// `/proc/<pid>/task/<tid>/children`.
pub fn descendants(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    let mut frontier = vec![pid];
    while let Some(p) = frontier.pop() {
        let Ok(tids) = tasks(p) else { continue };
        for tid in tids {
            let text = std::fs::read_to_string(format!("/proc/{p}/task/{tid}/children"))
                .unwrap_or_default();
            for child in text
                .split_whitespace()
                .filter_map(|c| c.parse::<u32>().ok())
            {
                out.push(child);
                frontier.push(child);
            }
        }
    }
    out
}

fn block_bytes(block: &[i64; 9]) -> Vec<u8> {
    block.iter().flat_map(|v| v.to_le_bytes()).collect()
}

fn read_block(bytes: &[u8]) -> [i64; 9] {
    let mut out = [0i64; 9];
    for (i, v) in out.iter_mut().enumerate() {
        let mut b = [0u8; 8];
        b.copy_from_slice(&bytes[i * 8..i * 8 + 8]);
        *v = i64::from_le_bytes(b);
    }
    out
}

/// `jmp rel32` from `from` to `to`, both offsets in the same mapping.
fn jmp(from: u64, to: u64) -> Vec<u8> {
    let rel = (to as i64 - (from as i64 + 5)) as i32;
    let mut out = vec![0xe9];
    out.extend_from_slice(&rel.to_le_bytes());
    out
}

fn align_up(x: u64, to: u64) -> u64 {
    x.div_ceil(to) * to
}

fn read_vdso(pid: u32) -> std::io::Result<Vdso> {
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps"))?;
    let line = maps
        .lines()
        .find(|l| l.ends_with("[vdso]"))
        .ok_or_else(|| std::io::Error::other("no [vdso] mapping"))?;
    let range = line.split_whitespace().next().unwrap_or_default();
    let (start, end) = range
        .split_once('-')
        .and_then(|(a, b)| {
            Some((
                u64::from_str_radix(a, 16).ok()?,
                u64::from_str_radix(b, 16).ok()?,
            ))
        })
        .ok_or_else(|| std::io::Error::other(format!("bad maps line: {line}")))?;
    let mut image = vec![0u8; (end - start) as usize];
    File::open(format!("/proc/{pid}/mem"))?.read_exact_at(&mut image, start)?;
    Ok(Vdso {
        base: start,
        len: end - start,
        image,
    })
}

/// Little-endian reads from an ELF image, failing on a truncated one.
fn u16_at(b: &[u8], at: usize) -> std::io::Result<u16> {
    b.get(at..at + 2)
        .map(|s| u16::from_le_bytes([s[0], s[1]]))
        .ok_or_else(|| std::io::Error::other("truncated vDSO image"))
}

fn u32_at(b: &[u8], at: usize) -> std::io::Result<u32> {
    b.get(at..at + 4)
        .map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
        .ok_or_else(|| std::io::Error::other("truncated vDSO image"))
}

fn u64_at(b: &[u8], at: usize) -> std::io::Result<u64> {
    b.get(at..at + 8)
        .map(|s| u64::from_le_bytes(s.try_into().unwrap_or([0; 8])))
        .ok_or_else(|| std::io::Error::other("truncated vDSO image"))
}

/// Where the ELF image's loaded bytes end: the furthest end of a PT_LOAD segment.
fn image_end(image: &[u8]) -> std::io::Result<u64> {
    if !image.starts_with(b"\x7fELF") {
        return Err(std::io::Error::other("the vDSO is not an ELF image"));
    }
    let (phoff, phentsize, phnum) = (
        u64_at(image, 0x20)? as usize,
        u16_at(image, 0x36)? as usize,
        u16_at(image, 0x38)? as usize,
    );
    let mut end = 0;
    for i in 0..phnum {
        let ph = phoff + i * phentsize;
        if u32_at(image, ph)? == 1 {
            end = end.max(u64_at(image, ph + 8)? + u64_at(image, ph + 32)?);
        }
    }
    Ok(end)
}

/// The offset of a dynamic symbol in the image (the vDSO is linked at 0).
fn symbol_offset(image: &[u8], name: &str) -> std::io::Result<u64> {
    let (shoff, shentsize, shnum) = (
        u64_at(image, 0x28)? as usize,
        u16_at(image, 0x3a)? as usize,
        u16_at(image, 0x3c)? as usize,
    );
    let section = |i: usize| shoff + i * shentsize;
    for i in 0..shnum {
        let sh = section(i);
        if u32_at(image, sh + 4)? != 11 {
            continue; // not SHT_DYNSYM
        }
        let (symoff, symsize) = (
            u64_at(image, sh + 24)? as usize,
            u64_at(image, sh + 32)? as usize,
        );
        let strtab = section(u32_at(image, sh + 40)? as usize);
        let stroff = u64_at(image, strtab + 24)? as usize;
        for s in (symoff..symoff + symsize).step_by(24) {
            let name_at = stroff + u32_at(image, s)? as usize;
            let found = image
                .get(name_at..)
                .and_then(|rest| rest.split(|b| *b == 0).next())
                .is_some_and(|n| n == name.as_bytes());
            if found {
                return u64_at(image, s + 8);
            }
        }
    }
    Err(std::io::Error::other(format!(
        "no symbol {name} in the vDSO"
    )))
}

/// Runs `write` with every thread of `pid` stopped and none executing inside `guarded`
/// (absolute address ranges), retrying for a while if one is; resumes the process after
/// unless `paused`.
fn with_process_stopped(
    pid: u32,
    paused: bool,
    guarded: &[(u64, u64)],
    write: impl Fn() -> std::io::Result<()>,
) -> std::io::Result<()> {
    let target = Pid::from_raw(pid as i32);
    let deadline = Instant::now() + STOP_WAIT;
    loop {
        if !paused {
            kill(target, Signal::SIGSTOP).map_err(std::io::Error::from)?;
        }
        wait_all_stopped(pid, deadline)?;
        let clear = thread_pcs(pid)?
            .iter()
            .all(|pc| !guarded.iter().any(|(lo, hi)| pc > lo && pc < hi));
        let result = if clear { Some(write()) } else { None };
        if !paused {
            kill(target, Signal::SIGCONT).map_err(std::io::Error::from)?;
        }
        match result {
            Some(r) => return r,
            None if Instant::now() > deadline => {
                return Err(std::io::Error::other(
                    "a thread stayed inside the bytes to be replaced",
                ));
            }
            None => std::thread::sleep(Duration::from_millis(1)),
        }
    }
}

fn tasks(pid: u32) -> std::io::Result<Vec<String>> {
    std::fs::read_dir(format!("/proc/{pid}/task"))?
        .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect()
}

fn wait_all_stopped(pid: u32, deadline: Instant) -> std::io::Result<()> {
    loop {
        let mut all = true;
        for tid in tasks(pid)? {
            let stat =
                std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/stat")).unwrap_or_default();
            // The state follows the command name's closing parenthesis.
            let state = stat
                .rsplit_once(") ")
                .and_then(|(_, rest)| rest.chars().next());
            if !matches!(state, Some('T') | Some('t') | None) {
                all = false;
            }
        }
        if all {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(std::io::Error::other("the process did not stop"));
        }
        std::thread::sleep(Duration::from_micros(200));
    }
}

/// Every thread's user instruction pointer: the last field of its `syscall` file.
fn thread_pcs(pid: u32) -> std::io::Result<Vec<u64>> {
    let mut pcs = Vec::new();
    for tid in tasks(pid)? {
        let text = std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/syscall"))?;
        let pc = text
            .split_whitespace()
            .last()
            .and_then(|f| u64::from_str_radix(f.trim_start_matches("0x"), 16).ok());
        match pc {
            Some(pc) => pcs.push(pc),
            // "running": not stopped after all; treat as unsafe.
            None => pcs.push(u64::MAX),
        }
    }
    Ok(pcs)
}

/// The two clocks read here, for `now_ns`.
mod libc_clock {
    pub const REALTIME: i32 = 0;
    pub const MONOTONIC: i32 = 1;
}

fn now_ns(clock: i32) -> i64 {
    let id = if clock == libc_clock::REALTIME {
        nix::time::ClockId::CLOCK_REALTIME
    } else {
        nix::time::ClockId::CLOCK_MONOTONIC
    };
    nix::time::clock_gettime(id)
        .map(|t| t.tv_sec() * 1_000_000_000 + t.tv_nsec())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fake_clock_has_its_data_block_and_both_entry_points() {
        let blob = fake_clock_bytes();
        assert!(blob.starts_with(DATA_MAGIC));
        assert!(blob.ends_with(END_MARK));
        let a = find(&blob, CLOCK_GETTIME_MARK).unwrap();
        let b = find(&blob, GETTIMEOFDAY_MARK).unwrap();
        assert_eq!(a, 8 + 72, "the entry follows the 9 data words");
        assert!(b > a && blob.len() < 1024, "len={}", blob.len());
    }

    #[test]
    fn this_kernels_vdso_has_both_functions_and_room_for_the_fake() {
        let vdso = read_vdso(std::process::id()).unwrap();
        for (symbol, _) in PATCHED {
            let at = symbol_offset(&vdso.image, symbol).unwrap();
            assert!(at > 0 && at < vdso.len, "{symbol} at {at}");
        }
        let end = align_up(image_end(&vdso.image).unwrap(), 64);
        assert!(end + fake_clock_bytes().len() as u64 <= vdso.len);
    }

    #[test]
    fn a_new_setting_keeps_the_monotonic_drift_so_far() {
        let drift = ClockSetting {
            offset_ms: 0,
            rate: 2.0,
            anchor_unix_ms: 1_000,
            strobe: None,
        };
        let first = data_block(&drift, None, 1_000_000_000, 50_000_000_000);
        assert_eq!(first[2], 1_000_000_000, "rate - 1 in ppb");
        assert_eq!(first[1], 50_000_000_000, "anchored now");
        // 10 s later the drift ends: the 10 s gained stay on the monotonic clock.
        let reset = data_block(
            &ClockSetting::true_time(),
            Some(&first),
            11_000_000_000,
            60_000_000_000,
        );
        assert_eq!(reset[2], 0);
        assert_eq!(reset[8], 10_000_000_000);
    }

    #[test]
    fn a_jump_lands_on_its_target() {
        let bytes = jmp(0x100, 0x1600);
        assert_eq!(bytes[0], 0xe9);
        let rel = i32::from_le_bytes(bytes[1..5].try_into().unwrap());
        assert_eq!(0x100 + 5 + rel as i64, 0x1600);
    }
}
