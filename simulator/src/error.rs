//! The simulator's errors.

/// Why a plant could not be simulated.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum SimulatorError {
    /// A configuration field is out of range; `field` is its path in [`crate::PlantConfig`].
    #[error("invalid simulator config: `{field}` {problem}")]
    InvalidConfig {
        field: &'static str,
        problem: String,
    },
    /// An array design the simulator cannot build; `design` is its name.
    #[error("array type {design}: {problem}")]
    UnsupportedDesign { design: String, problem: String },
}
