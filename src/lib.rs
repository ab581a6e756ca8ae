//! blindfold: compile trained convolutional networks into CKKS circuits and classify encrypted
//! images.
//!
//! The facade re-exports the two crates, [`runtime`] (the CKKS engine and the circuit
//! executor) and [`compiler`], and adds what a user of both needs: [`compile_file`] (a model and
//! calibration images from disk), [`dataset`] (image and data-set readers), and the two roles of
//! encrypted inference, [`Client`] (keys, encryption, decryption) and [`Server`] (runs a circuit
//! on ciphertexts with evaluation keys only). [`precision`] shows the owner of the keys where an
//! encrypted run loses precision, step by step.
//!
//! See `examples/client_server.rs` for the whole round trip.

pub mod client;
pub mod compile;
pub mod dataset;
pub mod error;
pub mod precision;
pub mod server;
pub mod service;

pub use client::Client;
pub use compile::compile_file;
pub use error::Error;
pub use server::{PreparedCircuit, Server};

pub use blindfold_compiler as compiler;
pub use blindfold_runtime as runtime;
