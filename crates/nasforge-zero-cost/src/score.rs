//! Scoring architectures: the network of each built once, every proxy run
//! on a fresh copy of its initial parameters.

use nasforge_core::{SearchSpace, derive_seed};
use nasforge_registry::{DynArch, ErasedSpace};

use crate::batch::{Batch, BatchKind};
use crate::net::{self, NetShape};
use crate::proxies::{self, Proxy, Session};

/// How architectures are scored: the space, the network size, the batch,
/// the proxies and the seed.
#[derive(Clone)]
pub struct Scorer {
    space: ErasedSpace,
    shape: NetShape,
    batch: Batch,
    proxies: Vec<&'static Proxy>,
    seed: u64,
    layerwise: bool,
}

/// The statistics of a layer-wise proxy's per-layer values that
/// [`Scorer::layerwise`] reports, in column order: mean, sd, min and max
/// over the layers a signal reaches; the mean over the first, middle and
/// last third of the layers (stem side to head side); and the fraction of
/// layers with a finite value.
pub const LAYER_STATS: [&str; 8] = ["mean", "sd", "min", "max", "first", "middle", "last", "live"];

/// [`LAYER_STATS`] of per-layer values (NaN: a layer without signal).
pub fn layer_stats(v: &[f64]) -> Vec<f64> {
    let finite: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
    let mean = |xs: &[f64]| if xs.is_empty() { f64::NAN } else { xs.iter().sum::<f64>() / xs.len() as f64 };
    let m = mean(&finite);
    let sd = (finite.iter().map(|x| (x - m).powi(2)).sum::<f64>() / finite.len().max(1) as f64).sqrt();
    let third = |k: usize| {
        let (lo, hi) = (k * v.len() / 3, (k + 1) * v.len() / 3);
        let part: Vec<f64> = v[lo..hi].iter().copied().filter(|x| x.is_finite()).collect();
        mean(&part)
    };
    let (min, max) = finite.iter().fold((f64::NAN, f64::NAN), |(lo, hi), &x| (lo.min(x), hi.max(x)));
    vec![m, if finite.is_empty() { f64::NAN } else { sd }, min, max, third(0), third(1), third(2), finite.len() as f64 / v.len().max(1) as f64]
}

/// The shape-only batch data-free proxies need on image spaces without a
/// dataset: `n` zero images, 3 × `size` × `size`, 10 classes.
pub fn blank_images(n: usize, size: usize) -> Batch {
    Batch {
        kind: BatchKind::Images { shape: (3, size, size) },
        input: vec![0.0; n * 3 * size * size],
        items: n,
        targets: (0..n as u32).map(|i| i % 10).collect(),
        classes: 10,
    }
}

impl Scorer {
    /// A scorer of `proxies` (names) over `space`'s architectures.
    ///
    /// `data` says whether `batch` holds real data (`false`: a shape-only
    /// batch, which data-dependent proxies refuse).
    pub fn new(space: ErasedSpace, shape: NetShape, batch: Batch, data: bool, proxies: &[String], seed: u64) -> Result<Scorer, String> {
        if net::data_kind(space.name()).is_none() {
            return Err(format!("no network is built for space `{}` here; zero-cost proxies serve {}", space.name(), net::SPACES.join(", ")));
        }
        if proxies.is_empty() {
            return Err(format!("name at least one proxy; valid choices: {}", proxies::names().join(", ")));
        }
        let mut chosen = Vec::new();
        for name in proxies {
            let p = proxies::proxy(name).ok_or_else(|| format!("unknown proxy `{name}`; valid choices: {}", proxies::names().join(", ")))?;
            if p.needs_data && !data {
                return Err(format!("proxy `{name}` reads a batch of data: give a dataset"));
            }
            if chosen.iter().any(|c: &&Proxy| c.name == p.name) {
                return Err(format!("proxy `{name}` is named twice"));
            }
            chosen.push(p);
        }
        Ok(Scorer { space, shape, batch, proxies: chosen, seed, layerwise: false })
    }

    /// A scorer whose columns are the [`LAYER_STATS`] of each proxy's
    /// per-layer values (`synflow@mean`, ...): ParZC's node-wise features.
    /// Every proxy must be layer-wise (a sum over layers).
    pub fn layerwise(mut self) -> Result<Scorer, String> {
        if let Some(p) = self.proxies.iter().find(|p| p.layers.is_none()) {
            let wise: Vec<&str> = crate::proxies::PROXIES.iter().filter(|p| p.layers.is_some()).map(|p| p.name).collect();
            return Err(format!("proxy `{}` is not a sum over layers; the layer-wise ones: {}", p.name, wise.join(", ")));
        }
        self.layerwise = true;
        Ok(self)
    }

    /// The columns, in order: proxy names, or `proxy@stat` when layer-wise.
    pub fn names(&self) -> Vec<String> {
        if self.layerwise {
            self.proxies.iter().flat_map(|p| LAYER_STATS.iter().map(move |s| format!("{}@{s}", p.name))).collect()
        } else {
            self.proxies.iter().map(|p| p.name.to_owned()).collect()
        }
    }

    /// What a score depends on besides the architecture, in one line:
    /// space, network size, batch (its shape and a hash of its contents),
    /// seed. The scores file refuses to mix rows of different settings.
    pub fn fingerprint(&self) -> String {
        // FNV-1a over the batch: inputs, targets, and the ids or scored
        // nodes that pick them.
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        let mut eat = |x: u64| {
            for b in x.to_le_bytes() {
                h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
            }
        };
        self.batch.input.iter().for_each(|v| eat(u64::from(v.to_bits())));
        self.batch.targets.iter().for_each(|&t| eat(u64::from(t)));
        let kind = match &self.batch.kind {
            BatchKind::Images { shape: (c, hh, w) } => format!("images {c}x{hh}x{w}"),
            BatchKind::Graph { graph, scored } => {
                scored.iter().for_each(|&v| eat(u64::from(v)));
                graph.edges.iter().for_each(|&(a, b)| eat(u64::from(a) << 32 | u64::from(b)));
                format!("graph {} nodes x {} features", graph.nodes, graph.feature_dim)
            }
            BatchKind::Text { ids, seq, vocab } => {
                ids.iter().for_each(|&t| eat(u64::from(t)));
                format!("text {seq} tokens, vocabulary {vocab}")
            }
        };
        let s = self.shape;
        // The space's own parameters, where they shape the network.
        let space = match self.space.downcast_ref::<nasforge_space_mobilenet::MobileNetSpace>() {
            Some(m) => format!("{} (width {})", self.space.name(), m.width),
            None => self.space.name().to_owned(),
        };
        format!(
            "space {space}; channels {}, cells {}, dim {}; batch {kind}, {} items, {} classes, hash {h:016x}; seed {}{}",
            s.channels,
            s.cells,
            s.dim,
            self.batch.items,
            self.batch.classes,
            self.seed,
            if self.layerwise { "; layer-wise" } else { "" }
        )
    }

    /// The space.
    pub fn space(&self) -> &ErasedSpace {
        &self.space
    }

    /// The seed of `arch`'s network: one per architecture, from the scorer's
    /// seed and the standard string, so a score does not depend on which
    /// other architectures are scored, in which order or on how many
    /// threads.
    pub fn net_seed(&self, arch: &DynArch) -> u64 {
        derive_seed(self.seed, &self.space.format(arch))
    }

    /// Every proxy's score of `arch`, in [`Scorer::names`] order; a proxy
    /// that cannot score it gives its reason.
    pub fn score(&self, arch: &DynArch) -> Result<Vec<Result<f64, String>>, String> {
        let seed = self.net_seed(arch);
        let mut net = net::build(&self.space, arch, self.shape, &self.batch, seed)?;
        // Only text batches differ per network (their input's width); the
        // others are borrowed, not copied (a graph batch holds every node's
        // features).
        let batch = match net.input_width() {
            Some(w) => std::borrow::Cow::Owned(self.batch.for_width(w)),
            None => std::borrow::Cow::Borrowed(&self.batch),
        };
        let initial = net.store().clone();
        let mut out = Vec::with_capacity(self.proxies.len());
        for p in &self.proxies {
            *net.store() = initial.clone();
            let homogeneous = net.homogeneous();
            let mut session = Session { net: net.as_mut(), batch: &batch, seed: derive_seed(seed, p.name), homogeneous };
            match p.layers.filter(|_| self.layerwise) {
                Some(layers) => match layers(&mut session) {
                    Ok(v) => out.extend(layer_stats(&v).into_iter().map(Ok)),
                    Err(e) => out.extend(LAYER_STATS.iter().map(|_| Err(format!("{}: {e}", p.name)))),
                },
                None => out.push((p.score)(&mut session).map_err(|e| format!("{}: {e}", p.name))),
            }
        }
        Ok(out)
    }

    /// The proxy vector of `arch` (the predictors' features): every score,
    /// or the first proxy's reason for failing.
    pub fn proxy_vector(&self, arch: &DynArch) -> Result<Vec<f64>, String> {
        self.score(arch)?.into_iter().collect()
    }
}
