//! The allocator training wants.
//!
//! A training step allocates and frees activation-sized buffers (megabytes)
//! by the dozen. The system allocator returns them to the OS and faults
//! the pages back in on the next step (ops ran 2-3x slower with it);
//! mimalloc keeps them, and with purging off (it otherwise hands idle
//! pages back after a second) a steady training loop makes no page faults at
//! all, which `cargo xtask bench trainer` measured at a tenth of a step.
//! Binaries that train declare it:
//!
//! ```no_run
//! #[global_allocator]
//! static GLOBAL: nasforge_engine::allocator::Allocator = nasforge_engine::allocator::Allocator;
//!
//! fn main() {
//!     nasforge_engine::allocator::keep_freed_pages();
//! }
//! ```

/// mimalloc, as the global allocator of binaries that train.
pub use mimalloc::MiMalloc as Allocator;

/// `mi_option_purge_delay`: its position in mimalloc's `mi_option_e`
/// (libmimalloc-sys names only some options); the test below checks it
/// against the option's default.
const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Tells mimalloc never to return freed pages to the OS, so that the
/// buffers of one training step serve the next. Memory use stays at the
/// peak the process reached (which training reaches every step anyway).
/// Has no effect unless [`Allocator`] is the global allocator.
pub fn keep_freed_pages() {
    // SAFETY: sets one integer option; mimalloc keeps options in atomics
    // and reads them at each purge, so any thread may set them any time.
    #[allow(unsafe_code)]
    unsafe {
        libmimalloc_sys::mi_option_set(PURGE_DELAY, -1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_purge_delay_option_is_the_one_documented() {
        // mimalloc v3's options.c: `{ 1000, ..., purge_delay }`, in
        // milliseconds, unless the environment overrides it. (Its header
        // still says 10, v2's value.)
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
            #[allow(unsafe_code)]
            // SAFETY: reads one integer option.
            let v = unsafe { libmimalloc_sys::mi_option_get(PURGE_DELAY) };
            assert_eq!(v, 1000);
        }
    }
}
