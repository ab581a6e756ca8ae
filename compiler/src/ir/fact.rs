//! What the compiler knows about a value: its concrete shape (all values are f64 tensors).

use std::fmt;

/// The type of a node's output: a concrete shape, batch axis first where there is one.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Fact {
    /// The shape.
    pub shape: Vec<usize>,
}

impl Fact {
    /// A fact for a shape.
    pub fn new(shape: Vec<usize>) -> Self {
        Self { shape }
    }

    /// Number of values.
    pub fn volume(&self) -> usize {
        self.shape.iter().product()
    }
}

impl fmt::Display for Fact {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[")?;
        for (i, d) in self.shape.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{d}")?;
        }
        f.write_str("]")
    }
}
