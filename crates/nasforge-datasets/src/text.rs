//! Character-level text (tiny-Shakespeare): a sorted character
//! vocabulary and contiguous train/validation/test token runs.

use std::path::{Path, PathBuf};

use crate::{DataError, data_error};

/// Character-level text: a vocabulary and the text as token ids, split
/// into contiguous train (90 %), validation (5 %) and test (5 %) parts.
#[derive(Clone, Debug, PartialEq)]
pub struct CharText {
    /// The distinct characters, sorted; token `i` is `vocab[i]`.
    pub vocab: Vec<char>,
    /// Training tokens.
    pub train: Vec<u16>,
    /// Validation tokens.
    pub valid: Vec<u16>,
    /// Test tokens.
    pub test: Vec<u16>,
    /// The file the text was read from, for errors about it (a split too
    /// short for a trainer's windows, say); `None` for text built in memory.
    pub path: Option<PathBuf>,
}

/// Loads a UTF-8 text file as characters.
pub fn char_text(path: impl AsRef<Path>) -> Result<CharText, DataError> {
    let path = path.as_ref();
    let text = std::fs::read_to_string(path).map_err(|e| data_error(path, format!("cannot read as UTF-8 text: {e}")))?;
    let mut vocab: Vec<char> = text.chars().collect();
    vocab.sort_unstable();
    vocab.dedup();
    if vocab.len() > usize::from(u16::MAX) {
        return Err(data_error(path, "more than 65,535 distinct characters"));
    }
    let tokens: Vec<u16> = text.chars().map(|c| vocab.binary_search(&c).expect("in vocab") as u16).collect();
    let (a, b) = (tokens.len() * 90 / 100, tokens.len() * 95 / 100);
    Ok(CharText { vocab, train: tokens[..a].to_vec(), valid: tokens[a..b].to_vec(), test: tokens[b..].to_vec(), path: Some(path.to_owned()) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::shared;

    #[test]
    fn shakespeare_has_its_65_symbols() {
        let t = char_text(shared("text/tinyshakespeare.txt")).unwrap();
        assert_eq!(t.vocab.len(), 65);
        assert_eq!(t.train.len() + t.valid.len() + t.test.len(), 1_115_394);
        assert_eq!(t.path.as_deref(), Some(shared("text/tinyshakespeare.txt").as_path()));
    }
}
