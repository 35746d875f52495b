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
    matmul_strided(a, b, dst, dst_row_stride, 1, accumulate, threads);
}

/// [`matmul`] into a destination whose element `(i, j)` lies at
/// `dst[i * row_stride + j * col_stride]` (one tap of a convolution's
/// weight gradient, say).
///
/// # Panics
/// When the shapes disagree, a view reaches past its slice, or two
/// destination elements would share an address.
pub(crate) fn matmul_strided(a: View<'_>, b: View<'_>, dst: &mut [f32], row_stride: usize, col_stride: usize, accumulate: bool, threads: usize) {
    assert_eq!(a.cols, b.rows, "inner dimensions");
    let (m, n, k) = (a.rows, b.cols, a.cols);
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            for i in 0..m {
                for j in 0..n {
                    dst[i * row_stride + j * col_stride] = 0.0;
                }
            }
        }
        return;
    }
    assert!(a.max_index() < a.data.len() && b.max_index() < b.data.len(), "operand out of bounds");
    assert!((m - 1) * row_stride + (n - 1) * col_stride < dst.len(), "destination out of bounds");
    // Rows step over whole rows or columns over whole columns: every
    // element has its own address, so the kernel's writes never race.
    assert!(
        (col_stride >= 1 && row_stride >= n * col_stride) || (row_stride >= 1 && col_stride >= m * row_stride),
        "destination elements overlap"
    );
    let parallelism = if threads > 1 { Parallelism::Rayon(threads) } else { Parallelism::None };
    // SAFETY: every index the kernel touches is inside the slices, as
    // asserted above from the shapes and strides; destination elements
    // are distinct; `dst` is borrowed mutably and does not alias the
    // shared operands.
    #[allow(unsafe_code)]
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            col_stride as isize,
            row_stride as isize,
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
        // Into the transpose of a 4×2 buffer: rows 1 apart, columns 2.
        let mut e = vec![0.0; 8];
        matmul_strided(View::rows(&a, 2, 3), View::rows(&b, 3, 4), &mut e, 1, 2, false, 1);
        for i in 0..2 {
            for j in 0..4 {
                assert!((e[j * 2 + i] - d[i * 4 + j]).abs() < 1e-5);
            }
        }
    }

    #[test]
    #[should_panic(expected = "overlap")]
    fn refuses_a_destination_whose_elements_overlap() {
        let a = vec![1.0; 4];
        let mut dst = vec![0.0; 8];
        matmul_strided(View::rows(&a, 2, 2), View::rows(&a, 2, 2), &mut dst, 1, 1, false, 1);
    }
}
