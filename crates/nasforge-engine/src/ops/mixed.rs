//! Mixed operations of weight-sharing supernets: [`mix`], the weighted sum
//! of a mixed edge's candidate outputs, with gradients for the outputs and
//! for the weights (so for the architecture parameters they come from).

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
