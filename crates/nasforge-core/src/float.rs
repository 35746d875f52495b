//! Floats that survive every text format a measurement travels through.
//!
//! JSON has no literal for NaN or infinity, and serde_json writes them as
//! `null`, which then fails to read back as a number: one NaN metric (a
//! training loss averaged over zero steps, say) used to make a whole
//! journal unreadable. Here finite values stay numbers and the others
//! become the strings `"NaN"`, `"inf"` and `"-inf"`. Reading also takes
//! `null` as NaN, so journals written before this encoding still open.

use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// An `f64` with the lossless encoding.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Lossless(pub(crate) f64);

impl Serialize for Lossless {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let v = self.0;
        if v.is_finite() {
            s.serialize_f64(v)
        } else if v.is_nan() {
            s.serialize_str("NaN")
        } else if v > 0.0 {
            s.serialize_str("inf")
        } else {
            s.serialize_str("-inf")
        }
    }
}

struct FloatVisitor;

impl<'de> Visitor<'de> for FloatVisitor {
    type Value = Lossless;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a number, or \"NaN\", \"inf\" or \"-inf\"")
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Lossless, E> {
        Ok(Lossless(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Lossless, E> {
        Ok(Lossless(v as f64))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Lossless, E> {
        Ok(Lossless(v as f64))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Lossless, E> {
        match v {
            "NaN" | "nan" => Ok(Lossless(f64::NAN)),
            "inf" | "+inf" | "Infinity" => Ok(Lossless(f64::INFINITY)),
            "-inf" | "-Infinity" => Ok(Lossless(f64::NEG_INFINITY)),
            other => Err(E::invalid_value(de::Unexpected::Str(other), &self)),
        }
    }

    fn visit_unit<E: de::Error>(self) -> Result<Lossless, E> {
        Ok(Lossless(f64::NAN))
    }

    fn visit_none<E: de::Error>(self) -> Result<Lossless, E> {
        Ok(Lossless(f64::NAN))
    }
}

impl<'de> Deserialize<'de> for Lossless {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(FloatVisitor)
    }
}

/// `#[serde(with)]` for an `f64` field.
pub(crate) mod plain {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
        Lossless(*v).serialize(s)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        Lossless::deserialize(d).map(|l| l.0)
    }
}

/// `#[serde(with)]` for an `Option<f64>` field (a `null` reads as `None`).
pub(crate) mod option {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(v: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
        v.map(Lossless).serialize(s)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
        Ok(Option::<Lossless>::deserialize(d)?.map(|l| l.0))
    }
}

/// `#[serde(with)]` for named values, `Vec<(String, f64)>`.
pub(crate) mod pairs {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(v: &[(String, f64)], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(v.iter().map(|(n, x)| (n, Lossless(*x))))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<(String, f64)>, D::Error> {
        Ok(Vec::<(String, Lossless)>::deserialize(d)?.into_iter().map(|(n, l)| (n, l.0)).collect())
    }
}
