//! A reader for the subset of Python pickles that benchmark tables use.
//!
//! NAS-Bench-Graph stores its tables as protocol-3 pickles of nested dicts
//! whose leaves are Python floats or numpy `float64` scalars. A numpy scalar
//! is pickled as a call `numpy.core.multiarray.scalar(dtype, raw_bytes)`;
//! general pickle crates cannot evaluate that call, so this module runs the
//! small stack machine itself and understands exactly those two globals.
//! Anything else is an error, never a guess.

use std::collections::HashMap;

/// A decoded pickle value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// `None`.
    None,
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A float (Python float or numpy scalar).
    Float(f64),
    /// A string.
    Str(String),
    /// Raw bytes.
    Bytes(Vec<u8>),
    /// A tuple or list.
    Seq(Vec<Value>),
    /// A dict, in insertion order.
    Dict(Vec<(Value, Value)>),
    /// A reference to `module.name`, not yet called.
    Global(String, String),
    /// A numpy dtype: its code (`f8`) and whether it is big-endian.
    Dtype(String, bool),
}

/// A pickle this reader does not understand, or a corrupt one.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("pickle byte {offset}: {reason}")]
pub struct PickleError {
    /// Where in the stream.
    pub offset: usize,
    /// What went wrong.
    pub reason: String,
}

struct Machine<'a> {
    data: &'a [u8],
    pos: usize,
    stack: Vec<Value>,
    marks: Vec<usize>,
    memo: HashMap<u32, Value>,
}

impl<'a> Machine<'a> {
    fn err<T>(&self, reason: impl Into<String>) -> Result<T, PickleError> {
        Err(PickleError { offset: self.pos, reason: reason.into() })
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], PickleError> {
        if self.pos + n > self.data.len() {
            return self.err("truncated");
        }
        let s = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn u8(&mut self) -> Result<u8, PickleError> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16, PickleError> {
        Ok(u16::from_le_bytes(self.take(2)?.try_into().expect("2 bytes")))
    }

    fn u32(&mut self) -> Result<u32, PickleError> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().expect("4 bytes")))
    }

    fn line(&mut self) -> Result<String, PickleError> {
        let rest = &self.data[self.pos..];
        let Some(end) = rest.iter().position(|&b| b == b'\n') else { return self.err("unterminated line") };
        let s = String::from_utf8_lossy(&rest[..end]).into_owned();
        self.pos += end + 1;
        Ok(s)
    }

    fn pop(&mut self) -> Result<Value, PickleError> {
        match self.stack.pop() {
            Some(v) => Ok(v),
            None => self.err("stack underflow"),
        }
    }

    fn pop_mark(&mut self) -> Result<Vec<Value>, PickleError> {
        let Some(m) = self.marks.pop() else { return self.err("no mark") };
        if m > self.stack.len() {
            return self.err("mark beyond stack");
        }
        Ok(self.stack.split_off(m))
    }

    fn top(&mut self) -> Result<&mut Value, PickleError> {
        let pos = self.pos;
        self.stack.last_mut().ok_or(PickleError { offset: pos, reason: "empty stack".into() })
    }

    fn string(&mut self, n: usize) -> Result<(), PickleError> {
        let s = String::from_utf8(self.take(n)?.to_vec());
        match s {
            Ok(s) => {
                self.stack.push(Value::Str(s));
                Ok(())
            }
            Err(_) => self.err("invalid UTF-8"),
        }
    }

    fn reduce(&mut self, func: Value, args: Value) -> Result<Value, PickleError> {
        let Value::Global(module, name) = &func else { return self.err("call of a non-global") };
        let Value::Seq(args) = args else { return self.err("arguments are not a tuple") };
        match (module.as_str(), name.as_str(), args.as_slice()) {
            ("numpy" | "numpy.core.multiarray" | "numpy._core.multiarray", "dtype", [Value::Str(code), ..]) => {
                Ok(Value::Dtype(code.clone(), false))
            }
            ("numpy.core.multiarray" | "numpy._core.multiarray", "scalar", [Value::Dtype(code, big), Value::Bytes(b)]) => {
                numpy_scalar(code, *big, b).map_or_else(|| self.err(format!("unsupported numpy scalar {code}")), Ok)
            }
            _ => self.err(format!("unsupported call {module}.{name}")),
        }
    }

    fn run(mut self) -> Result<Value, PickleError> {
        loop {
            let op = self.u8()?;
            match op {
                0x80 => {
                    self.u8()?; // PROTO
                }
                0x95 => {
                    self.take(8)?; // FRAME
                }
                b'.' => return self.pop(), // STOP
                b'}' => self.stack.push(Value::Dict(Vec::new())),
                b']' | b')' => self.stack.push(Value::Seq(Vec::new())),
                b'(' => self.marks.push(self.stack.len()),
                b'N' => self.stack.push(Value::None),
                0x88 => self.stack.push(Value::Bool(true)),
                0x89 => self.stack.push(Value::Bool(false)),
                b'K' => {
                    let v = self.u8()?;
                    self.stack.push(Value::Int(i64::from(v)));
                }
                b'M' => {
                    let v = self.u16()?;
                    self.stack.push(Value::Int(i64::from(v)));
                }
                b'J' => {
                    let v = self.u32()? as i32;
                    self.stack.push(Value::Int(i64::from(v)));
                }
                b'G' => {
                    let v = f64::from_be_bytes(self.take(8)?.try_into().expect("8 bytes"));
                    self.stack.push(Value::Float(v));
                }
                b'X' => {
                    let n = self.u32()? as usize;
                    self.string(n)?;
                }
                0x8c => {
                    let n = usize::from(self.u8()?);
                    self.string(n)?;
                }
                b'C' => {
                    let n = usize::from(self.u8()?);
                    let b = self.take(n)?.to_vec();
                    self.stack.push(Value::Bytes(b));
                }
                b'B' => {
                    let n = self.u32()? as usize;
                    let b = self.take(n)?.to_vec();
                    self.stack.push(Value::Bytes(b));
                }
                b'c' => {
                    let module = self.line()?;
                    let name = self.line()?;
                    self.stack.push(Value::Global(module, name));
                }
                b'q' => {
                    let k = u32::from(self.u8()?);
                    let v = self.top()?.clone();
                    self.memo.insert(k, v);
                }
                b'r' => {
                    let k = self.u32()?;
                    let v = self.top()?.clone();
                    self.memo.insert(k, v);
                }
                0x94 => {
                    let k = self.memo.len() as u32;
                    let v = self.top()?.clone();
                    self.memo.insert(k, v);
                }
                b'h' | b'j' => {
                    let k = if op == b'h' { u32::from(self.u8()?) } else { self.u32()? };
                    match self.memo.get(&k) {
                        Some(v) => self.stack.push(v.clone()),
                        None => return self.err(format!("memo key {k} missing")),
                    }
                }
                b't' => {
                    let items = self.pop_mark()?;
                    self.stack.push(Value::Seq(items));
                }
                0x85..=0x87 => {
                    let n = usize::from(op - 0x84);
                    if self.stack.len() < n {
                        return self.err("stack underflow");
                    }
                    let items = self.stack.split_off(self.stack.len() - n);
                    self.stack.push(Value::Seq(items));
                }
                b'R' => {
                    let args = self.pop()?;
                    let func = self.pop()?;
                    let v = self.reduce(func, args)?;
                    self.stack.push(v);
                }
                b'b' => {
                    // BUILD: only numpy dtypes take state here; the byte order
                    // is the state tuple's second item.
                    let state = self.pop()?;
                    if let (Value::Dtype(_, big), Value::Seq(items)) = (self.top()?, &state) {
                        *big = matches!(items.get(1), Some(Value::Str(s)) if s == ">");
                    } else {
                        return self.err("BUILD on an unsupported object");
                    }
                }
                b's' => {
                    let v = self.pop()?;
                    let k = self.pop()?;
                    match self.top()? {
                        Value::Dict(d) => d.push((k, v)),
                        _ => return self.err("SETITEM on a non-dict"),
                    }
                }
                b'u' => {
                    let items = self.pop_mark()?;
                    if items.len() % 2 != 0 {
                        return self.err("odd SETITEMS");
                    }
                    let mut it = items.into_iter();
                    let pos = self.pos;
                    let Value::Dict(d) = self.top()? else {
                        return Err(PickleError { offset: pos, reason: "SETITEMS on a non-dict".into() });
                    };
                    while let (Some(k), Some(v)) = (it.next(), it.next()) {
                        d.push((k, v));
                    }
                }
                b'a' | b'e' => {
                    let items = if op == b'a' { vec![self.pop()?] } else { self.pop_mark()? };
                    match self.top()? {
                        Value::Seq(s) => s.extend(items),
                        _ => return self.err("APPEND on a non-list"),
                    }
                }
                other => return self.err(format!("unsupported opcode 0x{other:02x}")),
            }
        }
    }
}

fn numpy_scalar(code: &str, big: bool, b: &[u8]) -> Option<Value> {
    macro_rules! num {
        ($t:ty, $n:expr, $wrap:expr) => {{
            let arr: [u8; $n] = b.try_into().ok()?;
            let v = if big { <$t>::from_be_bytes(arr) } else { <$t>::from_le_bytes(arr) };
            Some($wrap(v))
        }};
    }
    match code {
        "f8" => num!(f64, 8, Value::Float),
        "f4" => num!(f32, 4, |v: f32| Value::Float(f64::from(v))),
        "i8" => num!(i64, 8, Value::Int),
        "i4" => num!(i32, 4, |v: i32| Value::Int(i64::from(v))),
        _ => None,
    }
}

/// Decodes a pickle stream.
pub fn parse(data: &[u8]) -> Result<Value, PickleError> {
    Machine { data, pos: 0, stack: Vec::new(), marks: Vec::new(), memo: HashMap::new() }.run()
}

impl Value {
    /// The value as a number, when it is one.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Float(v) => Some(*v),
            Value::Int(v) => Some(*v as f64),
            _ => None,
        }
    }

    /// The entry for string key `key`, when this is a dict that has it.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Dict(d) => d.iter().find(|(k, _)| matches!(k, Value::Str(s) if s == key)).map(|(_, v)| v),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_a_dict_with_numpy_scalars() {
        // pickle.dumps({1: {'a': 0.5, 'b': numpy.float64(2.25)}}, protocol=3)
        let mut p: Vec<u8> = vec![0x80, 3, b'}', b'q', 0, b'K', 1, b'}', b'q', 1, b'(', b'X', 1, 0, 0, 0, b'a', b'G'];
        p.extend(0.5f64.to_be_bytes());
        p.extend([b'X', 1, 0, 0, 0, b'b']);
        p.extend(b"cnumpy.core.multiarray\nscalar\nq\x02cnumpy\ndtype\nq\x03X\x02\x00\x00\x00f8q\x04\x89\x88\x87q\x05Rq\x06");
        p.extend(b"(K\x03X\x01\x00\x00\x00<q\x07NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tq\x08bC\x08");
        p.extend(2.25f64.to_le_bytes());
        p.extend(b"q\x09\x86q\x0aRq\x0bus.");
        let v = parse(&p).unwrap();
        let Value::Dict(d) = &v else { panic!("{v:?}") };
        assert_eq!(d[0].0, Value::Int(1));
        assert_eq!(d[0].1.get("a").and_then(Value::as_f64), Some(0.5));
        assert_eq!(d[0].1.get("b").and_then(Value::as_f64), Some(2.25));
    }

    #[test]
    fn rejects_garbage_and_truncation() {
        assert!(parse(b"").is_err());
        assert!(parse(&[0x80, 3, b'}']).is_err());
        assert!(parse(b"cos\nsystem\n(X\x02\x00\x00\x00lstR.").is_err());
    }
}
