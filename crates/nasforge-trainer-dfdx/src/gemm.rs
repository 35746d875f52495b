//! A safe, checked front to the `gemm` crate's matrix product.

use gemm::Parallelism;

/// A read-only matrix view: `rows × cols`, element `(i, j)` at
/// `data[i * row_stride + j * col_stride]`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct View<'a> {
    pub data: &'a [f32],
    pub rows: usize,
    pub cols: usize,
    pub row_stride: usize,
    pub col_stride: usize,
}

impl<'a> View<'a> {
    /// A row-major matrix.
    pub fn rows(data: &'a [f32], rows: usize, cols: usize) -> Self {
        Self { data, rows, cols, row_stride: cols, col_stride: 1 }
    }

    /// The transpose, without copying.
    pub fn t(self) -> Self {
        Self { data: self.data, rows: self.cols, cols: self.rows, row_stride: self.col_stride, col_stride: self.row_stride }
    }

    fn max_index(&self) -> usize {
        if self.rows == 0 || self.cols == 0 { 0 } else { (self.rows - 1) * self.row_stride + (self.cols - 1) * self.col_stride }
    }
}

/// `dst = a × b` (or `dst += a × b` when `accumulate`), with `dst` row-major
/// `a.rows × b.cols` whose rows are `dst_row_stride` apart.
///
/// # Panics
/// When the shapes disagree or a view reaches past its slice.
pub(crate) fn matmul(a: View<'_>, b: View<'_>, dst: &mut [f32], dst_row_stride: usize, accumulate: bool, threads: usize) {
    assert_eq!(a.cols, b.rows, "inner dimensions");
    let (m, n, k) = (a.rows, b.cols, a.cols);
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            for i in 0..m {
                dst[i * dst_row_stride..i * dst_row_stride + n].fill(0.0);
            }
        }
        return;
    }
    assert!(a.max_index() < a.data.len() && b.max_index() < b.data.len(), "operand out of bounds");
    assert!((m - 1) * dst_row_stride + n <= dst.len() && dst_row_stride >= n, "destination out of bounds");
    let parallelism = if threads > 1 { Parallelism::Rayon(threads) } else { Parallelism::None };
    // SAFETY: every index the kernel touches is inside the slices, as
    // asserted above from the shapes and strides; `dst` is borrowed mutably
    // and does not alias the shared operands.
    #[allow(unsafe_code)]
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            dst_row_stride as isize,
            accumulate,
            a.data.as_ptr(),
            a.col_stride as isize,
            a.row_stride as isize,
            b.data.as_ptr(),
            b.col_stride as isize,
            b.row_stride as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            parallelism,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_a_naive_product_with_transposes_and_accumulation() {
        let a: Vec<f32> = (0..6).map(|v| v as f32).collect(); // 2×3
        let b: Vec<f32> = (0..12).map(|v| (v as f32) * 0.5).collect(); // 3×4
        let mut c = vec![1.0; 8];
        matmul(View::rows(&a, 2, 3), View::rows(&b, 3, 4), &mut c, 4, true, 1);
        let naive = |i: usize, j: usize| (0..3).map(|k| a[i * 3 + k] * b[k * 4 + j]).sum::<f32>() + 1.0;
        for i in 0..2 {
            for j in 0..4 {
                assert!((c[i * 4 + j] - naive(i, j)).abs() < 1e-5);
            }
        }
        // (bᵀ)ᵀ = b through a transposed view.
        let bt: Vec<f32> = (0..12).map(|i| b[(i % 3) * 4 + i / 3]).collect(); // 4×3
        let mut d = vec![0.0; 8];
        matmul(View::rows(&a, 2, 3), View::rows(&bt, 4, 3).t(), &mut d, 4, false, 2);
        for i in 0..8 {
            assert!((d[i] - (c[i] - 1.0)).abs() < 1e-5);
        }
    }
}
