//! The tensor-level IR: a graph of [`Op`]s with concrete shapes ([`Fact`]s) and f64 weights.

mod display;
mod fact;
mod graph;
mod op;
mod tensor;
mod verify;

pub use display::to_text;
pub use fact::Fact;
pub use graph::{Graph, Node, NodeId};
pub use op::{Affine, BatchNorm, Conv2d, Dense, Op, Pool2d};
pub use tensor::{broadcast_shapes, broadcast_to, strides, Tensor};
pub use verify::verify;
