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
pub const API: ApiVersion = ApiVersion { major: 1, minor: 0, patch: 0 };

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
