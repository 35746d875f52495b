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

/// How deep materialised containers may nest. `Value`'s drop, clone and
/// comparison recurse, so a deeper tree could overflow a thread's stack
/// after parsing succeeded; benchmark tables nest three levels.
const MAX_DEPTH: usize = 2_000;

/// The most bytes of memory a pickle of `len` bytes may materialise into,
/// counted as [`Machine::expanded_bytes`] counts them. Memo references let
/// a few bytes name a container or a string many times over (a "billion
/// laughs" doubles per level), so the tree is bounded by the input's size,
/// not by what the memo allows: 64 bytes per input byte plus 64 MiB. The
/// NAS-Bench-Graph tables take about 6.5 bytes per input byte.
fn expansion_limit(len: usize) -> usize {
    len.saturating_mul(64).saturating_add(64 << 20)
}

/// The longest module or name line a GLOBAL (`c`) may have. Python's
/// dotted module names are far shorter; a longer line is corruption or a
/// way to make every memo reference to the global copy a huge string.
const MAX_GLOBAL_LINE: usize = 256;

/// The heap bytes `v`'s own strings hold (not its items').
fn payload(v: &Value) -> usize {
    match v {
        Value::Str(s) => s.len(),
        Value::Bytes(b) => b.len(),
        Value::Global(module, name) => module.len() + name.len(),
        Value::Dtype(code, _) => code.len(),
        Value::None | Value::Bool(_) | Value::Int(_) | Value::Float(_) | Value::Seq(_) | Value::Dict(_) => 0,
    }
}

/// An object as the machine holds it. Containers name their items by
/// arena index, so that the stack and the memo share objects the way
/// Python's references do: a dict memoized while empty and filled later
/// is the filled dict when fetched again.
#[derive(Debug)]
enum Node {
    /// A scalar, a global or a dtype (which BUILD may still change).
    Leaf(Value),
    /// A tuple or list.
    Seq(Vec<usize>),
    /// A dict, in insertion order.
    Dict(Vec<(usize, usize)>),
}

struct Machine<'a> {
    data: &'a [u8],
    pos: usize,
    nodes: Vec<Node>,
    stack: Vec<usize>,
    marks: Vec<usize>,
    memo: HashMap<u32, usize>,
}

impl<'a> Machine<'a> {
    fn new(data: &'a [u8]) -> Self {
        Machine { data, pos: 0, nodes: Vec::new(), stack: Vec::new(), marks: Vec::new(), memo: HashMap::new() }
    }

    fn err<T>(&self, reason: impl Into<String>) -> Result<T, PickleError> {
        Err(PickleError { offset: self.pos, reason: reason.into() })
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], PickleError> {
        // `pos <= len` always holds, so this cannot wrap where `pos + n` could.
        if n > self.data.len() - self.pos {
            return self.err(format!("truncated: {n} bytes wanted, {} left", self.data.len() - self.pos));
        }
        let s = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], PickleError> {
        let mut out = [0; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn u8(&mut self) -> Result<u8, PickleError> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16, PickleError> {
        Ok(u16::from_le_bytes(self.array()?))
    }

    fn u32(&mut self) -> Result<u32, PickleError> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    fn len32(&mut self) -> Result<usize, PickleError> {
        let n = self.u32()?;
        usize::try_from(n).or_else(|_| self.err(format!("length {n} does not fit in memory")))
    }

    /// A GLOBAL's module or name line, at most [`MAX_GLOBAL_LINE`] bytes.
    fn line(&mut self) -> Result<String, PickleError> {
        let rest = &self.data[self.pos..];
        // Only the line's allowed length (and its newline) is searched.
        let window = &rest[..rest.len().min(MAX_GLOBAL_LINE + 1)];
        let Some(end) = window.iter().position(|&b| b == b'\n') else {
            if window.len() > MAX_GLOBAL_LINE {
                return self.err(format!("a global's module or name is longer than {MAX_GLOBAL_LINE} bytes"));
            }
            return self.err("unterminated line");
        };
        let Ok(s) = std::str::from_utf8(&rest[..end]) else { return self.err("invalid UTF-8 in a global's name") };
        let s = s.to_owned();
        self.pos += end + 1;
        Ok(s)
    }

    fn push(&mut self, node: Node) {
        self.nodes.push(node);
        self.stack.push(self.nodes.len() - 1);
    }

    /// The lowest stack slot the current mark frame may touch: as in
    /// CPython, objects below the innermost MARK are out of reach until
    /// that mark is popped.
    fn floor(&self) -> usize {
        self.marks.last().copied().unwrap_or(0)
    }

    fn pop(&mut self) -> Result<usize, PickleError> {
        if self.stack.len() <= self.floor() {
            return self.err("stack underflow");
        }
        Ok(self.stack.pop().expect("above the floor"))
    }

    fn pop_n(&mut self, n: usize) -> Result<Vec<usize>, PickleError> {
        if self.stack.len() - self.floor() < n {
            return self.err("stack underflow");
        }
        Ok(self.stack.split_off(self.stack.len() - n))
    }

    fn pop_mark(&mut self) -> Result<Vec<usize>, PickleError> {
        let Some(m) = self.marks.pop() else { return self.err("no mark") };
        // Pops never go below the innermost mark, so `m <= len`.
        Ok(self.stack.split_off(m))
    }

    fn top(&self) -> Result<usize, PickleError> {
        if self.stack.len() <= self.floor() {
            return self.err("empty stack");
        }
        Ok(*self.stack.last().expect("above the floor"))
    }

    fn memoize(&mut self, key: u32) -> Result<(), PickleError> {
        let top = self.top()?;
        self.memo.insert(key, top);
        Ok(())
    }

    fn leaf(&self, id: usize) -> Option<&Value> {
        match &self.nodes[id] {
            Node::Leaf(v) => Some(v),
            _ => None,
        }
    }

    fn string(&mut self, n: usize) -> Result<(), PickleError> {
        match std::str::from_utf8(self.take(n)?) {
            Ok(s) => {
                let s = s.to_owned();
                self.push(Node::Leaf(Value::Str(s)));
                Ok(())
            }
            Err(_) => self.err("invalid UTF-8"),
        }
    }

    fn bytes(&mut self, n: usize) -> Result<(), PickleError> {
        let b = self.take(n)?.to_vec();
        self.push(Node::Leaf(Value::Bytes(b)));
        Ok(())
    }

    fn reduce(&self, func: usize, args: usize) -> Result<Value, PickleError> {
        let Some(Value::Global(module, name)) = self.leaf(func) else { return self.err("call of a non-global") };
        let Node::Seq(args) = &self.nodes[args] else { return self.err("arguments are not a tuple") };
        let args: Vec<Option<&Value>> = args.iter().map(|&a| self.leaf(a)).collect();
        match (module.as_str(), name.as_str(), args.as_slice()) {
            ("numpy" | "numpy.core.multiarray" | "numpy._core.multiarray", "dtype", [Some(Value::Str(code)), ..]) => {
                Ok(Value::Dtype(code.clone(), false))
            }
            ("numpy.core.multiarray" | "numpy._core.multiarray", "scalar", [Some(Value::Dtype(code, big)), Some(Value::Bytes(b))]) => {
                numpy_scalar(code, *big, b).map_or_else(|| self.err(format!("unsupported numpy scalar {code} of {} bytes", b.len())), Ok)
            }
            _ => self.err(format!("unsupported call {module}.{name}")),
        }
    }

    /// Runs the stream up to STOP; the object STOP pops (the root).
    fn run(&mut self) -> Result<usize, PickleError> {
        loop {
            let op = self.u8()?;
            match op {
                0x80 => {
                    self.u8()?; // PROTO
                }
                0x95 => {
                    self.take(8)?; // FRAME
                }
                b'.' => return self.pop(),
                b'}' => self.push(Node::Dict(Vec::new())),
                b']' | b')' => self.push(Node::Seq(Vec::new())),
                b'(' => self.marks.push(self.stack.len()),
                b'N' => self.push(Node::Leaf(Value::None)),
                0x88 => self.push(Node::Leaf(Value::Bool(true))),
                0x89 => self.push(Node::Leaf(Value::Bool(false))),
                b'K' => {
                    let v = self.u8()?;
                    self.push(Node::Leaf(Value::Int(i64::from(v))));
                }
                b'M' => {
                    let v = self.u16()?;
                    self.push(Node::Leaf(Value::Int(i64::from(v))));
                }
                b'J' => {
                    let v = i32::from_le_bytes(self.array()?);
                    self.push(Node::Leaf(Value::Int(i64::from(v))));
                }
                b'G' => {
                    let v = f64::from_be_bytes(self.array()?);
                    self.push(Node::Leaf(Value::Float(v)));
                }
                b'X' => {
                    let n = self.len32()?;
                    self.string(n)?;
                }
                0x8c => {
                    let n = usize::from(self.u8()?);
                    self.string(n)?;
                }
                b'C' => {
                    let n = usize::from(self.u8()?);
                    self.bytes(n)?;
                }
                b'B' => {
                    let n = self.len32()?;
                    self.bytes(n)?;
                }
                b'c' => {
                    let module = self.line()?;
                    let name = self.line()?;
                    self.push(Node::Leaf(Value::Global(module, name)));
                }
                b'q' => {
                    let k = u32::from(self.u8()?);
                    self.memoize(k)?;
                }
                b'r' => {
                    let k = self.u32()?;
                    self.memoize(k)?;
                }
                0x94 => {
                    // MEMOIZE numbers entries by the memo's size; at most one
                    // per input byte, so this only fails past 4 GiB.
                    let Ok(k) = u32::try_from(self.memo.len()) else { return self.err("memo full") };
                    self.memoize(k)?;
                }
                b'h' | b'j' => {
                    let k = if op == b'h' { u32::from(self.u8()?) } else { self.u32()? };
                    match self.memo.get(&k) {
                        Some(&id) => self.stack.push(id),
                        None => return self.err(format!("memo key {k} missing")),
                    }
                }
                b't' => {
                    let items = self.pop_mark()?;
                    self.push(Node::Seq(items));
                }
                0x85..=0x87 => {
                    let items = self.pop_n(usize::from(op - 0x84))?;
                    self.push(Node::Seq(items));
                }
                b'R' => {
                    let args = self.pop()?;
                    let func = self.pop()?;
                    let v = self.reduce(func, args)?;
                    self.push(Node::Leaf(v));
                }
                b'b' => {
                    // BUILD: only numpy dtypes take state here; the byte order
                    // is the state tuple's second item. The dtype is changed
                    // in place, so memo references to it see the order too.
                    let state = self.pop()?;
                    let top = self.top()?;
                    let big = match &self.nodes[state] {
                        Node::Seq(items) => matches!(items.get(1).and_then(|&i| self.leaf(i)), Some(Value::Str(s)) if s == ">"),
                        _ => return self.err("BUILD state is not a tuple"),
                    };
                    match &mut self.nodes[top] {
                        Node::Leaf(Value::Dtype(_, b)) => *b = big,
                        _ => return self.err("BUILD on an unsupported object"),
                    }
                }
                b's' => {
                    let v = self.pop()?;
                    let k = self.pop()?;
                    let top = self.top()?;
                    match &mut self.nodes[top] {
                        Node::Dict(d) => d.push((k, v)),
                        _ => return self.err("SETITEM on a non-dict"),
                    }
                }
                b'u' => {
                    let items = self.pop_mark()?;
                    if items.len() % 2 != 0 {
                        return self.err("odd SETITEMS");
                    }
                    let top = self.top()?;
                    match &mut self.nodes[top] {
                        Node::Dict(d) => d.extend(items.chunks_exact(2).map(|kv| (kv[0], kv[1]))),
                        _ => return self.err("SETITEMS on a non-dict"),
                    }
                }
                b'a' | b'e' => {
                    let items = if op == b'a' { vec![self.pop()?] } else { self.pop_mark()? };
                    let top = self.top()?;
                    match &mut self.nodes[top] {
                        Node::Seq(s) => s.extend(items),
                        _ => return self.err("APPEND on a non-list"),
                    }
                }
                other => return self.err(format!("unsupported opcode 0x{other:02x}")),
            }
        }
    }

    /// The bytes the `Value` tree under `root` would take: every value
    /// (`size_of::<Value>()`, once per reference, as [`Self::materialise`]
    /// copies shared objects) plus the strings, byte strings, globals' and
    /// dtypes' text each holds; saturating. It walks the object graph once
    /// (sizes of shared objects are remembered), so it costs time in the
    /// input's size and allocates nothing per reference. A container
    /// inside itself is an error.
    fn expanded_bytes(&self, root: usize) -> Result<usize, PickleError> {
        const UNSEEN: u8 = 0;
        const ON_PATH: u8 = 1;
        const DONE: u8 = 2;
        let children = |id: usize, k: usize| match &self.nodes[id] {
            Node::Leaf(_) => None,
            Node::Seq(items) => items.get(k).copied(),
            Node::Dict(pairs) => pairs.get(k / 2).map(|&(key, v)| if k % 2 == 0 { key } else { v }),
        };
        let own = |id: usize| size_of::<Value>() + if let Node::Leaf(v) = &self.nodes[id] { payload(v) } else { 0 };
        let mut state = vec![UNSEEN; self.nodes.len()];
        let mut size = vec![0usize; self.nodes.len()];
        // (node, index of the next child to visit, bytes so far)
        let mut path: Vec<(usize, usize, usize)> = vec![(root, 0, own(root))];
        state[root] = ON_PATH;
        while let Some(&mut (id, ref mut k, ref mut total)) = path.last_mut() {
            match children(id, *k) {
                Some(child) => {
                    *k += 1;
                    match state[child] {
                        DONE => *total = total.saturating_add(size[child]),
                        ON_PATH => return self.err("a container contains itself (recursive structures are not supported)"),
                        _ => {
                            state[child] = ON_PATH;
                            path.push((child, 0, own(child)));
                        }
                    }
                }
                None => {
                    let total = *total;
                    path.pop();
                    state[id] = DONE;
                    size[id] = total;
                    match path.last_mut() {
                        Some(parent) => parent.2 = parent.2.saturating_add(total),
                        None => return Ok(total),
                    }
                }
            }
        }
        unreachable!("the root's size is returned when its frame is popped")
    }

    /// Turns the object graph under `root` into a `Value` tree, without
    /// recursion: shared objects are copied per reference (the caller has
    /// bounded the result with [`Self::expanded_bytes`]), a container
    /// inside itself is an error, and so is nesting deeper than
    /// [`MAX_DEPTH`].
    fn materialise(&self, root: usize) -> Result<Value, PickleError> {
        struct Frame {
            node: usize,
            items: Vec<Value>,
        }
        let mut on_path = vec![false; self.nodes.len()];
        let mut frames: Vec<Frame> = Vec::new();
        let mut next = Some(root);
        loop {
            let mut done = None;
            if let Some(id) = next.take() {
                match &self.nodes[id] {
                    Node::Leaf(v) => done = Some(v.clone()),
                    Node::Seq(_) | Node::Dict(_) => {
                        if on_path[id] {
                            return self.err("a container contains itself (recursive structures are not supported)");
                        }
                        if frames.len() >= MAX_DEPTH {
                            return self.err(format!("containers nest deeper than {MAX_DEPTH} levels"));
                        }
                        on_path[id] = true;
                        frames.push(Frame { node: id, items: Vec::new() });
                    }
                }
            }
            if let Some(v) = done {
                match frames.last_mut() {
                    Some(f) => f.items.push(v),
                    None => return Ok(v),
                }
            }
            let f = frames.last().expect("a container is being materialised");
            let k = f.items.len();
            let child = match &self.nodes[f.node] {
                Node::Seq(items) => items.get(k).copied(),
                Node::Dict(pairs) => pairs.get(k / 2).map(|&(key, v)| if k % 2 == 0 { key } else { v }),
                Node::Leaf(_) => unreachable!("only containers have frames"),
            };
            if child.is_some() {
                next = child;
                continue;
            }
            let f = frames.pop().expect("just looked at");
            on_path[f.node] = false;
            let v = match &self.nodes[f.node] {
                Node::Dict(_) => {
                    let mut it = f.items.into_iter();
                    let mut pairs = Vec::new();
                    while let (Some(k), Some(v)) = (it.next(), it.next()) {
                        pairs.push((k, v));
                    }
                    Value::Dict(pairs)
                }
                _ => Value::Seq(f.items),
            };
            match frames.last_mut() {
                Some(parent) => parent.items.push(v),
                None => return Ok(v),
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

/// Decodes a pickle stream. The tree it materialises (its values at
/// `size_of::<Value>()` each, plus their strings' bytes) may take at most
/// 64 bytes per input byte plus 64 MiB, checked before anything is copied.
pub fn parse(data: &[u8]) -> Result<Value, PickleError> {
    let mut m = Machine::new(data);
    let root = m.run()?;
    let (bytes, limit) = (m.expanded_bytes(root)?, expansion_limit(data.len()));
    if bytes > limit {
        return m.err(format!(
            "the pickle expands to more than {limit} bytes in memory (64 per input byte plus 64 MiB, for {} bytes of input): shared references repeated too often",
            data.len()
        ));
    }
    m.materialise(root)
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
mod tests;
