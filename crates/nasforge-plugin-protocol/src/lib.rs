//! The messages of the plugin protocol.
//!
//! Calls across the ABI carry one [`Request`] and return one [`Reply`],
//! JSON-encoded: architectures travel as their space's standard string,
//! with the core's plain data ([`ArchGraph`], [`Metrics`], [`Evaluation`])
//! as it serialises. Random choices travel as seeds: the side that owns the
//! random stream draws a `u64` and the other side seeds ChaCha8 with it, so
//! a search through a plugin is as reproducible as one in process.
//!
//! Versioning ([`API`], checked at load): a plugin built against protocol
//! `M.m.p` loads into a host speaking `M.n.q` with `m ≤ n`. New requests
//! bump the minor version; any change to an existing message bumps the
//! major version.

use nasforge_core::{ArchGraph, Evaluation, Metrics, ParseArchError, Rng, SearchSpace};
use nasforge_plugin_abi::ApiVersion;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// The protocol version this crate speaks.
///
/// 1.1 added the optional space operations (decisions, crossover, cost); a
/// host sends them only to plugins speaking 1.1 or later. 1.2 carries
/// non-finite metrics as the strings `"NaN"`, `"inf"`, `"-inf"` (before,
/// they went out as `null` and failed to decode) and the outcome
/// `EvalError::NonFinite`, which a host tells an older plugin as
/// `EvalError::Other` ([`outcome_for`]).
pub const API: ApiVersion = ApiVersion { major: 1, minor: 2, patch: 0 };

/// The first protocol minor version that knows `EvalError::NonFinite`.
pub const NON_FINITE_OUTCOME: u32 = 2;

/// `outcome` as a peer speaking `peer` can decode it: a non-finite
/// objective becomes `EvalError::Other` with the same message for peers
/// older than [`NON_FINITE_OUTCOME`].
pub fn outcome_for(peer: ApiVersion, outcome: &Evaluation) -> Evaluation {
    match outcome {
        Err(e @ nasforge_core::EvalError::NonFinite { .. }) if peer.minor < NON_FINITE_OUTCOME => {
            Err(nasforge_core::EvalError::Other(e.to_string()))
        }
        other => other.clone(),
    }
}

/// The first protocol minor version with [`SpaceRequest::Decisions`],
/// [`SpaceRequest::FromDecisions`], [`SpaceRequest::ArchDecisions`],
/// [`SpaceRequest::Crossover`] and [`SpaceRequest::Cost`].
pub const OPTIONAL_SPACE_OPS: u32 = 1;

/// Whether a plugin speaking `plugin` can serve a host speaking `host`.
pub fn compatible(host: ApiVersion, plugin: ApiVersion) -> bool {
    host.major == plugin.major && plugin.minor <= host.minor
}

/// What `create` receives: the manifest's `[plugin.config]` table, the
/// seed the instance draws its random choices from, and the name of the
/// experiment's search space.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Create {
    /// The component's seed (derived from the experiment's root seed).
    pub seed: u64,
    /// The experiment's search space.
    pub space: String,
    /// `[plugin.config]`, as JSON.
    pub config: serde_json::Value,
    /// The folder relative paths in `config` resolve against (the
    /// experiment file's, unless the manifest sets `base`).
    pub base: String,
}

/// An operation on a search space: what the host asks of a plugin space,
/// and what a plugin strategy asks of the host's space.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum SpaceRequest {
    /// A uniformly random architecture. Reply: [`Reply::Arch`].
    Sample {
        /// Seeds the draw.
        seed: u64,
    },
    /// One choice of `arch` changed. Reply: [`Reply::Arch`].
    Mutate {
        /// The parent.
        arch: String,
        /// Seeds the draw.
        seed: u64,
    },
    /// Every architecture one choice away. Reply: [`Reply::Archs`].
    Neighbours {
        /// The centre.
        arch: String,
    },
    /// Parses any accepted spelling. Reply: [`Reply::Arch`], the standard
    /// string; an error reply says why it is not an architecture.
    Parse {
        /// The text.
        text: String,
    },
    /// Reply: [`Reply::Key`].
    CanonicalKey {
        /// The architecture.
        arch: String,
    },
    /// Reply: [`Reply::Graph`].
    Graph {
        /// The architecture.
        arch: String,
    },
    /// Reply: [`Reply::Encoding`].
    Encode {
        /// The architecture.
        arch: String,
    },
    /// Reply: [`Reply::Size`].
    Size,
    /// Reply: [`Reply::Facts`].
    Describe {
        /// The architecture.
        arch: String,
    },
    /// The space as categorical decisions, if it has that form. Reply:
    /// [`Reply::Decisions`]. (Protocol 1.1.)
    Decisions,
    /// The architecture these choices name. Reply: [`Reply::MaybeArch`].
    /// (Protocol 1.1.)
    FromDecisions {
        /// One option per decision.
        choices: Vec<usize>,
    },
    /// The choices of `arch`. Reply: [`Reply::Decisions`]. (Protocol 1.1.)
    ArchDecisions {
        /// The architecture.
        arch: String,
    },
    /// A child of two parents, for spaces that define one. Reply:
    /// [`Reply::MaybeArch`]. (Protocol 1.1.)
    Crossover {
        /// One parent.
        a: String,
        /// The other.
        b: String,
        /// Seeds the draw.
        seed: u64,
    },
    /// Parameters and multiply-accumulates of `arch`'s network. Reply:
    /// [`Reply::Cost`]. (Protocol 1.1.)
    Cost {
        /// The architecture.
        arch: String,
    },
}

/// A request from the host to a plugin instance.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "to", rename_all = "kebab-case")]
pub enum Request {
    /// To a search-space plugin.
    Space(SpaceRequest),
    /// To a strategy plugin: propose. The plugin may call the host's space
    /// while it answers. Reply: [`Reply::Proposal`].
    Ask,
    /// To a strategy plugin: the outcome of a proposal. Reply:
    /// [`Reply::Done`].
    Tell {
        /// The architecture, as proposed.
        arch: String,
        /// Its evaluation.
        outcome: Evaluation,
    },
    /// To an estimator plugin. Reply: [`Reply::Evaluation`].
    Estimate {
        /// The architecture.
        arch: ArchMessage,
        /// The trial it is for.
        trial: u64,
        /// The seed of the trial's random choices.
        seed: u64,
    },
}

/// An architecture handed to an estimator plugin: its space, its standard
/// string and its graph, so that an estimator can key a table by string
/// or read the graph without knowing the space.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ArchMessage {
    /// The space's name.
    pub space: String,
    /// The standard string.
    pub text: String,
    /// The graph form.
    pub graph: ArchGraph,
}

/// A successful reply.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "reply", content = "value", rename_all = "kebab-case")]
pub enum Reply {
    /// One architecture (standard string).
    Arch(String),
    /// Several.
    Archs(Vec<String>),
    /// A canonical key.
    Key(String),
    /// A graph.
    Graph(ArchGraph),
    /// A numeric encoding.
    Encoding(Vec<f32>),
    /// The number of valid architectures, when known (decimal, since JSON
    /// numbers stop at 2⁵³).
    Size(Option<String>),
    /// `(label, value)` facts.
    Facts(Vec<(String, String)>),
    /// A strategy's proposal, or `None` when it has nothing more.
    Proposal(Option<String>),
    /// An estimate.
    Evaluation(Evaluation),
    /// Acknowledged.
    Done,
    /// Option counts or choices, when the space has a decision view.
    Decisions(Option<Vec<usize>>),
    /// An architecture, or none (invalid choices, no crossover).
    MaybeArch(Option<String>),
    /// Parameters and MACs, each when the space counts them.
    Cost {
        /// Parameters.
        params: Option<u64>,
        /// Multiply-accumulates.
        macs: Option<u64>,
    },
}

impl Reply {
    /// The metrics of an [`Reply::Evaluation`], for callers that want them.
    pub fn metrics(&self) -> Option<&Metrics> {
        match self {
            Reply::Evaluation(Ok(m)) => Some(m),
            _ => None,
        }
    }
}

impl Reply {
    /// Whether this is the kind of reply `request` asks for.
    pub fn answers(&self, request: &SpaceRequest) -> bool {
        use SpaceRequest as Q;
        matches!(
            (request, self),
            (Q::Sample { .. } | Q::Mutate { .. } | Q::Parse { .. }, Reply::Arch(_))
                | (Q::Neighbours { .. }, Reply::Archs(_))
                | (Q::CanonicalKey { .. }, Reply::Key(_))
                | (Q::Graph { .. }, Reply::Graph(_))
                | (Q::Encode { .. }, Reply::Encoding(_))
                | (Q::Size, Reply::Size(_))
                | (Q::Describe { .. }, Reply::Facts(_))
                | (Q::Decisions | Q::ArchDecisions { .. }, Reply::Decisions(_))
                | (Q::FromDecisions { .. } | Q::Crossover { .. }, Reply::MaybeArch(_))
                | (Q::Cost { .. }, Reply::Cost { .. })
        )
    }

    /// A neutral answer of the right kind (an empty architecture, no
    /// neighbours, ...), for a side that must carry on after its peer
    /// failed.
    pub fn neutral(request: &SpaceRequest) -> Reply {
        use SpaceRequest as Q;
        match request {
            Q::Sample { .. } | Q::Mutate { .. } | Q::Parse { .. } => Reply::Arch(String::new()),
            Q::Neighbours { .. } => Reply::Archs(Vec::new()),
            Q::CanonicalKey { .. } => Reply::Key(String::new()),
            Q::Graph { .. } => Reply::Graph(ArchGraph::default()),
            Q::Encode { .. } => Reply::Encoding(Vec::new()),
            Q::Size => Reply::Size(None),
            Q::Describe { .. } => Reply::Facts(Vec::new()),
            Q::Decisions | Q::ArchDecisions { .. } => Reply::Decisions(None),
            Q::FromDecisions { .. } | Q::Crossover { .. } => Reply::MaybeArch(None),
            Q::Cost { .. } => Reply::Cost { params: None, macs: None },
        }
    }
}

/// An architecture known by its space's standard string only: the genome
/// of a plugin's search space in the host, and of the host's search space
/// inside a plugin.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ArchText(pub String);

/// Answers a space request with `space`: the host serves plugin
/// strategies' calls with it, the SDK serves the host's calls to a plugin
/// space.
pub fn serve_space<S: SearchSpace + ?Sized>(space: &S, request: SpaceRequest) -> Result<Reply, String> {
    let parse = |s: &str| space.parse(s).map_err(|e| e.to_string());
    let rng = ChaCha8Rng::seed_from_u64;
    let format_all = |archs: Vec<S::Arch>| archs.iter().map(|a| space.format(a)).collect();
    Ok(match request {
        SpaceRequest::Sample { seed } => Reply::Arch(space.format(&space.sample(&mut rng(seed)))),
        SpaceRequest::Mutate { arch, seed } => Reply::Arch(space.format(&space.mutate(&parse(&arch)?, &mut rng(seed)))),
        SpaceRequest::Neighbours { arch } => Reply::Archs(format_all(space.neighbours(&parse(&arch)?))),
        SpaceRequest::Parse { text } => Reply::Arch(space.format(&parse(&text)?)),
        SpaceRequest::CanonicalKey { arch } => Reply::Key(space.canonical_key(&parse(&arch)?)),
        SpaceRequest::Graph { arch } => Reply::Graph(space.to_graph(&parse(&arch)?)),
        SpaceRequest::Encode { arch } => Reply::Encoding(space.encode(&parse(&arch)?)),
        SpaceRequest::Size => Reply::Size(space.size().map(|n| n.to_string())),
        SpaceRequest::Describe { arch } => Reply::Facts(space.describe(&parse(&arch)?)),
        SpaceRequest::Decisions => Reply::Decisions(space.decisions()),
        SpaceRequest::FromDecisions { choices } => Reply::MaybeArch(space.arch_from_decisions(&choices).map(|a| space.format(&a))),
        SpaceRequest::ArchDecisions { arch } => Reply::Decisions(space.arch_decisions(&parse(&arch)?)),
        SpaceRequest::Crossover { a, b, seed } => {
            Reply::MaybeArch(space.crossover(&parse(&a)?, &parse(&b)?, &mut rng(seed)).map(|c| space.format(&c)))
        }
        SpaceRequest::Cost { arch } => {
            let arch = parse(&arch)?;
            Reply::Cost { params: space.params(&arch), macs: space.macs(&arch) }
        }
    })
}

/// Where a [`RemoteSpace`] sends its requests.
pub trait SpaceChannel: Send + Sync {
    /// The space's name.
    fn space_name(&self) -> &str;

    /// Sends one request.
    fn request(&self, request: &SpaceRequest) -> Result<Reply, String>;

    /// A request failed (an error, or a reply of the wrong kind). Inside a
    /// plugin this panics (the SDK's guard reports it to the host); in the
    /// host it records the failure, which [`SearchSpace::failure`] then
    /// reports, and the space carries on with neutral answers.
    fn failed(&self, request: &SpaceRequest, error: String);

    /// The recorded failure, if any.
    fn failure(&self) -> Option<String>;

    /// The protocol the other side speaks. A plugin's host always speaks
    /// at least the plugin's own version (the load check), hence the
    /// default; the host's channel to a plugin space answers with the
    /// plugin's header, so that it never sends a request the plugin
    /// predates.
    fn peer_api(&self) -> ApiVersion {
        API
    }
}

/// A search space served through a [`SpaceChannel`]: each operation is
/// one request, random draws travel as seeds from the caller's generator.
pub struct RemoteSpace<C>(pub C);

impl<C: SpaceChannel> RemoteSpace<C> {
    fn call(&self, request: SpaceRequest) -> Reply {
        match self.0.request(&request) {
            Ok(reply) if reply.answers(&request) => reply,
            Ok(reply) => {
                self.0.failed(&request, format!("answered {request:?} with {reply:?}"));
                Reply::neutral(&request)
            }
            Err(e) => {
                self.0.failed(&request, e);
                Reply::neutral(&request)
            }
        }
    }

    /// Whether the peer knows the optional operations of protocol 1.1.
    fn has_optional_ops(&self) -> bool {
        self.0.peer_api().minor >= OPTIONAL_SPACE_OPS
    }

    fn maybe_arch(&self, request: SpaceRequest) -> Option<ArchText> {
        match self.call(request) {
            Reply::MaybeArch(a) => a.map(ArchText),
            _ => unreachable!("call() returns a reply of the requested kind"),
        }
    }

    fn choices(&self, request: SpaceRequest) -> Option<Vec<usize>> {
        match self.call(request) {
            Reply::Decisions(d) => d,
            _ => unreachable!("call() returns a reply of the requested kind"),
        }
    }

    fn cost(&self, arch: &ArchText) -> (Option<u64>, Option<u64>) {
        if !self.has_optional_ops() {
            return (None, None);
        }
        match self.call(SpaceRequest::Cost { arch: arch.0.clone() }) {
            Reply::Cost { params, macs } => (params, macs),
            _ => unreachable!("call() returns a reply of the requested kind"),
        }
    }

    fn arch(&self, request: SpaceRequest) -> ArchText {
        match self.call(request) {
            Reply::Arch(a) => ArchText(a),
            _ => unreachable!("call() returns a reply of the requested kind"),
        }
    }
}

impl<C: SpaceChannel> SearchSpace for RemoteSpace<C> {
    type Arch = ArchText;

    fn name(&self) -> &str {
        self.0.space_name()
    }

    fn sample(&self, rng: &mut Rng) -> ArchText {
        self.arch(SpaceRequest::Sample { seed: rng.next_u64() })
    }

    fn mutate(&self, arch: &ArchText, rng: &mut Rng) -> ArchText {
        self.arch(SpaceRequest::Mutate { arch: arch.0.clone(), seed: rng.next_u64() })
    }

    fn neighbours(&self, arch: &ArchText) -> Vec<ArchText> {
        match self.call(SpaceRequest::Neighbours { arch: arch.0.clone() }) {
            Reply::Archs(v) => v.into_iter().map(ArchText).collect(),
            _ => unreachable!("call() returns a reply of the requested kind"),
        }
    }

    fn format(&self, arch: &ArchText) -> String {
        arch.0.clone()
    }

    fn parse(&self, s: &str) -> Result<ArchText, ParseArchError> {
        let request = SpaceRequest::Parse { text: s.to_owned() };
        match self.0.request(&request) {
            Ok(Reply::Arch(a)) => Ok(ArchText(a)),
            Ok(other) => {
                self.0.failed(&request, format!("answered a parse with {other:?}"));
                Err(ParseArchError { space: self.name().to_owned(), input: s.to_owned(), reason: "the space failed".into() })
            }
            Err(reason) => Err(ParseArchError { space: self.name().to_owned(), input: s.to_owned(), reason }),
        }
    }

    fn canonical_key(&self, arch: &ArchText) -> String {
        match self.call(SpaceRequest::CanonicalKey { arch: arch.0.clone() }) {
            Reply::Key(k) => k,
            _ => unreachable!("call() returns a reply of the requested kind"),
        }
    }

    fn to_graph(&self, arch: &ArchText) -> ArchGraph {
        match self.call(SpaceRequest::Graph { arch: arch.0.clone() }) {
            Reply::Graph(g) => g,
            _ => unreachable!("call() returns a reply of the requested kind"),
        }
    }

    fn encode(&self, arch: &ArchText) -> Vec<f32> {
        match self.call(SpaceRequest::Encode { arch: arch.0.clone() }) {
            Reply::Encoding(e) => e,
            _ => unreachable!("call() returns a reply of the requested kind"),
        }
    }

    fn size(&self) -> Option<u128> {
        match self.call(SpaceRequest::Size) {
            Reply::Size(s) => s.and_then(|s| s.parse().ok()),
            _ => unreachable!("call() returns a reply of the requested kind"),
        }
    }

    fn describe(&self, arch: &ArchText) -> Vec<(String, String)> {
        match self.call(SpaceRequest::Describe { arch: arch.0.clone() }) {
            Reply::Facts(f) => f,
            _ => unreachable!("call() returns a reply of the requested kind"),
        }
    }

    fn crossover(&self, a: &ArchText, b: &ArchText, rng: &mut Rng) -> Option<ArchText> {
        // The seed is drawn either way, so the caller's stream does not
        // depend on the peer's version.
        let seed = rng.next_u64();
        self.has_optional_ops().then(|| self.maybe_arch(SpaceRequest::Crossover { a: a.0.clone(), b: b.0.clone(), seed }))?
    }

    fn decisions(&self) -> Option<Vec<usize>> {
        self.has_optional_ops().then(|| self.choices(SpaceRequest::Decisions))?
    }

    fn arch_from_decisions(&self, choices: &[usize]) -> Option<ArchText> {
        self.has_optional_ops().then(|| self.maybe_arch(SpaceRequest::FromDecisions { choices: choices.to_vec() }))?
    }

    fn arch_decisions(&self, arch: &ArchText) -> Option<Vec<usize>> {
        self.has_optional_ops().then(|| self.choices(SpaceRequest::ArchDecisions { arch: arch.0.clone() }))?
    }

    fn params(&self, arch: &ArchText) -> Option<u64> {
        self.cost(arch).0
    }

    fn macs(&self, arch: &ArchText) -> Option<u64> {
        self.cost(arch).1
    }

    fn failure(&self) -> Option<String> {
        self.0.failure()
    }
}

/// Encodes a message.
pub fn encode<T: Serialize>(message: &T) -> Vec<u8> {
    serde_json::to_vec(message).expect("protocol messages always serialise")
}

/// Decodes a message, with the error as text for the other side.
pub fn decode<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, String> {
    serde_json::from_slice(bytes).map_err(|e| format!("malformed protocol message: {e}"))
}

#[cfg(test)]
mod tests {
    use nasforge_core::EvalError;

    use super::*;

    #[test]
    fn non_finite_metrics_cross_and_old_peers_hear_an_error_they_know() {
        let metrics = Metrics { valid: f64::NAN, test: Some(f64::INFINITY), ..Metrics::default() };
        let reply: Reply = decode(&encode(&Reply::Evaluation(Ok(metrics)))).unwrap();
        let Reply::Evaluation(Ok(m)) = reply else { panic!("{reply:?}") };
        assert!(m.valid.is_nan() && m.test == Some(f64::INFINITY));
        let non_finite = Err(EvalError::NonFinite { objective: "valid".into(), metrics: Box::new(Metrics::with_valid(f64::NAN)) });
        let old = ApiVersion { minor: 1, ..API };
        assert_eq!(outcome_for(old, &non_finite), Err(EvalError::Other("objective `valid` is not a finite number".into())));
        assert!(matches!(outcome_for(API, &non_finite), Err(EvalError::NonFinite { .. })));
    }

    #[test]
    fn messages_round_trip() {
        let requests = [
            Request::Space(SpaceRequest::Mutate { arch: "a".into(), seed: u64::MAX }),
            Request::Space(SpaceRequest::Size),
            Request::Ask,
            Request::Tell { arch: "a".into(), outcome: Err(EvalError::NotInTable("a".into())) },
            Request::Tell { arch: "b".into(), outcome: Ok(Metrics::with_valid(0.5)) },
            Request::Estimate { arch: ArchMessage { space: "s".into(), text: "a".into(), graph: ArchGraph::default() }, trial: 3, seed: 9 },
        ];
        for r in requests {
            assert_eq!(decode::<Request>(&encode(&r)).unwrap(), r);
        }
        let c = Create { seed: 1, space: "nas-bench-201".into(), config: serde_json::json!({"population": 64}), base: "/data".into() };
        assert_eq!(decode::<Create>(&encode(&c)).unwrap(), c);
        let replies = [Reply::Size(Some(u128::MAX.to_string())), Reply::Proposal(None), Reply::Encoding(vec![0.5, 1.0]), Reply::Done];
        for r in replies {
            assert_eq!(decode::<Reply>(&encode(&r)).unwrap(), r);
        }
    }

    /// A peer that answers nothing, speaking `minor`.
    struct Silent {
        minor: u32,
        asked: std::sync::Mutex<Vec<SpaceRequest>>,
    }

    impl SpaceChannel for Silent {
        fn space_name(&self) -> &str {
            "silent"
        }
        fn request(&self, request: &SpaceRequest) -> Result<Reply, String> {
            self.asked.lock().unwrap().push(request.clone());
            Ok(Reply::neutral(request))
        }
        fn failed(&self, _: &SpaceRequest, error: String) {
            panic!("{error}");
        }
        fn failure(&self) -> Option<String> {
            None
        }
        fn peer_api(&self) -> ApiVersion {
            ApiVersion { minor: self.minor, ..API }
        }
    }

    #[test]
    fn a_peer_from_protocol_1_0_is_never_sent_the_optional_operations() {
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let (a, b) = (ArchText("a".into()), ArchText("b".into()));
        for minor in [0, 1] {
            let space = RemoteSpace(Silent { minor, asked: Default::default() });
            assert_eq!(space.decisions(), None);
            assert_eq!(space.arch_from_decisions(&[0]), None);
            assert_eq!(space.arch_decisions(&a), None);
            assert_eq!(space.crossover(&a, &b, &mut rng), None);
            assert_eq!((space.params(&a), space.macs(&a)), (None, None));
            let asked = space.0.asked.lock().unwrap().len();
            assert_eq!(asked, if minor == 0 { 0 } else { 6 }, "protocol 1.{minor}");
        }
    }

    #[test]
    fn seeds_survive_json() {
        // u64 seeds above 2^53 must not pass through a float.
        let r = Request::Space(SpaceRequest::Sample { seed: (1 << 60) + 1 });
        assert_eq!(decode::<Request>(&encode(&r)).unwrap(), r);
    }

    #[test]
    fn minor_additions_are_compatible_and_majors_are_not() {
        let v = |major, minor| ApiVersion { major, minor, patch: 0 };
        assert!(compatible(v(1, 2), v(1, 0)));
        assert!(!compatible(v(1, 0), v(1, 2)));
        assert!(!compatible(v(2, 0), v(1, 0)));
    }
}
