//! Checkpoints in memory: named f32 tensors and text metadata, written as
//! safetensors bytes, for whatever a long search must resume from (a
//! supernet's weights and statistics, its optimisers' moments).

use std::collections::{BTreeMap, HashMap};

/// Named tensors (shape and values) and metadata; names sort, so the
/// bytes of equal states are equal.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct State {
    tensors: BTreeMap<String, (Vec<usize>, Vec<f32>)>,
    meta: BTreeMap<String, String>,
}

impl State {
    /// An empty state.
    pub fn new() -> Self {
        Self::default()
    }

    /// Stores tensor `name`, replacing one of that name.
    pub fn put(&mut self, name: impl Into<String>, shape: &[usize], values: Vec<f32>) {
        debug_assert_eq!(shape.iter().product::<usize>(), values.len());
        self.tensors.insert(name.into(), (shape.to_vec(), values));
    }

    /// Tensor `name`'s values, checked against the expected shape.
    pub fn get(&self, name: &str, shape: &[usize]) -> Result<&[f32], String> {
        let (s, v) = self.tensors.get(name).ok_or_else(|| format!("no tensor `{name}` (another network?)"))?;
        if s != shape {
            return Err(format!("`{name}` has shape {s:?}, expected {shape:?}"));
        }
        Ok(v)
    }

    /// How many tensors are stored.
    pub fn len(&self) -> usize {
        self.tensors.len()
    }

    /// Whether no tensor is stored.
    pub fn is_empty(&self) -> bool {
        self.tensors.is_empty()
    }

    /// Whether tensor `name` is stored.
    pub fn contains(&self, name: &str) -> bool {
        self.tensors.contains_key(name)
    }

    /// Stores metadata `key`.
    pub fn set_meta(&mut self, key: impl Into<String>, value: impl Into<String>) {
        self.meta.insert(key.into(), value.into());
    }

    /// Metadata `key`.
    pub fn meta(&self, key: &str) -> Option<&str> {
        self.meta.get(key).map(String::as_str)
    }

    /// The safetensors bytes.
    pub fn to_bytes(&self) -> Result<Vec<u8>, String> {
        let buffers: Vec<(&String, &Vec<usize>, Vec<u8>)> =
            self.tensors.iter().map(|(n, (s, v))| (n, s, v.iter().flat_map(|x| x.to_le_bytes()).collect())).collect();
        let views = buffers
            .iter()
            .map(|(n, s, b)| {
                let view = safetensors::tensor::TensorView::new(safetensors::Dtype::F32, (*s).clone(), b).map_err(|e| e.to_string())?;
                Ok(((*n).clone(), view))
            })
            .collect::<Result<Vec<_>, String>>()?;
        let meta: HashMap<String, String> = self.meta.clone().into_iter().collect();
        safetensors::serialize(views, &(!meta.is_empty()).then_some(meta)).map_err(|e| e.to_string())
    }

    /// Reads bytes written by [`State::to_bytes`] (or any safetensors file
    /// of f32 tensors).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, String> {
        let (_, header) = safetensors::SafeTensors::read_metadata(bytes).map_err(|e| e.to_string())?;
        let st = safetensors::SafeTensors::deserialize(bytes).map_err(|e| e.to_string())?;
        let mut state = State::new();
        for (name, t) in st.tensors() {
            if t.dtype() != safetensors::Dtype::F32 {
                return Err(format!("`{name}` is {:?}, not f32", t.dtype()));
            }
            let values = t.data().chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
            state.tensors.insert(name, (t.shape().to_vec(), values));
        }
        if let Some(meta) = header.metadata() {
            state.meta = meta.clone().into_iter().collect();
        }
        Ok(state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_state_round_trips_through_bytes_and_checks_shapes() {
        let mut s = State::new();
        s.put("b", &[2], vec![1.0, -2.5]);
        s.put("a", &[1, 3], vec![0.0, f32::MIN_POSITIVE, 7.0]);
        s.set_meta("epoch", "4");
        let bytes = s.to_bytes().unwrap();
        let back = State::from_bytes(&bytes).unwrap();
        assert_eq!(back, s);
        assert_eq!(back.to_bytes().unwrap(), bytes);
        assert_eq!(back.meta("epoch"), Some("4"));
        assert!(back.get("a", &[3]).unwrap_err().contains("expected [3]"));
        assert!(back.get("c", &[1]).is_err());
        assert!(State::from_bytes(b"not a checkpoint").is_err());
    }
}
