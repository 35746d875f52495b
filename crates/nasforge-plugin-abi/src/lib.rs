//! The C ABI between nasforge and its plugins.
//!
//! A plugin is a `cdylib` that exports one data symbol,
//! [`HEADER_SYMBOL`], a [`PluginHeader`]. Nothing of Rust's own ABI crosses
//! the boundary (no `dyn Trait`, `String`, `Vec` or `Box`): only `#[repr(C)]`
//! structs of integers and pointers, and messages as byte buffers (the
//! protocol crate gives them meaning). Each side frees only what it
//! allocated: a [`Buf`] returns to its allocator through the `free_buf` of
//! the side that filled it.
//!
//! The host reads the header in a fixed order and stops at the first
//! mismatch: [`MAGIC`] (is this a nasforge plugin at all?), then
//! [`ABI_VERSION`] (is the rest of this struct laid out as I think?), then
//! the API version (do we speak the same protocol?), then name and kind,
//! then `unwinds` (a plugin built with `panic = "abort"` would take the
//! host down with any panic, so it is refused).
//!
//! This crate has no dependencies and changes only with [`ABI_VERSION`].

// The crate is the boundary: its raw pointers and `unsafe` functions are
// the point of it.
#![allow(unsafe_code)]

use std::ffi::c_void;

/// The first field of every header: `b"NASFORGE"` read as a little-endian
/// `u64`.
pub const MAGIC: u64 = u64::from_le_bytes(*b"NASFORGE");

/// The layout version of [`PluginHeader`], [`VTable`] and [`HostApi`].
/// Any change to them increments it.
pub const ABI_VERSION: u32 = 1;

/// The name of the exported header (a `static`, so that reading it runs
/// none of the library's code).
pub const HEADER_SYMBOL: &str = "NASFORGE_PLUGIN_HEADER";

/// What a plugin provides.
pub mod kind {
    /// A search space.
    pub const SEARCH_SPACE: u32 = 1;
    /// A search strategy.
    pub const STRATEGY: u32 = 2;
    /// An estimator.
    pub const ESTIMATOR: u32 = 3;
}

/// The outcome of a call across the boundary.
pub mod status {
    /// Success: the reply holds the answer.
    pub const OK: u32 = 0;
    /// The callee reports an error: the reply holds its message (UTF-8).
    pub const ERROR: u32 = 1;
    /// The callee panicked; the panic was caught on its side and the reply
    /// holds the panic message. The instance must not be used again.
    pub const PANICKED: u32 = 2;
}

/// A borrowed UTF-8 string (in a header: one with static lifetime).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct Str {
    /// First byte.
    pub ptr: *const u8,
    /// Length in bytes.
    pub len: usize,
}

impl Str {
    /// Borrows a static string.
    pub const fn new(s: &'static str) -> Self {
        Self { ptr: s.as_ptr(), len: s.len() }
    }
}

/// A byte buffer owned by the side that allocated it, to be released with
/// that side's `free_buf`. An empty buffer has a null `ptr`.
#[repr(C)]
#[derive(Debug)]
pub struct Buf {
    /// First byte, or null.
    pub ptr: *mut u8,
    /// Length in bytes.
    pub len: usize,
    /// The allocation's capacity, for the allocating side.
    pub cap: usize,
}

impl Buf {
    /// A buffer that owns nothing.
    pub const EMPTY: Buf = Buf { ptr: std::ptr::null_mut(), len: 0, cap: 0 };

    /// Hands over a vector's allocation; get it back with
    /// [`Buf::into_vec`] on the same side.
    pub fn from_vec(v: Vec<u8>) -> Self {
        let mut v = std::mem::ManuallyDrop::new(v);
        Buf { ptr: v.as_mut_ptr(), len: v.len(), cap: v.capacity() }
    }

    /// Takes back an allocation made by [`Buf::from_vec`].
    ///
    /// # Safety
    /// `self` must come from [`Buf::from_vec`] in this same library (so
    /// the same allocator), and not have been freed.
    pub unsafe fn into_vec(self) -> Vec<u8> {
        if self.ptr.is_null() {
            return Vec::new();
        }
        // SAFETY: ptr/len/cap are those of a Vec<u8> this side leaked.
        unsafe { Vec::from_raw_parts(self.ptr, self.len, self.cap) }
    }
}

/// Calls from a plugin back into the host, valid for the duration of the
/// plugin call they are handed to (a strategy asks the host's search space
/// to sample or mutate, say).
#[repr(C)]
pub struct HostApi {
    /// The host's context for this call.
    pub ctx: *mut c_void,
    /// Sends one message; the reply is the host's to free with `free_buf`.
    pub call: unsafe extern "C" fn(ctx: *mut c_void, msg: *const u8, len: usize, reply: *mut Buf) -> u32,
    /// Releases a reply of `call`.
    pub free_buf: unsafe extern "C" fn(buf: Buf),
}

/// The plugin's entry points. Every one catches panics on the plugin's
/// side and reports [`status::PANICKED`].
#[repr(C)]
#[derive(Clone, Copy)]
pub struct VTable {
    /// Creates an instance from its configuration message; on
    /// [`status::OK`] writes the instance to `instance`, else the error
    /// message to `reply`.
    pub create: unsafe extern "C" fn(config: *const u8, len: usize, instance: *mut *mut c_void, reply: *mut Buf) -> u32,
    /// Handles one message for an instance; `host` answers calls back.
    pub call: unsafe extern "C" fn(instance: *mut c_void, host: *const HostApi, msg: *const u8, len: usize, reply: *mut Buf) -> u32,
    /// Drops an instance.
    pub destroy: unsafe extern "C" fn(instance: *mut c_void),
    /// Releases a reply of `create` or `call`.
    pub free_buf: unsafe extern "C" fn(buf: Buf),
}

/// Semantic version of the plugin protocol.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ApiVersion {
    /// Incompatible changes.
    pub major: u32,
    /// Additions.
    pub minor: u32,
    /// Fixes.
    pub patch: u32,
}

/// The exported header. Field order is fixed: `magic` and `abi_version`
/// come first so that a host can read them before trusting the rest.
#[repr(C)]
pub struct PluginHeader {
    /// [`MAGIC`].
    pub magic: u64,
    /// [`ABI_VERSION`] of the SDK that built the plugin.
    pub abi_version: u32,
    /// One of [`kind`].
    pub kind: u32,
    /// The protocol version the plugin speaks.
    pub api: ApiVersion,
    /// 1 if the plugin was built with `panic = "unwind"` (panics can be
    /// caught), 0 with `panic = "abort"`.
    pub unwinds: u32,
    /// The plugin's name (kebab-case), as manifests refer to it.
    pub name: Str,
    /// The plugin's own version.
    pub version: Str,
    /// `rustc -V` of the compiler that built it (informational).
    pub rustc: Str,
    /// The entry points.
    pub vtable: VTable,
}

// SAFETY: a header is immutable static data: the pointers it holds point
// at static strings and functions.
unsafe impl Sync for PluginHeader {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magic_spells_nasforge() {
        assert_eq!(MAGIC.to_le_bytes(), *b"NASFORGE");
    }

    #[test]
    fn buffers_round_trip() {
        let b = Buf::from_vec(b"hello".to_vec());
        // SAFETY: made by from_vec just above.
        assert_eq!(unsafe { b.into_vec() }, b"hello");
        // SAFETY: the empty buffer owns nothing.
        assert!(unsafe { Buf::EMPTY.into_vec() }.is_empty());
    }
}
