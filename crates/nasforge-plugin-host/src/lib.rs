//! Loading plugins and running them as ordinary components.
//!
//! [`load`] opens the library a [`Manifest`] names and checks, in order,
//! stopping at the first failure with a typed [`PluginError`]: the file
//! exists → its sha256 matches the pin, if any → it opens as a shared
//! library (with `RTLD_NOW`, so missing symbols fail here and not in the
//! middle of a search) → it exports the header → magic → ABI version →
//! protocol version → name and kind match the manifest → it unwinds on
//! panic. A library, once opened, is never unloaded: code of it may still
//! be referenced (a panic's payload, a thread-local destructor), and
//! unloading is where dynamic plugins crash.
//!
//! [`Plugin::instantiate`] creates an [`Instance`]; [`PluginSpace`],
//! [`PluginStrategy`] and [`PluginEstimator`] wrap instances as the core's
//! [`SearchSpace`], [`Strategy`] and [`Estimator`], so plugins run through
//! exactly the code built-ins run through. A plugin that panics is reported
//! (the panic is caught on its side of the boundary), its instance is
//! marked unusable, and the component's `failure()` says why, which stops
//! the search with that message.
//!
//! Trust: loading a plugin runs its code with the host's rights. Only the
//! paths manifests name are loaded; a `sha256` pin refuses any other file.

// The crate is where the host crosses the C ABI.
#![allow(unsafe_code)]

use std::ffi::c_void;
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use nasforge_core::{EvalContext, EvalError, Estimator, Evaluation, Metrics, SearchSpace, Strategy};
use nasforge_plugin_abi::{self as abi, ApiVersion, Buf, PluginHeader};
use nasforge_plugin_protocol::{self as protocol, ArchMessage, Create, RemoteSpace, Reply, Request, SpaceChannel, SpaceRequest, serve_space};
use sha2::{Digest, Sha256};

/// What a plugin provides.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// A search space.
    SearchSpace,
    /// A search strategy.
    Strategy,
    /// An estimator.
    Estimator,
}

impl Kind {
    /// Every kind, in manifest spelling order.
    pub const ALL: [Kind; 3] = [Kind::SearchSpace, Kind::Strategy, Kind::Estimator];

    /// The manifest spelling: `search-space`, `strategy`, `estimator`.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::SearchSpace => "search-space",
            Kind::Strategy => "strategy",
            Kind::Estimator => "estimator",
        }
    }

    /// Parses the manifest spelling.
    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    fn code(self) -> u32 {
        match self {
            Kind::SearchSpace => abi::kind::SEARCH_SPACE,
            Kind::Strategy => abi::kind::STRATEGY,
            Kind::Estimator => abi::kind::ESTIMATOR,
        }
    }

    fn from_code(code: u32) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.code() == code)
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One `[[plugin]]` entry of an experiment.
#[derive(Clone, Debug, PartialEq)]
pub struct Manifest {
    /// The name experiments refer to; must equal the name in the header.
    pub name: String,
    /// What the plugin provides; must equal the kind in the header.
    pub kind: Kind,
    /// The library (resolved against the experiment file's folder).
    pub path: PathBuf,
    /// Optional pin: lowercase hex sha256 of the file.
    pub sha256: Option<String>,
    /// `[plugin.config]`, handed to the plugin's `create` as it is.
    pub config: serde_json::Value,
    /// The folder relative paths in `config` resolve against.
    pub base: PathBuf,
}

/// What a loaded plugin's header says.
#[derive(Clone, Debug, PartialEq)]
pub struct PluginInfo {
    /// Its name.
    pub name: String,
    /// Its kind.
    pub kind: Kind,
    /// Its own version.
    pub version: String,
    /// The protocol version it speaks.
    pub api: ApiVersion,
    /// The compiler that built it.
    pub rustc: String,
    /// Where it was loaded from.
    pub path: PathBuf,
}

/// Why a plugin could not be loaded or used.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum PluginError {
    /// The manifest's path does not exist.
    #[error("plugin `{name}`: {path}: no such file")]
    Missing {
        /// Manifest name.
        name: String,
        /// The path.
        path: PathBuf,
    },
    /// The file cannot be read (for its checksum).
    #[error("plugin `{name}`: {path}: cannot read it: {reason}")]
    Unreadable {
        /// Manifest name.
        name: String,
        /// The path.
        path: PathBuf,
        /// The OS error.
        reason: String,
    },
    /// The file is not the pinned one.
    #[error("plugin `{name}`: {path} has sha256 {actual}, the manifest pins {expected}: refusing to load it")]
    Sha256Mismatch {
        /// Manifest name.
        name: String,
        /// The path.
        path: PathBuf,
        /// The pin.
        expected: String,
        /// The file's.
        actual: String,
    },
    /// The file does not open as a shared library of this machine.
    #[error("plugin `{name}`: {path} is not a shared library this machine can load: {reason}")]
    NotALibrary {
        /// Manifest name.
        name: String,
        /// The path.
        path: PathBuf,
        /// The loader's message.
        reason: String,
    },
    /// No header symbol.
    #[error("plugin `{name}`: {path} exports no `{symbol}`: it is not a nasforge plugin", symbol = abi::HEADER_SYMBOL)]
    NoHeader {
        /// Manifest name.
        name: String,
        /// The path.
        path: PathBuf,
    },
    /// The header does not start with the magic number.
    #[error("plugin `{name}`: {path}: the header's magic number is wrong: not a nasforge plugin, or a corrupt one")]
    BadMagic {
        /// Manifest name.
        name: String,
        /// The path.
        path: PathBuf,
    },
    /// Another ABI layout.
    #[error("plugin `{name}`: {path} was built for plugin ABI {found}, this nasforge reads ABI {expected}: rebuild it against nasforge-plugin-sdk {sdk}")]
    AbiMismatch {
        /// Manifest name.
        name: String,
        /// The path.
        path: PathBuf,
        /// The plugin's ABI version.
        found: u32,
        /// The host's.
        expected: u32,
        /// The SDK version to rebuild against.
        sdk: String,
    },
    /// An incompatible protocol version.
    #[error(
        "plugin `{name}`: {path} speaks plugin protocol {plugin}, this nasforge speaks {host}: rebuild it against nasforge-plugin-sdk {sdk} (protocol {host})"
    )]
    ApiIncompatible {
        /// Manifest name.
        name: String,
        /// The path.
        path: PathBuf,
        /// The plugin's protocol version.
        plugin: String,
        /// The host's.
        host: String,
        /// The SDK version to rebuild against.
        sdk: String,
    },
    /// The header's name is not the manifest's.
    #[error("plugin `{name}`: {path} is the plugin `{found}`, not `{name}`")]
    NameMismatch {
        /// Manifest name.
        name: String,
        /// The path.
        path: PathBuf,
        /// The header's name.
        found: String,
    },
    /// The header's kind is not the manifest's.
    #[error("plugin `{name}`: the manifest says kind `{expected}`, {path} is a {found}")]
    KindMismatch {
        /// Manifest name.
        name: String,
        /// The path.
        path: PathBuf,
        /// The manifest's kind.
        expected: Kind,
        /// The header's kind (or its raw code).
        found: String,
    },
    /// Built with `panic = "abort"`.
    #[error(
        "plugin `{name}`: {path} was built with panic = \"abort\": any panic in it would end nasforge; rebuild it with panic = \"unwind\" (the default)"
    )]
    AbortsOnPanic {
        /// Manifest name.
        name: String,
        /// The path.
        path: PathBuf,
    },
    /// The header's strings are not UTF-8.
    #[error("plugin `{name}`: {path}: corrupt header ({what} is not UTF-8)")]
    CorruptHeader {
        /// Manifest name.
        name: String,
        /// The path.
        path: PathBuf,
        /// Which field.
        what: &'static str,
    },
    /// `create` reported an error.
    #[error("plugin `{name}`: cannot create an instance: {message}")]
    Create {
        /// Plugin name.
        name: String,
        /// Its message.
        message: String,
    },
    /// The plugin panicked (in `create` or a call); the instance is unusable.
    #[error("plugin `{name}` panicked: {message} (this instance is now unusable)")]
    Panicked {
        /// Plugin name.
        name: String,
        /// The panic message.
        message: String,
    },
    /// A call reported an error.
    #[error("plugin `{name}`: {message}")]
    Call {
        /// Plugin name.
        name: String,
        /// Its message.
        message: String,
    },
    /// A call to an instance that panicked before.
    #[error("plugin `{name}` is unusable: it panicked earlier ({message})")]
    Unusable {
        /// Plugin name.
        name: String,
        /// The earlier panic.
        message: String,
    },
}

/// The SDK version a plugin must be rebuilt against: the host's own.
const SDK_VERSION: &str = env!("CARGO_PKG_VERSION");

/// A loaded, checked plugin library (never unloaded).
#[derive(Clone)]
pub struct Plugin {
    header: &'static PluginHeader,
    /// What its header says.
    pub info: PluginInfo,
    config: serde_json::Value,
    base: PathBuf,
}

impl fmt::Debug for Plugin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Plugin").field("info", &self.info).finish_non_exhaustive()
    }
}

/// The sha256 of a file, lowercase hex.
pub fn sha256_of(path: &Path) -> std::io::Result<String> {
    let bytes = std::fs::read(path)?;
    Ok(Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect())
}

/// Loads and checks the plugin `manifest` names.
pub fn load(manifest: &Manifest) -> Result<Plugin, PluginError> {
    let (name, path) = (manifest.name.clone(), manifest.path.clone());
    if !path.is_file() {
        return Err(PluginError::Missing { name, path });
    }
    if let Some(expected) = &manifest.sha256 {
        let actual = sha256_of(&path).map_err(|e| PluginError::Unreadable { name: name.clone(), path: path.clone(), reason: e.to_string() })?;
        if !actual.eq_ignore_ascii_case(expected.trim()) {
            return Err(PluginError::Sha256Mismatch { name, path, expected: expected.clone(), actual });
        }
    }
    let library = open(&path).map_err(|reason| PluginError::NotALibrary { name: name.clone(), path: path.clone(), reason })?;
    // Never unloaded (see the crate docs).
    let library: &'static libloading::Library = Box::leak(Box::new(library));
    let symbol = format!("{}\0", abi::HEADER_SYMBOL);
    // SAFETY: the symbol is a static; reading its address runs nothing.
    let header: *const PluginHeader = match unsafe { library.get::<*const PluginHeader>(symbol.as_bytes()) } {
        Ok(sym) => *sym,
        Err(_) => return Err(PluginError::NoHeader { name, path }),
    };
    if header.is_null() {
        return Err(PluginError::NoHeader { name, path });
    }
    // SAFETY: the symbol points at static data of the library; `magic` and
    // `abi_version` are the first two fields of every ABI version, read
    // before the rest of the layout is trusted.
    let (magic, abi_version) = unsafe { (std::ptr::addr_of!((*header).magic).read_unaligned(), std::ptr::addr_of!((*header).abi_version).read_unaligned()) };
    if magic != abi::MAGIC {
        return Err(PluginError::BadMagic { name, path });
    }
    if abi_version != abi::ABI_VERSION {
        return Err(PluginError::AbiMismatch { name, path, found: abi_version, expected: abi::ABI_VERSION, sdk: SDK_VERSION.into() });
    }
    // SAFETY: magic and ABI version match: the layout is this crate's.
    let header: &'static PluginHeader = unsafe { &*header };
    let info = check_header(header, manifest)?;
    Ok(Plugin { header, info, config: manifest.config.clone(), base: manifest.base.clone() })
}

#[cfg(unix)]
fn open(path: &Path) -> Result<libloading::Library, String> {
    use libloading::os::unix::{Library, RTLD_LOCAL, RTLD_NOW};
    // SAFETY: loading runs the library's initialisers: the trust model
    // (crate docs) is that manifests name only libraries the user trusts.
    unsafe { Library::open(Some(path), RTLD_NOW | RTLD_LOCAL) }.map(Into::into).map_err(|e| e.to_string())
}

#[cfg(not(unix))]
fn open(path: &Path) -> Result<libloading::Library, String> {
    // SAFETY: as above.
    unsafe { libloading::Library::new(path) }.map_err(|e| e.to_string())
}

fn text(s: abi::Str) -> Option<String> {
    if s.ptr.is_null() {
        return Some(String::new());
    }
    // SAFETY: header strings point at `len` bytes of static data.
    let bytes = unsafe { std::slice::from_raw_parts(s.ptr, s.len) };
    std::str::from_utf8(bytes).ok().map(str::to_owned)
}

/// Checks a header against the manifest, in the documented order (after
/// magic and ABI version, which [`load`] reads first). Separate from
/// [`load`] so that every refusal can be tested with a header built in
/// memory.
pub fn check_header(header: &PluginHeader, manifest: &Manifest) -> Result<PluginInfo, PluginError> {
    let (name, path) = (manifest.name.clone(), manifest.path.clone());
    if header.magic != abi::MAGIC {
        return Err(PluginError::BadMagic { name, path });
    }
    if header.abi_version != abi::ABI_VERSION {
        return Err(PluginError::AbiMismatch { name, path, found: header.abi_version, expected: abi::ABI_VERSION, sdk: SDK_VERSION.into() });
    }
    let v = |a: ApiVersion| format!("{}.{}.{}", a.major, a.minor, a.patch);
    if !protocol::compatible(protocol::API, header.api) {
        return Err(PluginError::ApiIncompatible { name, path, plugin: v(header.api), host: v(protocol::API), sdk: SDK_VERSION.into() });
    }
    let corrupt = |what| PluginError::CorruptHeader { name: manifest.name.clone(), path: manifest.path.clone(), what };
    let found = text(header.name).ok_or_else(|| corrupt("the name"))?;
    if found != manifest.name {
        return Err(PluginError::NameMismatch { name, path, found });
    }
    let kind = Kind::from_code(header.kind);
    if kind != Some(manifest.kind) {
        let found = kind.map_or_else(|| format!("plugin of unknown kind {}", header.kind), |k| k.to_string());
        return Err(PluginError::KindMismatch { name, path, expected: manifest.kind, found });
    }
    if header.unwinds != 1 {
        return Err(PluginError::AbortsOnPanic { name, path });
    }
    Ok(PluginInfo {
        name: found,
        kind: manifest.kind,
        version: text(header.version).ok_or_else(|| corrupt("the version"))?,
        api: header.api,
        rustc: text(header.rustc).ok_or_else(|| corrupt("the compiler"))?,
        path: manifest.path.clone(),
    })
}

/// Takes a plugin's reply buffer: copies it out and frees it with the
/// plugin's own `free_buf`.
fn take_reply(vtable: &abi::VTable, reply: Buf) -> Vec<u8> {
    let bytes = if reply.ptr.is_null() {
        Vec::new()
    } else {
        // SAFETY: the plugin filled `len` bytes at `ptr`.
        unsafe { std::slice::from_raw_parts(reply.ptr, reply.len) }.to_vec()
    };
    // SAFETY: the buffer came from this plugin and is freed once.
    unsafe { (vtable.free_buf)(reply) };
    bytes
}

impl Plugin {
    /// Creates an instance with the manifest's config, the component's
    /// `seed` and the experiment's `space` name.
    pub fn instantiate(&self, seed: u64, space: &str) -> Result<Instance, PluginError> {
        let create = Create { seed, space: space.to_owned(), config: self.config.clone(), base: self.base.display().to_string() };
        let msg = protocol::encode(&create);
        let vtable = self.header.vtable;
        let mut instance: *mut c_void = std::ptr::null_mut();
        let mut reply = Buf::EMPTY;
        // SAFETY: the vtable of a checked header; valid out-pointers.
        let status = unsafe { (vtable.create)(msg.as_ptr(), msg.len(), &mut instance, &mut reply) };
        let message = String::from_utf8_lossy(&take_reply(&vtable, reply)).into_owned();
        let name = self.info.name.clone();
        match status {
            abi::status::OK if !instance.is_null() => Ok(Instance { vtable, ptr: instance, name, api: self.info.api, unusable: None }),
            abi::status::PANICKED => Err(PluginError::Panicked { name, message }),
            abi::status::OK => Err(PluginError::Create { name, message: "create returned no instance".into() }),
            _ => Err(PluginError::Create { name, message }),
        }
    }
}

/// One plugin instance.
pub struct Instance {
    vtable: abi::VTable,
    ptr: *mut c_void,
    name: String,
    /// The protocol the plugin speaks.
    api: ApiVersion,
    unusable: Option<String>,
}

// SAFETY: the SDK requires plugin handlers to be `Send`, and an instance
// is used by one thread at a time (`call` takes `&mut self`).
unsafe impl Send for Instance {}

/// How the host answers a plugin strategy's calls to the search space.
type ServeSpace<'a> = &'a (dyn Fn(SpaceRequest) -> Result<Reply, String> + Sync);

unsafe extern "C" fn host_call(ctx: *mut c_void, msg: *const u8, len: usize, reply: *mut Buf) -> u32 {
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: ctx is the `ServeSpace` of the call in progress; the
        // message is `len` readable bytes.
        let serve = unsafe { &*ctx.cast::<ServeSpace<'_>>() };
        let bytes = if msg.is_null() { &[][..] } else { unsafe { std::slice::from_raw_parts(msg, len) } };
        let request: SpaceRequest = protocol::decode(bytes)?;
        serve(request).map(|r| protocol::encode(&r))
    }));
    let (status, bytes) = match outcome {
        Ok(Ok(b)) => (abi::status::OK, b),
        Ok(Err(e)) => (abi::status::ERROR, e.into_bytes()),
        Err(_) => (abi::status::PANICKED, b"the host's search space panicked".to_vec()),
    };
    if !reply.is_null() {
        // SAFETY: the plugin passes a valid out-pointer.
        unsafe { reply.write(Buf::from_vec(bytes)) };
    }
    status
}

unsafe extern "C" fn host_free(buf: Buf) {
    // SAFETY: made by Buf::from_vec in host_call.
    drop(unsafe { buf.into_vec() });
}

impl Instance {
    /// The protocol version the plugin speaks.
    pub fn api(&self) -> ApiVersion {
        self.api
    }

    /// The plugin's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Why the instance is unusable, if it is.
    pub fn unusable(&self) -> Option<&str> {
        self.unusable.as_deref()
    }

    /// Sends one request; `space` answers the plugin's calls back to the
    /// experiment's search space (strategies need it).
    pub fn call(&mut self, request: &Request, space: Option<ServeSpace<'_>>) -> Result<Reply, PluginError> {
        self.call_raw(&protocol::encode(request), space)
    }

    /// Sends raw bytes as a message: how conformance tests check that a
    /// plugin answers a malformed message with an error, not a crash.
    pub fn call_raw(&mut self, msg: &[u8], space: Option<ServeSpace<'_>>) -> Result<Reply, PluginError> {
        if let Some(message) = &self.unusable {
            return Err(PluginError::Unusable { name: self.name.clone(), message: message.clone() });
        }
        let mut reply = Buf::EMPTY;
        let status = match space {
            Some(serve) => {
                let api = abi::HostApi { ctx: (&raw const serve).cast_mut().cast(), call: host_call, free_buf: host_free };
                // SAFETY: a live instance of this plugin; `api` and the
                // closure it points to outlive the call.
                unsafe { (self.vtable.call)(self.ptr, &api, msg.as_ptr(), msg.len(), &mut reply) }
            }
            // SAFETY: as above, without callbacks.
            None => unsafe { (self.vtable.call)(self.ptr, std::ptr::null(), msg.as_ptr(), msg.len(), &mut reply) },
        };
        let bytes = take_reply(&self.vtable, reply);
        let name = self.name.clone();
        match status {
            abi::status::OK => protocol::decode(&bytes).map_err(|message| PluginError::Call { name, message }),
            abi::status::PANICKED => {
                let message = String::from_utf8_lossy(&bytes).into_owned();
                self.unusable = Some(message.clone());
                Err(PluginError::Panicked { name, message })
            }
            _ => Err(PluginError::Call { name, message: String::from_utf8_lossy(&bytes).into_owned() }),
        }
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        // An instance that panicked may be in any state: leave it be.
        if self.unusable.is_none() {
            // SAFETY: a live instance, destroyed once.
            unsafe { (self.vtable.destroy)(self.ptr) };
        }
    }
}

/// The channel of a [`PluginSpace`]: the plugin instance.
pub struct PluginChannel {
    space: String,
    instance: Mutex<Instance>,
    failure: Mutex<Option<String>>,
}

impl SpaceChannel for PluginChannel {
    fn space_name(&self) -> &str {
        &self.space
    }

    fn request(&self, request: &SpaceRequest) -> Result<Reply, String> {
        let mut instance = self.instance.lock().unwrap_or_else(|p| p.into_inner());
        instance.call(&Request::Space(request.clone()), None).map_err(|e| e.to_string())
    }

    fn failed(&self, request: &SpaceRequest, error: String) {
        let mut failure = self.failure.lock().unwrap_or_else(|p| p.into_inner());
        failure.get_or_insert_with(|| format!("search space `{}` failed on {request:?}: {error}", self.space));
    }

    fn failure(&self) -> Option<String> {
        self.failure.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn peer_api(&self) -> ApiVersion {
        self.instance.lock().unwrap_or_else(|p| p.into_inner()).api
    }
}

/// A plugin search space, as a core [`SearchSpace`] over standard strings.
pub type PluginSpace = RemoteSpace<PluginChannel>;

/// Wraps a search-space instance.
pub fn plugin_space(instance: Instance) -> PluginSpace {
    RemoteSpace(PluginChannel { space: instance.name.clone(), instance: Mutex::new(instance), failure: Mutex::new(None) })
}

/// A plugin strategy, as a core [`Strategy`] over any space.
pub struct PluginStrategy {
    instance: Instance,
    failure: Option<String>,
}

impl PluginStrategy {
    /// Wraps a strategy instance.
    pub fn new(instance: Instance) -> Self {
        Self { instance, failure: None }
    }

    fn call<S: SearchSpace>(&mut self, space: &S, request: &Request) -> Option<Reply> {
        if self.failure.is_some() {
            return None;
        }
        let serve = |r: SpaceRequest| serve_space(space, r);
        match self.instance.call(request, Some(&serve)) {
            Ok(reply) => Some(reply),
            Err(e) => {
                self.failure = Some(e.to_string());
                None
            }
        }
    }
}

impl<S: SearchSpace> Strategy<S> for PluginStrategy {
    fn name(&self) -> &str {
        self.instance.name()
    }

    fn ask(&mut self, space: &S) -> Option<S::Arch> {
        match self.call(space, &Request::Ask)? {
            Reply::Proposal(Some(text)) => match space.parse(&text) {
                Ok(arch) => Some(arch),
                Err(e) => {
                    self.failure = Some(format!("strategy `{}` proposed something that is no architecture: {e}", self.instance.name()));
                    None
                }
            },
            Reply::Proposal(None) => None,
            other => {
                self.failure = Some(format!("strategy `{}` answered `ask` with {other:?}", self.instance.name()));
                None
            }
        }
    }

    fn tell(&mut self, space: &S, arch: &S::Arch, outcome: &Evaluation) {
        let outcome = protocol::outcome_for(self.instance.api(), outcome);
        let request = Request::Tell { arch: space.format(arch), outcome };
        match self.call(space, &request) {
            Some(Reply::Done) | None => {}
            Some(other) => self.failure = Some(format!("strategy `{}` answered `tell` with {other:?}", self.instance.name())),
        }
    }

    fn failure(&self) -> Option<String> {
        self.failure.clone()
    }
}

/// How an estimator plugin sees an architecture of type `A`.
pub type Describe<A> = Box<dyn Fn(&A) -> ArchMessage + Send>;

/// A plugin estimator, as a core [`Estimator`] of `A`s, which `describe`
/// turns into messages (the space's name, standard string and graph).
pub struct PluginEstimator<A> {
    instance: Instance,
    describe: Describe<A>,
    failure: Option<String>,
}

impl<A> PluginEstimator<A> {
    /// Wraps an estimator instance.
    pub fn new(instance: Instance, describe: Describe<A>) -> Self {
        Self { instance, describe, failure: None }
    }

    /// An estimator for the architectures of `space`.
    pub fn for_space<S: SearchSpace<Arch = A> + 'static>(instance: Instance, space: std::sync::Arc<S>) -> Self {
        let describe = move |a: &A| ArchMessage { space: space.name().to_owned(), text: space.format(a), graph: space.to_graph(a) };
        Self::new(instance, Box::new(describe))
    }
}

impl<A> Estimator<A> for PluginEstimator<A> {
    fn name(&self) -> &str {
        self.instance.name()
    }

    fn evaluate(&mut self, arch: &A, ctx: EvalContext) -> Result<Metrics, EvalError> {
        if let Some(f) = &self.failure {
            return Err(EvalError::Other(f.clone()));
        }
        let request = Request::Estimate { arch: (self.describe)(arch), trial: ctx.trial, seed: ctx.seed };
        match self.instance.call(&request, None) {
            Ok(Reply::Evaluation(e)) => e,
            Ok(other) => {
                let f = format!("estimator `{}` answered an estimate with {other:?}", self.instance.name());
                self.failure = Some(f.clone());
                Err(EvalError::Other(f))
            }
            // An error reply concerns this architecture only.
            Err(e @ PluginError::Call { .. }) => Err(EvalError::Other(e.to_string())),
            Err(e) => {
                self.failure = Some(e.to_string());
                Err(EvalError::Other(e.to_string()))
            }
        }
    }

    fn failure(&self) -> Option<String> {
        self.failure.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    unsafe extern "C" fn no_create(_: *const u8, _: usize, _: *mut *mut c_void, _: *mut Buf) -> u32 {
        abi::status::ERROR
    }
    unsafe extern "C" fn no_call(_: *mut c_void, _: *const abi::HostApi, _: *const u8, _: usize, _: *mut Buf) -> u32 {
        abi::status::ERROR
    }
    unsafe extern "C" fn no_destroy(_: *mut c_void) {}
    unsafe extern "C" fn no_free(_: Buf) {}

    /// A well-formed header for a strategy named `good`.
    fn header() -> PluginHeader {
        PluginHeader {
            magic: abi::MAGIC,
            abi_version: abi::ABI_VERSION,
            kind: abi::kind::STRATEGY,
            api: protocol::API,
            unwinds: 1,
            name: abi::Str::new("good"),
            version: abi::Str::new("1.0.0"),
            rustc: abi::Str::new("rustc 1.95.0"),
            vtable: abi::VTable { create: no_create, call: no_call, destroy: no_destroy, free_buf: no_free },
        }
    }

    fn manifest() -> Manifest {
        Manifest { name: "good".into(), kind: Kind::Strategy, path: "libgood.so".into(), sha256: None, config: serde_json::Value::Null, base: ".".into() }
    }

    #[test]
    fn a_good_header_passes() {
        let info = check_header(&header(), &manifest()).unwrap();
        assert_eq!((info.name.as_str(), info.kind, info.version.as_str()), ("good", Kind::Strategy, "1.0.0"));
    }

    #[test]
    fn each_fault_is_refused_with_its_own_error() {
        type Fault = fn(&mut PluginHeader);
        let faked: [(Fault, &str); 7] = [
            (|h| h.magic = 0x1234, "magic number is wrong"),
            (|h| h.abi_version = abi::ABI_VERSION + 1, "built for plugin ABI 2"),
            (|h| h.api.major += 1, "rebuild it against nasforge-plugin-sdk"),
            (|h| h.api.minor += 1, "speaks plugin protocol 1.3.0"),
            (|h| h.name = abi::Str::new("other"), "is the plugin `other`"),
            (|h| h.kind = abi::kind::ESTIMATOR, "says kind `strategy`"),
            (|h| h.unwinds = 0, "panic = \"abort\""),
        ];
        for (fault, expected) in faked {
            let mut h = header();
            fault(&mut h);
            let err = check_header(&h, &manifest()).unwrap_err().to_string();
            assert!(err.contains(expected), "{err}");
        }
    }

    #[test]
    fn loading_refuses_missing_files_and_non_libraries() {
        let mut m = manifest();
        m.path = "/nonexistent/libx.so".into();
        assert!(matches!(load(&m), Err(PluginError::Missing { .. })));
        let dir = std::env::temp_dir().join(format!("nasforge-host-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        m.path = dir.join("libgarbage.so");
        std::fs::write(&m.path, b"not an ELF file").unwrap();
        let err = load(&m).unwrap_err();
        assert!(matches!(err, PluginError::NotALibrary { .. }), "{err}");
        m.sha256 = Some("00".repeat(32));
        assert!(matches!(load(&m), Err(PluginError::Sha256Mismatch { .. })));
    }
}
