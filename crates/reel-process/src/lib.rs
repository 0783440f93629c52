//! Process-wide settings for reel's programs.
//!
//! The library never changes how the whole process behaves: an embedder's allocator and
//! memory settings are its own. reel's own programs (the `reel` tool, the examples and the
//! workload benchmark) call [`tune_allocator`] at the start of `main`.

#![warn(missing_docs)]

/// Process-wide allocator tuning for a program whose main work is rendering: call it once
/// at the start of `main` (the `reel` tool, the `render` example and the workload benchmark do). glibc gives
/// each thread that allocates its own arena and seldom returns their free memory to the
/// system, so a render's threads (workers, encoders, clip decoders, the image loader)
/// leave freed frames behind and the peak grows with the video's length; with two arenas
/// W1's peak RSS fell 613 -> 577 MB and a 120 s W1 stays within 10 % of the 30 s one
/// (`benches/README.md`). It also fixes malloc's mmap threshold at 512 KB: glibc otherwise
/// raises it to the size of each large block freed, so a released 13 MB image or an 8 MB
/// picture is kept in an arena instead of returned; fixed, every buffer of a frame's size
/// is its own mapping and goes back when freed (W1's peak 517 -> 474 MB, no time lost:
/// steady state reuses its buffers). Sets glibc's `M_ARENA_MAX` and `M_MMAP_THRESHOLD`, and
/// turns transparent huge pages off for the process (`PR_SET_THP_DISABLE`, Linux); no
/// effect elsewhere.
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters; safe to call at any time.
    unsafe {
        let _ = libc::mallopt(libc::M_ARENA_MAX, 2);
        let _ = libc::mallopt(libc::M_MMAP_THRESHOLD, 512 * 1024);
        // libx264 asks for transparent huge pages on its frame buffers (madvise), so each
        // is resident in 2 MB steps, padding included: W1 peaked 6-14 MB higher with them,
        // a flat 1080p render 15-20 MB, at the same speed (the kernel's page clearing moves
        // from huge pages to small ones). Inherited by child processes.
        let _ = libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}
