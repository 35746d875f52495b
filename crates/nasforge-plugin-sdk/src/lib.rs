//! Write a nasforge plugin as an ordinary crate.
//!
//! Implement the core trait of your component — [`SearchSpace`],
//! [`Strategy`] over [`HostSpace`] (the experiment's space, reached back
//! through the host), or [`Estimator`] over [`ArchMessage`] — then export
//! it with [`export_plugin!`] from a `cdylib`:
//!
//! ```ignore
//! use nasforge_plugin_sdk::{export_plugin, protocol::Create};
//!
//! fn create(c: Create) -> Result<MyAnnealing, String> { MyAnnealing::from_config(&c.config, c.seed) }
//!
//! export_plugin!(strategy, "simulated-annealing", env!("CARGO_PKG_VERSION"), create);
//! ```
//!
//! The macro writes the header (magic, ABI and protocol versions, kind,
//! name, version, compiler, whether panics unwind) and a vtable whose every
//! entry catches panics: a panicking plugin is reported to the host, which
//! keeps running. Build plugins with `panic = "unwind"` (the default);
//! hosts refuse `panic = "abort"` builds, whose panics would end them.
//!
//! [`SearchSpace`]: nasforge_core::SearchSpace
//! [`Strategy`]: nasforge_core::Strategy
//! [`Estimator`]: nasforge_core::Estimator

pub use nasforge_core as core;
pub use nasforge_plugin_abi as abi;
pub use nasforge_plugin_protocol as protocol;
pub use serde_json;

use nasforge_core::{EvalContext, Estimator, SearchSpace, Strategy};
use nasforge_plugin_protocol::{ArchMessage, ArchText, RemoteSpace, Reply, Request, SpaceChannel, SpaceRequest, serve_space};

/// `rustc -V` of the compiler that built this SDK, hence the plugin.
pub const RUSTC: &str = env!("NASFORGE_SDK_RUSTC");

/// The experiment's search space, seen from a plugin strategy: every
/// operation is a call back into the host, valid during the call the
/// strategy is serving (`ask` or `tell`). Architectures are standard
/// strings ([`ArchText`]).
pub type HostSpace = RemoteSpace<HostChannel>;

/// The channel of a [`HostSpace`]: the host's callback table for the
/// current call.
pub struct HostChannel {
    api: *const abi::HostApi,
    space: String,
}

// SAFETY: the host's callback serves any thread for the duration of the
// call (it only reads the host's space, which is `Sync`), and a
// `HostChannel` never outlives that call: the SDK builds it per call and
// hands strategies only a borrow.
#[allow(unsafe_code)]
unsafe impl Send for HostChannel {}
#[allow(unsafe_code)]
unsafe impl Sync for HostChannel {}

impl SpaceChannel for HostChannel {
    fn space_name(&self) -> &str {
        &self.space
    }

    fn request(&self, request: &SpaceRequest) -> Result<Reply, String> {
        if self.api.is_null() {
            return Err("this call has no host space (only strategies are handed one)".into());
        }
        let msg = protocol::encode(request);
        let mut reply = abi::Buf::EMPTY;
        // SAFETY: `api` is the live callback table of the current call;
        // the message outlives the call; the reply is released with the
        // host's own `free_buf` after being copied.
        #[allow(unsafe_code)]
        let (status, bytes) = unsafe {
            let api = &*self.api;
            let status = (api.call)(api.ctx, msg.as_ptr(), msg.len(), &mut reply);
            let bytes = if reply.ptr.is_null() { Vec::new() } else { std::slice::from_raw_parts(reply.ptr, reply.len).to_vec() };
            (api.free_buf)(reply);
            (status, bytes)
        };
        match status {
            abi::status::OK => protocol::decode(&bytes),
            _ => Err(String::from_utf8_lossy(&bytes).into_owned()),
        }
    }

    fn failed(&self, request: &SpaceRequest, error: String) {
        // Inside the plugin: the vtable's guard turns this into a reported
        // panic, and the host marks the instance unusable.
        panic!("the host's search space failed {request:?}: {error}");
    }

    fn failure(&self) -> Option<String> {
        None
    }
}

/// A plugin instance: answers the host's requests. The adapters below
/// implement it for the core traits; implement it directly only for
/// something they do not cover.
pub trait Handler: Send + 'static {
    /// Answers one request; `space` is the experiment's search space.
    fn handle(&mut self, request: Request, space: &HostSpace) -> Result<Reply, String>;
}

fn unexpected(kind: &str, request: &Request) -> String {
    format!("a {kind} plugin cannot answer {request:?}")
}

/// A [`SearchSpace`] as a plugin.
pub struct SpaceHandler<S>(pub S);

impl<S: SearchSpace + 'static> Handler for SpaceHandler<S> {
    fn handle(&mut self, request: Request, _: &HostSpace) -> Result<Reply, String> {
        match request {
            Request::Space(r) => serve_space(&self.0, r),
            other => Err(unexpected("search-space", &other)),
        }
    }
}

/// A [`Strategy`] over the host's space as a plugin.
pub struct StrategyHandler<T>(pub T);

impl<T: Strategy<HostSpace> + 'static> Handler for StrategyHandler<T> {
    fn handle(&mut self, request: Request, space: &HostSpace) -> Result<Reply, String> {
        match request {
            Request::Ask => Ok(Reply::Proposal(self.0.ask(space).map(|a| a.0))),
            Request::Tell { arch, outcome } => {
                self.0.tell(space, &ArchText(arch), &outcome);
                Ok(Reply::Done)
            }
            other => Err(unexpected("strategy", &other)),
        }
    }
}

/// An [`Estimator`] of architectures handed over as [`ArchMessage`]s, as a
/// plugin.
pub struct EstimatorHandler<E>(pub E);

impl<E: Estimator<ArchMessage> + 'static> Handler for EstimatorHandler<E> {
    fn handle(&mut self, request: Request, _: &HostSpace) -> Result<Reply, String> {
        match request {
            Request::Estimate { arch, trial, seed } => Ok(Reply::Evaluation(self.0.evaluate(&arch, EvalContext { trial, seed }))),
            other => Err(unexpected("estimator", &other)),
        }
    }
}

/// The vtable's entry points, generic over the plugin's constructor. Used
/// by [`export_plugin!`]; not for direct use.
#[doc(hidden)]
pub mod ffi {
    #![allow(unsafe_code)]

    use std::ffi::c_void;
    use std::panic::{AssertUnwindSafe, catch_unwind};

    use super::*;

    struct Instance {
        handler: Box<dyn Handler>,
        space: String,
    }

    fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
        payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic without a message".into())
    }

    /// Writes `bytes` to `reply` (when non-null).
    unsafe fn answer(reply: *mut abi::Buf, bytes: Vec<u8>) {
        if !reply.is_null() {
            // SAFETY: the host passes a valid out-pointer.
            unsafe { reply.write(abi::Buf::from_vec(bytes)) };
        }
    }

    /// Runs `f`, catching panics; maps its outcome to a status and reply.
    unsafe fn guarded(reply: *mut abi::Buf, f: impl FnOnce() -> Result<Vec<u8>, String>) -> u32 {
        let (status, bytes) = match catch_unwind(AssertUnwindSafe(f)) {
            Ok(Ok(bytes)) => (abi::status::OK, bytes),
            Ok(Err(e)) => (abi::status::ERROR, e.into_bytes()),
            Err(p) => (abi::status::PANICKED, panic_message(p.as_ref()).into_bytes()),
        };
        // SAFETY: forwarded out-pointer.
        unsafe { answer(reply, bytes) };
        status
    }

    /// `create` for a plugin whose constructor is `make`.
    ///
    /// # Safety
    /// The host's arguments, as the ABI describes them.
    pub unsafe fn create(
        config: *const u8,
        len: usize,
        instance: *mut *mut c_void,
        reply: *mut abi::Buf,
        make: impl FnOnce(protocol::Create) -> Result<Box<dyn Handler>, String>,
    ) -> u32 {
        // SAFETY: the host hands a readable message of `len` bytes.
        let bytes = unsafe { bytes(config, len) };
        let mut made = None;
        let status = unsafe {
            guarded(reply, || {
                let create: protocol::Create = protocol::decode(bytes)?;
                let space = create.space.clone();
                made = Some(Instance { handler: make(create)?, space });
                Ok(Vec::new())
            })
        };
        if let (abi::status::OK, Some(made)) = (status, made) {
            // SAFETY: valid out-pointer; the host gives the instance back
            // to `call` and `destroy` only.
            unsafe { instance.write(Box::into_raw(Box::new(made)).cast()) };
        }
        status
    }

    unsafe fn bytes<'a>(ptr: *const u8, len: usize) -> &'a [u8] {
        if ptr.is_null() || len == 0 {
            &[]
        } else {
            // SAFETY: callers pass a readable region.
            unsafe { std::slice::from_raw_parts(ptr, len) }
        }
    }

    /// `call`.
    ///
    /// # Safety
    /// `instance` comes from [`create`]; the rest as the ABI describes.
    pub unsafe extern "C" fn call(instance: *mut c_void, host: *const abi::HostApi, msg: *const u8, len: usize, reply: *mut abi::Buf) -> u32 {
        // SAFETY: the host passes an instance `create` made, not in use
        // by another call, and a readable message.
        let (instance, bytes) = unsafe { (&mut *instance.cast::<Instance>(), bytes(msg, len)) };
        unsafe {
            guarded(reply, || {
                let request: Request = protocol::decode(bytes)?;
                let space = RemoteSpace(HostChannel { api: host, space: instance.space.clone() });
                let reply = instance.handler.handle(request, &space)?;
                Ok(protocol::encode(&reply))
            })
        }
    }

    /// `destroy`.
    ///
    /// # Safety
    /// `instance` comes from [`create`] and is not used afterwards.
    pub unsafe extern "C" fn destroy(instance: *mut c_void) {
        // A panic in a destructor is swallowed: there is nobody to tell.
        let _ = catch_unwind(AssertUnwindSafe(|| {
            // SAFETY: made by Box::into_raw in `create`.
            drop(unsafe { Box::from_raw(instance.cast::<Instance>()) });
        }));
    }

    /// `free_buf`.
    ///
    /// # Safety
    /// `buf` was returned by this plugin and not freed before.
    pub unsafe extern "C" fn free_buf(buf: abi::Buf) {
        // SAFETY: allocated by Buf::from_vec in this library.
        drop(unsafe { buf.into_vec() });
    }
}

/// Exports a plugin: `export_plugin!(KIND, NAME, VERSION, CONSTRUCTOR)`,
/// with `KIND` one of `search_space`, `strategy`, `estimator`, and
/// `CONSTRUCTOR` a `fn(protocol::Create) -> Result<T, String>` where `T`
/// implements the kind's core trait.
#[macro_export]
macro_rules! export_plugin {
    (search_space, $name:expr, $version:expr, $make:expr) => {
        $crate::export_plugin!(@emit $crate::abi::kind::SEARCH_SPACE, $name, $version, $make, $crate::SpaceHandler);
    };
    (strategy, $name:expr, $version:expr, $make:expr) => {
        $crate::export_plugin!(@emit $crate::abi::kind::STRATEGY, $name, $version, $make, $crate::StrategyHandler);
    };
    (estimator, $name:expr, $version:expr, $make:expr) => {
        $crate::export_plugin!(@emit $crate::abi::kind::ESTIMATOR, $name, $version, $make, $crate::EstimatorHandler);
    };
    (@emit $kind:expr, $name:expr, $version:expr, $make:expr, $handler:path) => {
        #[allow(unsafe_code)]
        unsafe extern "C" fn __nasforge_create(
            config: *const u8,
            len: usize,
            instance: *mut *mut ::std::ffi::c_void,
            reply: *mut $crate::abi::Buf,
        ) -> u32 {
            // SAFETY: forwarded from the host, as the ABI describes.
            unsafe {
                $crate::ffi::create(config, len, instance, reply, |c| {
                    let made = ($make)(c)?;
                    Ok(::std::boxed::Box::new($handler(made)) as ::std::boxed::Box<dyn $crate::Handler>)
                })
            }
        }

        /// The plugin's header, read by the host before it runs any code.
        #[allow(unsafe_code)]
        #[unsafe(no_mangle)]
        pub static NASFORGE_PLUGIN_HEADER: $crate::abi::PluginHeader = $crate::abi::PluginHeader {
            magic: $crate::abi::MAGIC,
            abi_version: $crate::abi::ABI_VERSION,
            kind: $kind,
            api: $crate::protocol::API,
            unwinds: if cfg!(panic = "unwind") { 1 } else { 0 },
            name: $crate::abi::Str::new($name),
            version: $crate::abi::Str::new($version),
            rustc: $crate::abi::Str::new($crate::RUSTC),
            vtable: $crate::abi::VTable {
                create: __nasforge_create,
                call: $crate::ffi::call,
                destroy: $crate::ffi::destroy,
                free_buf: $crate::ffi::free_buf,
            },
        };
    };
}
