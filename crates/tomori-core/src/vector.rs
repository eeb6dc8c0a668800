//! Exact cosine search over a server's document chunks.
//!
//! Vectors are normalised once, when they are loaded, and kept row after row in one contiguous
//! `Vec<f32>` ([`Matrix`]), so a search is one pass of dot products over memory read in order.
//! A server has at most 1,000 chunks ([`crate::document::MAX_CHUNKS_PER_SERVER`]), which makes
//! this exact search cheaper than keeping an approximate index up to date (see
//! `docs/performance.md` for the numbers).

/// The longest vector accepted (the largest embedding models produce 3,072 or 4,096).
pub const MAX_DIMENSION: usize = 8_192;

/// Why a vector was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum VectorError {
    /// Its length differs from the matrix's dimension.
    #[error("a vector of {found} dimensions where {expected} were expected")]
    Dimension {
        /// The matrix's dimension.
        expected: usize,
        /// The vector's length.
        found: usize,
    },
    /// It is empty, too long, all zeros, or has a NaN or an infinity.
    #[error("a vector that is empty, too long, all zeros or not finite")]
    Degenerate,
}

/// Scales `v` to length 1. False (and `v` unchanged) when it is empty, longer than
/// [`MAX_DIMENSION`], all zeros, or has a NaN or an infinity (or values so large that its squared
/// length overflows): such a vector has no direction to compare.
pub fn normalise(v: &mut [f32]) -> bool {
    if v.is_empty() || v.len() > MAX_DIMENSION {
        return false;
    }
    // A NaN or an infinity anywhere makes the squared length NaN or infinite, so one pass that
    // the compiler can vectorise checks the values too.
    let norm = dot(v, v).sqrt();
    if !(norm.is_finite() && norm > 0.0) {
        return false;
    }
    let scale = norm.recip();
    for x in v.iter_mut() {
        *x *= scale;
    }
    true
}

/// The dot product, summed in eight lanes so the compiler can use SIMD (the order of additions
/// differs from a plain left-to-right sum by rounding only).
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0.0_f32; 8];
    let chunks_a = a.chunks_exact(8);
    let chunks_b = b.chunks_exact(8);
    let (rest_a, rest_b) = (chunks_a.remainder(), chunks_b.remainder());
    for (x, y) in chunks_a.zip(chunks_b) {
        for ((lane, p), q) in lanes.iter_mut().zip(x).zip(y) {
            *lane += p * q;
        }
    }
    let tail: f32 = rest_a.iter().zip(rest_b).map(|(p, q)| p * q).sum();
    lanes.iter().sum::<f32>() + tail
}

/// One search result: a row of the matrix and its cosine similarity to the query.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hit {
    /// The row, in the order vectors were pushed.
    pub row: usize,
    /// Cosine similarity, -1 to 1.
    pub score: f32,
}

/// Normalised vectors of one dimension, stored contiguously.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Matrix {
    dimension: usize,
    data: Vec<f32>,
}

impl Matrix {
    /// An empty matrix for vectors of `dimension`, with room for `rows`.
    pub fn with_capacity(dimension: usize, rows: usize) -> Self {
        Self { dimension, data: Vec::with_capacity(dimension.saturating_mul(rows)) }
    }

    /// Adds a vector (normalised on the way in) as the next row.
    ///
    /// # Errors
    /// A vector of another dimension, or one [`normalise`] refuses; the matrix is unchanged.
    pub fn push(&mut self, vector: &[f32]) -> Result<(), VectorError> {
        if vector.len() != self.dimension {
            return Err(VectorError::Dimension { expected: self.dimension, found: vector.len() });
        }
        let start = self.data.len();
        self.data.extend_from_slice(vector);
        if !self.data.get_mut(start..).is_some_and(normalise) {
            self.data.truncate(start);
            return Err(VectorError::Degenerate);
        }
        Ok(())
    }

    /// The vectors' dimension.
    pub fn dimension(&self) -> usize {
        self.dimension
    }

    /// How many rows.
    pub fn len(&self) -> usize {
        self.data.len().checked_div(self.dimension).unwrap_or(0)
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The memory the vectors take, in bytes.
    pub fn bytes(&self) -> usize {
        self.data.len() * size_of::<f32>()
    }

    /// The `k` rows most similar to `query` with a similarity of at least `min_score`, best
    /// first (ties: the earlier row first). Nothing when the query has another dimension or
    /// cannot be normalised.
    pub fn top_k(&self, query: &[f32], k: usize, min_score: f32) -> Vec<Hit> {
        let mut query = query.to_vec();
        if k == 0 || query.len() != self.dimension || !normalise(&mut query) {
            return Vec::new();
        }
        let mut best: Vec<Hit> = Vec::with_capacity(k + 1);
        for (row, values) in self.data.chunks_exact(self.dimension).enumerate() {
            let score = dot(values, &query);
            if score < min_score
                || (best.len() == k && best.last().is_some_and(|w| score <= w.score))
            {
                continue;
            }
            let at = best.iter().position(|h| score > h.score).unwrap_or(best.len());
            best.insert(at, Hit { row, score });
            best.truncate(k);
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matrix(rows: &[&[f32]]) -> Matrix {
        let mut m = Matrix::with_capacity(rows.first().map_or(0, |r| r.len()), rows.len());
        for row in rows {
            m.push(row).unwrap();
        }
        m
    }

    #[test]
    fn normalising_refuses_what_has_no_direction() {
        let cases: &[(&[f32], Option<&[f32]>)] = &[
            (&[3.0, 4.0], Some(&[0.6, 0.8])),
            (&[0.0, -2.0], Some(&[0.0, -1.0])),
            (&[], None),
            (&[0.0, 0.0], None),
            (&[f32::NAN, 1.0], None),
            (&[f32::INFINITY, 1.0], None),
        ];
        for (input, expected) in cases {
            let mut v = input.to_vec();
            let ok = normalise(&mut v);
            match expected {
                Some(want) => {
                    assert!(ok, "{input:?}");
                    for (got, want) in v.iter().zip(*want) {
                        assert!((got - want).abs() < 1e-6, "{input:?} → {v:?}");
                    }
                }
                None => assert!(!ok, "{input:?} should be refused"),
            }
        }
        assert!(!normalise(&mut vec![1.0; MAX_DIMENSION + 1]));
    }

    #[test]
    fn dot_products_match_a_plain_sum_at_every_length() {
        for len in [1, 7, 8, 9, 16, 17, 1536] {
            let a: Vec<f32> = (0..len).map(|i| ((i * 7 % 13) as f32) - 6.0).collect();
            let b: Vec<f32> = (0..len).map(|i| ((i * 5 % 11) as f32) - 5.0).collect();
            let plain: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
            assert!((dot(&a, &b) - plain).abs() <= plain.abs() * 1e-5 + 1e-3, "length {len}");
        }
    }

    #[test]
    fn top_k_ranks_by_cosine_above_the_threshold() {
        let m = matrix(&[
            &[1.0, 0.0, 0.0],  // 0: the query's direction
            &[0.0, 1.0, 0.0],  // 1: orthogonal
            &[2.0, 2.0, 0.0],  // 2: 45°, cos 0.707 (length does not matter)
            &[-1.0, 0.0, 0.0], // 3: opposite
            &[5.0, 0.1, 0.0],  // 4: nearly the query
            &[1.0, 1.0, 1.0],  // 5: cos 0.577
        ]);
        let rows = |hits: Vec<Hit>| hits.iter().map(|h| h.row).collect::<Vec<_>>();
        let query = [3.0, 0.0, 0.0];
        assert_eq!(rows(m.top_k(&query, 6, 0.5)), [0, 4, 2, 5]);
        assert_eq!(rows(m.top_k(&query, 2, 0.5)), [0, 4]);
        assert_eq!(rows(m.top_k(&query, 6, 0.6)), [0, 4, 2]);
        assert_eq!(rows(m.top_k(&query, 6, -1.0)), [0, 4, 2, 5, 1, 3]);
        assert_eq!(rows(m.top_k(&query, 0, 0.5)), Vec::<usize>::new());
        let top = m.top_k(&query, 1, 0.5);
        assert!((top[0].score - 1.0).abs() < 1e-6);
        // A query of another dimension, or without direction, finds nothing.
        assert!(m.top_k(&[1.0, 0.0], 6, 0.0).is_empty());
        assert!(m.top_k(&[0.0, 0.0, 0.0], 6, -1.0).is_empty());
    }

    #[test]
    fn equal_scores_keep_the_earlier_row_first() {
        let m = matrix(&[&[0.0, 1.0], &[1.0, 0.0], &[2.0, 0.0], &[1.0, 0.0]]);
        let hits = m.top_k(&[1.0, 0.0], 2, 0.5);
        assert_eq!(hits.iter().map(|h| h.row).collect::<Vec<_>>(), [1, 2]);
    }

    #[test]
    fn pushing_checks_the_dimension_and_the_values() {
        let mut m = Matrix::with_capacity(2, 1);
        assert_eq!(m.push(&[1.0]), Err(VectorError::Dimension { expected: 2, found: 1 }));
        assert_eq!(m.push(&[0.0, 0.0]), Err(VectorError::Degenerate));
        assert!(m.is_empty());
        m.push(&[1.0, 1.0]).unwrap();
        assert_eq!((m.len(), m.dimension(), m.bytes()), (1, 2, 8));
    }
}
