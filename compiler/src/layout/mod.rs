//! Packing tensors into ciphertext slots, and linear layers as diagonal transforms.
//!
//! A [`Layout`] says where every element of a tensor lies: a flat slot index `ct · slots +
//! slot` over as many ciphertexts as needed. Spatial tensors carry a [`Grid`] (channel bases,
//! row and column pitch) so that strided layers can keep their input's grid with gaps, or fold
//! several channels into the gaps ("multiplexed" packing), instead of compacting, which would
//! turn a convolution's few constant diagonals into thousands.
//!
//! A chain of linear ops is one [`LinearMap`]; [`diagonals::plan`] tries the candidate output
//! layouts, extracts the generalized diagonals per (output block, input block) and picks the
//! baby-step count and the layout with the cheapest cost ([`cost`]).

use std::collections::BTreeSet;

pub mod cost;
pub mod diagonals;
pub mod linear_map;

pub use linear_map::LinearMap;

/// The spatial structure of a `[1, C, H, W]` layout: element `(c, h, w)` lies at
/// `channel_base[c] + h·row + w·col`.
#[derive(Clone, Debug, PartialEq)]
pub struct Grid {
    /// Flat slot of element `(c, 0, 0)`.
    pub channel_base: Vec<usize>,
    /// Distance in slots between two rows.
    pub row: usize,
    /// Distance in slots between two columns.
    pub col: usize,
    /// Height H.
    pub height: usize,
    /// Width W.
    pub width: usize,
}

impl Grid {
    /// Channel-major compact packing of `[1, C, H, W]`.
    pub fn compact(channels: usize, height: usize, width: usize) -> Self {
        Self {
            channel_base: (0..channels).map(|c| c * height * width).collect(),
            row: width,
            col: 1,
            height,
            width,
        }
    }

    fn positions(&self) -> Vec<usize> {
        let mut out = Vec::with_capacity(self.channel_base.len() * self.height * self.width);
        for &base in &self.channel_base {
            for h in 0..self.height {
                for w in 0..self.width {
                    out.push(base + h * self.row + w * self.col);
                }
            }
        }
        out
    }

    /// The distance between two blocks of channels: the first channel base past one channel's
    /// extent (multiplexed channels share a block at smaller offsets); `None` for one block.
    pub fn block_pitch(&self) -> Option<usize> {
        let extent = self.channel_extent();
        self.channel_base.iter().copied().find(|&b| b >= extent)
    }

    /// The slot extent of one channel of the grid (used as the channel pitch of gapped
    /// layouts derived from it).
    pub fn channel_extent(&self) -> usize {
        (self.height.max(1) - 1) * self.row + (self.width.max(1) - 1) * self.col + 1
    }
}

/// Where every element of a tensor lies in the slots of one or more ciphertexts.
#[derive(Clone, Debug, PartialEq)]
pub struct Layout {
    /// Tensor shape.
    pub shape: Vec<usize>,
    /// Slots per ciphertext.
    pub slots: usize,
    /// Number of ciphertexts.
    pub ciphertexts: usize,
    /// Per flat element, its flat slot `ct · slots + slot`.
    pub positions: Vec<usize>,
    /// The spatial structure, for `[1, C, H, W]` tensors packed as a grid.
    pub grid: Option<Grid>,
    /// Short name for reports (`compact`, `gapped x2`, `multiplexed x2`).
    pub name: String,
}

impl Layout {
    /// Elements in flat order, `slots` per ciphertext.
    pub fn compact(shape: &[usize], slots: usize) -> Self {
        if let [1, c, h, w] = shape {
            return Self::from_grid(shape, Grid::compact(*c, *h, *w), slots, "compact");
        }
        let n: usize = shape.iter().product();
        Self {
            shape: shape.to_vec(),
            slots,
            ciphertexts: n.div_ceil(slots).max(1),
            positions: (0..n).collect(),
            grid: None,
            name: "compact".into(),
        }
    }

    /// The layout of a grid.
    pub fn from_grid(shape: &[usize], grid: Grid, slots: usize, name: &str) -> Self {
        let positions = grid.positions();
        let end = positions.iter().max().map_or(1, |m| m + 1);
        Self {
            shape: shape.to_vec(),
            slots,
            ciphertexts: end.div_ceil(slots).max(1),
            positions,
            grid: Some(grid),
            name: name.into(),
        }
    }

    /// The same positions seen as another shape of the same volume (a reshape is free).
    pub fn reshaped(&self, shape: &[usize]) -> Self {
        let mut out = self.clone();
        out.shape = shape.to_vec();
        if !matches!(shape, [1, _, _, _]) || shape != self.shape.as_slice() {
            out.grid = None;
        }
        out
    }

    /// `(ciphertext, slot)` of flat element `e`.
    pub fn locate(&self, e: usize) -> (usize, usize) {
        let p = self.positions[e];
        (p / self.slots, p % self.slots)
    }

    /// Whether no two elements share a slot.
    pub fn is_injective(&self) -> bool {
        let distinct: std::collections::HashSet<usize> = self.positions.iter().copied().collect();
        distinct.len() == self.positions.len()
    }

    /// Slots in use out of the ciphertexts spanned.
    pub fn occupancy(&self) -> f64 {
        self.positions.len() as f64 / (self.ciphertexts * self.slots) as f64
    }
}

/// Candidate output layouts for a linear chain producing `out_shape` from an input laid out as
/// `input`, where the chain's spatial strides multiply to `stride`.
pub fn candidates(
    input: &Layout,
    out_shape: &[usize],
    stride: [usize; 2],
    slots: usize,
) -> Vec<Layout> {
    let mut out = vec![Layout::compact(out_shape, slots)];
    let ([1, c, h, w], Some(g)) = (out_shape, &input.grid) else {
        return out;
    };
    let (c, h, w) = (*c, *h, *w);
    let [sh, sw] = stride;
    if sh * sw <= 1 && g.row == w && g.col == 1 {
        return with_aligned_channels(out, slots);
    }
    let row = g.row * sh;
    let col = g.col * sw;
    let pitch = g.channel_extent().max(row * h);
    // The output grid with channel `k` at `base(k)`.
    let grid = |base: &dyn Fn(usize) -> usize, name: String| {
        let grid = Grid {
            channel_base: (0..c).map(base).collect(),
            row,
            col,
            height: h,
            width: w,
        };
        Layout::from_grid(out_shape, grid, slots, &name)
    };
    out.push(grid(&|k| k * pitch, format!("gapped x{sh}")));
    let m = sh * sw;
    if m > 1 {
        out.push(grid(
            &|k| (k / m) * pitch + ((k % m) / sw) * g.row + (k % sw) * g.col,
            format!("multiplexed x{sh}"),
        ));
        // The input's own channels may already share blocks at sub-offsets (a multiplexed
        // input): the output can then use every combination of those and the new ones, so
        // that a second strided layer fills its blocks as densely as the first.
        let inner: BTreeSet<usize> = match g.block_pitch() {
            Some(p) => g.channel_base.iter().map(|b| b % p).collect(),
            None => BTreeSet::new(),
        };
        if inner.len() > 1 {
            let subs: BTreeSet<usize> = inner
                .iter()
                .flat_map(|&s| (0..m).map(move |k| s + (k / sw) * g.row + (k % sw) * g.col))
                .collect();
            let subs: Vec<usize> = subs.into_iter().collect();
            let n = subs.len();
            out.push(grid(
                &|k| (k / n) * pitch + subs[k % n],
                format!("multiplexed x{n}"),
            ));
        }
    }
    // A grid derived from a narrower input (padding widens the output) can overlap itself:
    // such a candidate is not a packing.
    out.retain(Layout::is_injective);
    with_aligned_channels(out, slots)
}

/// Each candidate preceded by its variant with channel blocks a power of two of slots apart
/// (when that needs no more ciphertexts): at equal cost the planner keeps the first, and the
/// next layer's channel distances then repeat modulo a power of two, which a fold to that
/// period or copies filling the ciphertext ([`diagonals::Replication`]) collapse.
fn with_aligned_channels(candidates: Vec<Layout>, slots: usize) -> Vec<Layout> {
    let mut out = Vec::with_capacity(2 * candidates.len());
    for cand in candidates {
        if let Some(aligned) = aligned_channels(&cand, slots) {
            out.push(aligned);
        }
        out.push(cand);
    }
    out
}

/// `layout` with its channel blocks (the first channel base past one channel's extent apart,
/// every channel's offset within its block kept) a power of two of slots apart; `None` when
/// they already are, when there is one block, or when that would need more ciphertexts.
fn aligned_channels(layout: &Layout, slots: usize) -> Option<Layout> {
    let grid = layout.grid.as_ref()?;
    let bases = &grid.channel_base;
    let pitch = grid.block_pitch()?;
    if pitch.is_power_of_two() {
        return None;
    }
    let aligned = pitch.next_power_of_two();
    let moved = Grid {
        channel_base: bases
            .iter()
            .map(|b| (b / pitch) * aligned + b % pitch)
            .collect(),
        ..grid.clone()
    };
    let out = Layout::from_grid(
        &layout.shape,
        moved,
        slots,
        &format!("{}, aligned", layout.name),
    );
    (out.ciphertexts == layout.ciphertexts && out.is_injective()).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_blocks_are_offered_aligned_to_a_power_of_two() {
        let compact = Layout::compact(&[1, 8, 28, 28], 16384);
        let aligned = aligned_channels(&compact, 16384).unwrap();
        let bases = &aligned.grid.as_ref().unwrap().channel_base;
        assert_eq!(bases, &(0..8).map(|c| c * 1024).collect::<Vec<_>>());
        assert!(aligned.is_injective());
        // Already aligned, or not fitting the same ciphertexts: no variant.
        assert!(aligned_channels(&aligned, 16384).is_none());
        assert!(aligned_channels(&Layout::compact(&[1, 20, 28, 28], 16384), 16384).is_none());
    }

    #[test]
    fn a_second_strided_layer_fills_its_blocks_with_every_sub_offset() {
        // 32x32 compact channels, then two layers of stride 2 each.
        let slots = 32768;
        let input = Layout::compact(&[1, 16, 32, 32], slots);
        let first = candidates(&input, &[1, 32, 16, 16], [2, 2], slots);
        let mux = first
            .iter()
            .find(|l| l.name == "multiplexed x2")
            .unwrap()
            .clone();
        // 4 channels per 1024-slot block.
        assert_eq!(mux.positions.iter().max().map(|m| m / 1024 + 1), Some(8));
        let second = candidates(&mux, &[1, 64, 8, 8], [2, 2], slots);
        let dense = second.iter().find(|l| l.name == "multiplexed x16").unwrap();
        assert!(dense.is_injective());
        // 16 channels per block: 64 channels in 4 blocks instead of 16.
        assert_eq!(dense.positions.iter().max().map(|m| m / 1024 + 1), Some(4));
        let x2 = second.iter().find(|l| l.name == "multiplexed x2").unwrap();
        assert_eq!(x2.positions.iter().max().map(|m| m / 1024 + 1), Some(16));
    }
}
