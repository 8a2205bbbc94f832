//! The process's heap in use, for `--memory-limit`: a global allocator that counts what
//! it hands out, so the linearizability search can see the whole process (models'
//! states and the history included, not only its cache) and shed its cache before the
//! machine runs out.
//!
//! A binary opts in with
//! `#[global_allocator] static A: CountingAllocator = CountingAllocator;`. Without it,
//! [`in_use`] answers None and only the cache's own size bound applies.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicIsize, Ordering};

static IN_USE: AtomicIsize = AtomicIsize::new(0);
static PEAK: AtomicIsize = AtomicIsize::new(0);
static INSTALLED: AtomicBool = AtomicBool::new(false);

/// How far a thread's own count may drift before it is added to the process's: the
/// figures are exact to this much per thread, and threads allocating at once do not
/// fight over one cache line at every allocation.
const FLUSH_BYTES: isize = 256 << 10;

thread_local! {
    /// Bytes this thread allocated (or freed, when negative) not yet added to `IN_USE`.
    /// A `const` cell with no destructor, so using it from the allocator allocates
    /// nothing.
    static PENDING: Cell<isize> = const { Cell::new(0) };
}

/// CountingAllocator is the system allocator, counting the bytes it has out.
pub struct CountingAllocator;

impl CountingAllocator {
    #[inline]
    fn count(delta: isize) {
        let flush = PENDING.try_with(|pending| {
            let total = pending.get() + delta;
            if total.abs() < FLUSH_BYTES {
                pending.set(total);
                0
            } else {
                pending.set(0);
                total
            }
        });
        // A thread being torn down has no cell left: count directly.
        let flush = flush.unwrap_or(delta);
        if flush != 0 {
            let now = IN_USE.fetch_add(flush, Ordering::Relaxed) + flush;
            if now > PEAK.load(Ordering::Relaxed) {
                PEAK.fetch_max(now, Ordering::Relaxed);
            }
            if !INSTALLED.load(Ordering::Relaxed) {
                INSTALLED.store(true, Ordering::Relaxed);
            }
        }
    }
}

/// A size as the counters hold it.
#[inline]
fn signed(size: usize) -> isize {
    isize::try_from(size).unwrap_or(isize::MAX)
}

// SAFETY: every call is forwarded to `System` unchanged; the counters only observe.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's obligations are passed on to `System`.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            Self::count(signed(layout.size()));
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            Self::count(signed(layout.size()));
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from this allocator, that is from `System`, with `layout`.
        unsafe { System.dealloc(ptr, layout) };
        Self::count(-signed(layout.size()));
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as for `dealloc` and `alloc`.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            Self::count(signed(new_size) - signed(layout.size()));
        }
        p
    }
}

/// Heap bytes the process has in use, when the counting allocator is installed.
pub fn in_use() -> Option<usize> {
    INSTALLED
        .load(Ordering::Relaxed)
        .then(|| IN_USE.load(Ordering::Relaxed).max(0) as usize)
}

/// The most heap bytes the process had in use at once, when the counting allocator is
/// installed.
pub fn peak() -> Option<usize> {
    INSTALLED
        .load(Ordering::Relaxed)
        .then(|| PEAK.load(Ordering::Relaxed).max(0) as usize)
}
