//! The blindfold compiler: turns a trained ONNX network into a CKKS circuit.
//!
//! The pipeline (see `DESIGN.md` at the repository root of the project documentation):
//! `import` (ONNX into a tensor IR) → `passes` (normalisation, activation approximation,
//! depth analysis) → `layout` (packing into slots) → `params` (CKKS parameters) → `lower`
//! (a `blindfold_runtime` circuit).
//!
//! This crate currently exposes only the runtime it builds on; the front end and back end
//! modules are added as they land, each with its own tests.

pub use blindfold_runtime as runtime;
