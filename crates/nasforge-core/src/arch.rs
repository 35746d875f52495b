//! The common computation-graph form of an architecture.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// An attribute value on a graph node (kernel size, channels, heads, ...).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum AttrValue {
    /// An integer attribute.
    Int(i64),
    /// A real attribute.
    Float(f64),
    /// A textual attribute.
    Text(String),
}

/// One node of an [`ArchGraph`]: an operation with its attributes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GraphNode {
    /// The operation, in the space's vocabulary (`nor_conv_3x3`, `gcn`,
    /// `input`, `output`, `sum`, ...).
    pub op: String,
    /// Attributes of the operation; sorted, so the form is deterministic.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attrs: BTreeMap<String, AttrValue>,
}

/// An architecture as a directed acyclic graph: nodes are operations,
/// edges carry tensors from one node to another.
///
/// Every space converts its genome to this form, so that graph encoders,
/// cost models and exporters work on any space. Nodes are listed in a
/// topological order; `edges` are `(from, to)` indices into `nodes`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ArchGraph {
    /// The operations, in topological order.
    pub nodes: Vec<GraphNode>,
    /// `(from, to)` pairs of node indices.
    pub edges: Vec<(usize, usize)>,
}

impl ArchGraph {
    /// Appends a node without attributes and returns its index.
    pub fn add_node(&mut self, op: impl Into<String>) -> usize {
        self.nodes.push(GraphNode { op: op.into(), attrs: BTreeMap::new() });
        self.nodes.len() - 1
    }

    /// Appends an edge.
    pub fn add_edge(&mut self, from: usize, to: usize) {
        self.edges.push((from, to));
    }

    /// The indices of the nodes feeding `node`.
    pub fn inputs_of(&self, node: usize) -> impl Iterator<Item = usize> + '_ {
        self.edges.iter().filter(move |e| e.1 == node).map(|e| e.0)
    }

    /// Checks the invariants: edge ends exist and point forward (which
    /// makes the graph acyclic and the node order topological).
    pub fn validate(&self) -> Result<(), String> {
        for &(a, b) in &self.edges {
            if a >= self.nodes.len() || b >= self.nodes.len() {
                return Err(format!("edge ({a}, {b}) names a missing node"));
            }
            if a >= b {
                return Err(format!("edge ({a}, {b}) does not point forward"));
            }
        }
        Ok(())
    }
}
