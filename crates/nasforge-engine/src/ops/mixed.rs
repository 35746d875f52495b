//! Mixed operations of weight-sharing supernets: [`mix`], the weighted sum
//! of a mixed edge's candidate outputs, and [`mix_one`], GDAS' edge that
//! computes one sampled candidate, each with gradients for the outputs
//! and for the weights (so for the architecture parameters they come
//! from).

use dfdx::prelude::*;

use super::{T4, values};

/// `Σ_t w[k_t] · x_t` over `terms = [(k_t, x_t)]`, all of one shape;
/// `weights` has one entry per candidate operation, and a candidate no
/// term names is the zero operation (it contributes nothing, and its
/// weight's gradient is 0). The weights carry their own tape (a softmax
/// of architecture parameters, a straight-through Gumbel sample), merged
/// with the terms': each term receives `w[k_t] · g`, each weight
/// `Σ g · x_t` over its terms.
///
/// # Panics
/// With no terms, terms of different shapes, or a term's index outside
/// `weights`.
pub fn mix<T: Tape<f32, Cpu> + Merge<T>>(terms: Vec<(usize, T4<T>)>, weights: Tensor<(usize,), f32, Cpu, T>) -> T4<T> {
    let shape = *terms.first().expect("mix needs a term").1.shape();
    let (weights, mut tape) = weights.split_tape();
    let w = values(&weights);
    let dev = weights.device().clone();
    let mut out = vec![0.0f32; shape.num_elements()];
    // Each term's index, its values (for the weights' gradient) and ghost.
    let mut kept = Vec::with_capacity(terms.len());
    for (k, t) in terms {
        assert!(k < w.len(), "mix: term index {k} of {} weights", w.len());
        assert_eq!(*t.shape(), shape, "mix: terms of different shapes");
        let (t, t_tape) = t.split_tape();
        tape = tape.merge(t_tape);
        let v = values(&t);
        out.iter_mut().zip(&v).for_each(|(o, x)| *o += w[k] * x);
        kept.push((k, v, t.ghost()));
    }
    let out = dev.tensor_from_vec(out, shape);
    if T::OWNS_TAPE {
        let out_ghost = out.ghost();
        let w_ghost = weights.ghost();
        tape.add_backward_op(move |grads| {
            grads.try_alloc_for(&out_ghost)?;
            let g = std::mem::take::<Vec<f32>>(grads.get_or_alloc_mut(&out_ghost)?);
            let mut gw = vec![0.0f32; w.len()];
            for (k, v, ghost) in &kept {
                gw[*k] += g.iter().zip(v).map(|(a, b)| a * b).sum::<f32>();
                let gx = grads.get_or_alloc_mut(ghost)?;
                gx.iter_mut().zip(&g).for_each(|(a, b)| *a += w[*k] * b);
            }
            grads.try_alloc_for(&w_ghost)?;
            let gw_slot = grads.get_or_alloc_mut(&w_ghost)?;
            gw_slot.iter_mut().zip(&gw).for_each(|(a, b)| *a += b);
            **grads.get_or_alloc_mut(&out_ghost)? = g;
            Ok(())
        });
    }
    out.put_tape(tape)
}

/// GDAS' hard mixed edge (Dong & Yang, CVPR 2019; `GDAS` of
/// AutoDL-Projects): only candidate `k`'s output `x` is computed, and the
/// edge outputs `w[k] · x + Σ_{j≠k} w[j]`, the other weights added as
/// scalars. With straight-through weights (`one_hot − p.detach() + p`)
/// those are 0 and `w[k]` is 1 in value, so the output is `x`; in the
/// backward pass `w[k]` gets `Σ g · x` and every other weight `Σ g`, as
/// the reference's `weights[_ie] * edge[_ie](x) if _ie == index else
/// weights[_ie]` gives them. `x = None` is the zero operation's output,
/// of `shape`.
///
/// # Panics
/// If `k` is outside `weights`.
pub fn mix_one<T: Tape<f32, Cpu> + Merge<T>>(k: usize, x: Option<T4<T>>, shape: (usize, usize, usize, usize), weights: Tensor<(usize,), f32, Cpu, T>) -> T4<T> {
    let (weights, mut tape) = weights.split_tape();
    let w = values(&weights);
    assert!(k < w.len(), "mix_one: candidate {k} of {} weights", w.len());
    let dev = weights.device().clone();
    let rest: f32 = w.iter().enumerate().filter(|&(j, _)| j != k).map(|(_, v)| v).sum();
    let (x, x_ghost) = match x {
        Some(x) => {
            assert_eq!(*x.shape(), shape, "mix_one: the output's shape");
            let (x, x_tape) = x.split_tape();
            tape = tape.merge(x_tape);
            let ghost = x.ghost();
            (Some(values(&x)), Some(ghost))
        }
        None => (None, None),
    };
    let out: Vec<f32> = match &x {
        Some(v) => v.iter().map(|a| w[k] * a + rest).collect(),
        None => vec![rest; shape.num_elements()],
    };
    let out = dev.tensor_from_vec(out, shape);
    if T::OWNS_TAPE {
        let out_ghost = out.ghost();
        let w_ghost = weights.ghost();
        tape.add_backward_op(move |grads| {
            grads.try_alloc_for(&out_ghost)?;
            let g = std::mem::take::<Vec<f32>>(grads.get_or_alloc_mut(&out_ghost)?);
            let total: f32 = g.iter().sum();
            let mut gw = vec![total; w.len()];
            gw[k] = match &x {
                Some(v) => g.iter().zip(v).map(|(a, b)| a * b).sum(),
                None => 0.0,
            };
            if let Some(ghost) = &x_ghost {
                grads.try_alloc_for(ghost)?;
                let gx = grads.get_or_alloc_mut(ghost)?;
                gx.iter_mut().zip(&g).for_each(|(a, b)| *a += w[k] * b);
            }
            grads.try_alloc_for(&w_ghost)?;
            let gw_slot = grads.get_or_alloc_mut(&w_ghost)?;
            gw_slot.iter_mut().zip(&gw).for_each(|(a, b)| *a += b);
            **grads.get_or_alloc_mut(&out_ghost)? = g;
            Ok(())
        });
    }
    out.put_tape(tape)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::tests::grad_check;
    use crate::ops::{Pool, avg_pool2d};

    #[test]
    fn mix_gradients_match_finite_differences_through_a_softmax_of_the_parameters() {
        // Four candidates: ReLU, zero (no term), a pool, identity; the
        // weights a softmax of the parameters, as DARTS' mixed edge.
        let err = grad_check((2, 3, 4, 4), &[4], 1e-3, &|x, ps| {
            let w = ps[0].clone().leaky_trace().softmax::<Axis<0>>();
            let pool = avg_pool2d(x.with_empty_tape(), Pool { kernel: 3, stride: 1, padding: 1 });
            mix(vec![(0, x.with_empty_tape().relu()), (2, pool), (3, x)], w)
        });
        assert!(err < 1e-2, "{err}");
    }

    #[test]
    fn mix_one_gradients_match_finite_differences() {
        // Soft weights (not straight-through), so every weight's value
        // shows in the output and finite differences see each gradient.
        for k in [1, 2] {
            let err = grad_check((2, 3, 4, 4), &[4], 1e-3, &|x, ps| {
                let w = ps[0].clone().leaky_trace().softmax::<Axis<0>>();
                let shape = *x.shape();
                if k == 2 {
                    mix_one(k, Some(x.relu()), shape, w)
                } else {
                    // The zero operation: x reaches the output around it.
                    let (w, w_tape) = w.split_tape();
                    let (x, x_tape) = x.split_tape();
                    mix_one(k, None, shape, w.put_tape(w_tape.merge(x_tape))) + x
                }
            });
            assert!(err < 1e-2, "{k}: {err}");
        }
    }

    #[test]
    fn mix_one_with_straight_through_weights_outputs_the_sampled_candidate() {
        let dev = Cpu::default();
        let x: T4<NoneTape> = dev.tensor_from_vec(vec![1.0, -2.0], (1, 1, 1, 2));
        let w: Tensor<(usize,), f32, Cpu> = dev.tensor_from_vec(vec![0.0, 1.0, 0.0], (3,));
        let y = mix_one(1, Some(x.leaky_trace()), (1, 1, 1, 2), w.leaky_trace());
        assert_eq!(y.as_vec(), vec![1.0, -2.0]);
        let g = y.sum().backward();
        assert_eq!(g.get(&w).as_vec(), vec![2.0, -1.0, 2.0]);
        assert_eq!(g.get(&x).as_vec(), vec![1.0, 1.0]);
    }

    #[test]
    fn a_candidate_without_a_term_is_the_zero_operation() {
        let dev = Cpu::default();
        let x: T4<NoneTape> = dev.tensor_from_vec(vec![1.0, -2.0], (1, 1, 1, 2));
        let w: Tensor<(usize,), f32, Cpu> = dev.tensor_from_vec(vec![0.25, 0.75], (2,));
        let y = mix(vec![(0, x.leaky_trace())], w.leaky_trace());
        assert_eq!(y.as_vec(), vec![0.25, -0.5]);
        let g = y.sum().backward();
        assert_eq!(g.get(&w).as_vec(), vec![-1.0, 0.0]);
        assert_eq!(g.get(&x).as_vec(), vec![0.25, 0.25]);
    }
}
