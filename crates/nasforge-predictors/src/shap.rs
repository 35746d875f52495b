//! Exact TreeSHAP (Lundberg, Erion and Lee, "Consistent Individualized
//! Feature Attribution for Tree Ensembles", 2018, Algorithm 2) over the
//! trees of [`crate::gbdt`], with the path-dependent conditional
//! expectation the `shap` package's `TreeExplainer` uses by default
//! (`feature_perturbation = "tree_path_dependent"`: an unknown feature
//! follows both children, weighted by their training covers).
//!
//! GBDT-NAS-3S reads these to prune operation choices.

use crate::gbdt::{Gbdt, Tree};

#[derive(Clone, Copy, Debug)]
struct PathElement {
    feature: usize,
    zero: f64,
    one: f64,
    weight: f64,
}

fn extend(path: &mut Vec<PathElement>, zero: f64, one: f64, feature: usize) {
    let l = path.len();
    path.push(PathElement { feature, zero, one, weight: if l == 0 { 1.0 } else { 0.0 } });
    for i in (0..l).rev() {
        path[i + 1].weight += one * path[i].weight * (i + 1) as f64 / (l + 1) as f64;
        path[i].weight = zero * path[i].weight * (l - i) as f64 / (l + 1) as f64;
    }
}

fn unwind(path: &mut Vec<PathElement>, i: usize) {
    let l = path.len() - 1;
    let (one, zero) = (path[i].one, path[i].zero);
    let mut n = path[l].weight;
    for j in (0..l).rev() {
        if one != 0.0 {
            let t = path[j].weight;
            path[j].weight = n * (l + 1) as f64 / ((j + 1) as f64 * one);
            n = t - path[j].weight * zero * (l - j) as f64 / (l + 1) as f64;
        } else {
            path[j].weight = path[j].weight * (l + 1) as f64 / (zero * (l - j) as f64);
        }
    }
    for j in i..l {
        path[j].feature = path[j + 1].feature;
        path[j].zero = path[j + 1].zero;
        path[j].one = path[j + 1].one;
    }
    path.pop();
}

fn unwound_sum(path: &[PathElement], i: usize) -> f64 {
    let l = path.len() - 1;
    let (one, zero) = (path[i].one, path[i].zero);
    let mut total = 0.0;
    if one != 0.0 {
        let mut n = path[l].weight;
        for j in (0..l).rev() {
            let t = n * (l + 1) as f64 / ((j + 1) as f64 * one);
            total += t;
            n = path[j].weight - t * zero * (l - j) as f64 / (l + 1) as f64;
        }
    } else {
        for j in (0..l).rev() {
            total += path[j].weight * (l + 1) as f64 / (zero * (l - j) as f64);
        }
    }
    total
}

#[allow(clippy::too_many_arguments)]
fn recurse(tree: &Tree, x: &[f64], phi: &mut [f64], node: usize, mut path: Vec<PathElement>, zero: f64, one: f64, feature: usize) {
    extend(&mut path, zero, one, feature);
    let n = &tree.nodes[node];
    if n.is_leaf() {
        for i in 1..path.len() {
            let w = unwound_sum(&path, i);
            phi[path[i].feature] += w * (path[i].one - path[i].zero) * n.value;
        }
        return;
    }
    let xv = crate::gbdt::clean(x[n.feature]);
    let (hot, cold) = if xv <= n.threshold { (n.left, n.right) } else { (n.right, n.left) };
    let (mut iz, mut io) = (1.0, 1.0);
    if let Some(k) = path.iter().skip(1).position(|p| p.feature == n.feature).map(|k| k + 1) {
        iz = path[k].zero;
        io = path[k].one;
        unwind(&mut path, k);
    }
    let cover = n.cover;
    let (hc, cc) = (tree.nodes[hot].cover, tree.nodes[cold].cover);
    recurse(tree, x, phi, hot, path.clone(), iz * hc / cover, io, n.feature);
    recurse(tree, x, phi, cold, path, iz * cc / cover, 0.0, n.feature);
}

/// One tree's SHAP values for `x` (length `width`).
pub fn tree_shap(tree: &Tree, x: &[f64], width: usize) -> Vec<f64> {
    let mut phi = vec![0.0; width];
    if !tree.nodes.is_empty() && !tree.nodes[0].is_leaf() {
        recurse(tree, x, &mut phi, 0, Vec::new(), 1.0, 1.0, usize::MAX);
    }
    phi
}

/// A tree's expected output over its training rows (the SHAP base value).
pub fn expected_value(tree: &Tree) -> f64 {
    let root = tree.nodes[0].cover;
    tree.nodes.iter().filter(|n| n.is_leaf()).map(|n| n.value * n.cover / root).sum()
}

/// The ensemble's SHAP values for `x`, in standardised label units: they
/// sum to `gbdt.raw(x)` minus the base value.
pub fn shap_values(gbdt: &Gbdt, x: &[f64]) -> Vec<f64> {
    let mut phi = vec![0.0; gbdt.width()];
    for t in gbdt.trees() {
        for (p, v) in phi.iter_mut().zip(tree_shap(t, x, gbdt.width())) {
            *p += v;
        }
    }
    phi
}

/// The ensemble's base value (the sum of its trees' expected values).
pub fn base_value(gbdt: &Gbdt) -> f64 {
    gbdt.trees().iter().map(expected_value).sum()
}

#[cfg(test)]
mod tests {
    use nasforge_core::seeded_rng;
    use rand::Rng;

    use super::*;
    use crate::Predictor;
    use crate::gbdt::GbdtConfig;

    /// E[f(x) | x_S] with unknown features following both children by
    /// cover: the expectation TreeSHAP's values are Shapley values of.
    fn conditional(tree: &Tree, x: &[f64], known: &[bool], node: usize) -> f64 {
        let n = &tree.nodes[node];
        if n.is_leaf() {
            return n.value;
        }
        if known[n.feature] {
            let next = if x[n.feature] <= n.threshold { n.left } else { n.right };
            return conditional(tree, x, known, next);
        }
        let (l, r) = (&tree.nodes[n.left], &tree.nodes[n.right]);
        (l.cover * conditional(tree, x, known, n.left) + r.cover * conditional(tree, x, known, n.right)) / n.cover
    }

    fn brute_force(tree: &Tree, x: &[f64], width: usize) -> Vec<f64> {
        let fact = |k: usize| (1..=k).map(|v| v as f64).product::<f64>();
        let mut phi = vec![0.0; width];
        for (i, p) in phi.iter_mut().enumerate() {
            for mask in 0..(1u32 << width) {
                if mask & (1 << i) != 0 {
                    continue;
                }
                let s = mask.count_ones() as usize;
                let mut known: Vec<bool> = (0..width).map(|j| mask & (1 << j) != 0).collect();
                let without = conditional(tree, x, &known, 0);
                known[i] = true;
                let with = conditional(tree, x, &known, 0);
                *p += fact(s) * fact(width - s - 1) / fact(width) * (with - without);
            }
        }
        phi
    }

    #[test]
    fn tree_shap_equals_brute_force_shapley_values_and_sums_to_the_prediction() {
        let mut rng = seeded_rng(11);
        let width = 5;
        let x: Vec<Vec<f64>> = (0..300).map(|_| (0..width).map(|_| f64::from(rng.random_range(0..3u8))).collect()).collect();
        let y: Vec<f64> = x.iter().map(|r| r[0] * r[1] - 2.0 * r[2] + (r[3] > 1.0) as u8 as f64 * r[4]).collect();
        let mut g = Gbdt::new(GbdtConfig { rounds: 5, learning_rate: 0.5, min_child_weight: 5, ..GbdtConfig::default() });
        g.fit(&x, &y, 2).unwrap();
        for row in x.iter().take(20) {
            for t in g.trees() {
                let fast = tree_shap(t, row, width);
                let slow = brute_force(t, row, width);
                for (a, b) in fast.iter().zip(&slow) {
                    assert!((a - b).abs() < 1e-9, "{fast:?} vs {slow:?}");
                }
            }
            let phi = shap_values(&g, row);
            let total: f64 = phi.iter().sum::<f64>() + base_value(&g);
            assert!((total - g.raw(row)).abs() < 1e-9, "{total} vs {}", g.raw(row));
        }
    }
}
