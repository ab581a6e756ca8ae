//! A minimal reader of Python pickles: enough for the CIFAR python batches (a dict of
//! byte strings, an integer list and a NumPy array), written by Python 2 (`cPickle`, protocol
//! 2) or Python 3 (protocols 2 to 5, in-band buffers). Nothing is executed: calls to Python
//! functions (`REDUCE`, `BUILD`) are kept as values and interpreted afterwards.

use std::collections::HashMap;
use std::rc::Rc;

/// A value of the pickle.
#[derive(Clone, Debug)]
pub(crate) enum Value {
    None,
    Bool(bool),
    Int(i64),
    /// A float (data batches need no float values, so the value is not kept).
    Float,
    /// `bytes`, `bytearray` and Python 2 `str`.
    Bytes(Rc<[u8]>),
    Str(Rc<str>),
    /// A list or set.
    List(Rc<Vec<Value>>),
    Tuple(Rc<Vec<Value>>),
    Dict(Rc<Vec<(Value, Value)>>),
    /// A reference to `module.name`.
    Global(Rc<str>, Rc<str>),
    /// `callable(*args)`, not evaluated.
    Call(Rc<(Value, Vec<Value>)>),
    /// `object.__setstate__(state)`, not evaluated.
    Built(Rc<(Value, Value)>),
    /// The stack marker of `MARK`.
    Mark,
}

impl Value {
    /// The text of a `str` or `bytes` value.
    pub(crate) fn as_text(&self) -> Option<&[u8]> {
        match self {
            Value::Bytes(b) => Some(b),
            Value::Str(s) => Some(s.as_bytes()),
            _ => None,
        }
    }

    fn describe(&self) -> &'static str {
        match self {
            Value::None => "None",
            Value::Bool(_) => "a bool",
            Value::Int(_) => "an int",
            Value::Float => "a float",
            Value::Bytes(_) => "bytes",
            Value::Str(_) => "a str",
            Value::List(_) => "a list",
            Value::Tuple(_) => "a tuple",
            Value::Dict(_) => "a dict",
            Value::Global(..) => "a global",
            Value::Call(_) => "an object",
            Value::Built(_) => "an object",
            Value::Mark => "a mark",
        }
    }
}

/// Deepest nesting of containers accepted (a guard against stack exhaustion).
const MAX_DEPTH: u32 = 100;

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.bytes.len())
            .ok_or_else(|| {
                format!(
                    "the pickle ends early (an item at byte {} needs {n} bytes, the data has {}): \
                     the file is truncated",
                    self.pos,
                    self.bytes.len() - self.pos.min(self.bytes.len())
                )
            })?;
        let s = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }

    fn le<const N: usize>(&mut self) -> Result<[u8; N], String> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    fn len_u32(&mut self) -> Result<usize, String> {
        Ok(u32::from_le_bytes(self.le()?) as usize)
    }

    fn len_u64(&mut self) -> Result<usize, String> {
        usize::try_from(u64::from_le_bytes(self.le()?)).map_err(|e| e.to_string())
    }

    fn line(&mut self) -> Result<&'a str, String> {
        let rest = &self.bytes[self.pos.min(self.bytes.len())..];
        let end = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or("the pickle ends inside a text line: the file is truncated")?;
        self.pos += end + 1;
        std::str::from_utf8(&rest[..end]).map_err(|_| "a text line is not UTF-8".to_string())
    }
}

struct Machine {
    stack: Vec<(Value, u32)>,
    memo: HashMap<usize, (Value, u32)>,
}

impl Machine {
    fn push(&mut self, v: Value) {
        self.stack.push((v, 0));
    }

    fn push_container(&mut self, v: Value, depth: u32) -> Result<(), String> {
        if depth > MAX_DEPTH {
            return Err(format!(
                "containers are nested more than {MAX_DEPTH} deep; this is not a data batch"
            ));
        }
        self.stack.push((v, depth));
        Ok(())
    }

    fn pop(&mut self) -> Result<(Value, u32), String> {
        match self.stack.pop() {
            Some((Value::Mark, _)) | None => {
                Err("an operation finds too few values on the stack: the pickle is damaged".into())
            }
            Some(item) => Ok(item),
        }
    }

    fn top(&mut self) -> Result<&mut (Value, u32), String> {
        self.stack
            .last_mut()
            .ok_or_else(|| "an operation finds an empty stack: the pickle is damaged".to_string())
    }

    /// The values above the last mark, removing them and the mark.
    fn pop_mark(&mut self) -> Result<(Vec<Value>, u32), String> {
        let at = self
            .stack
            .iter()
            .rposition(|(v, _)| matches!(v, Value::Mark))
            .ok_or("an operation finds no mark on the stack: the pickle is damaged")?;
        let items: Vec<(Value, u32)> = self.stack.drain(at + 1..).collect();
        self.stack.pop();
        let depth = items.iter().map(|(_, d)| *d).max().unwrap_or(0);
        Ok((items.into_iter().map(|(v, _)| v).collect(), depth))
    }

    fn pop_n(&mut self, n: usize) -> Result<(Vec<Value>, u32), String> {
        let mut items = Vec::with_capacity(n);
        let mut depth = 0;
        for _ in 0..n {
            let (v, d) = self.pop()?;
            depth = depth.max(d);
            items.push(v);
        }
        items.reverse();
        Ok((items, depth))
    }

    fn memo_put(&mut self, key: usize) -> Result<(), String> {
        let top = self.top()?.clone();
        self.memo.insert(key, top);
        Ok(())
    }

    fn memo_get(&mut self, key: usize) -> Result<(), String> {
        let item =
            self.memo.get(&key).cloned().ok_or_else(|| {
                format!("the pickle refers to memo entry {key}, which it never set")
            })?;
        self.stack.push(item);
        Ok(())
    }
}

fn int_from_le(bytes: &[u8]) -> Result<i64, String> {
    if bytes.len() > 8 {
        return Err("an integer is wider than 64 bits".into());
    }
    if bytes.is_empty() {
        return Ok(0);
    }
    let negative = bytes[bytes.len() - 1] & 0x80 != 0;
    let mut a = [if negative { 0xff } else { 0 }; 8];
    a[..bytes.len()].copy_from_slice(bytes);
    Ok(i64::from_le_bytes(a))
}

/// Evaluates the harmless calls that stand for plain data: `_codecs.encode(text, 'latin1')`
/// (how Python 3 writes `bytes` in protocol 2) and `bytearray`/`bytes` of such data.
fn reduce(callable: Value, args: Vec<Value>) -> Result<Value, String> {
    if let Value::Global(module, name) = &callable {
        match (&**module, &**name, args.as_slice()) {
            ("_codecs", "encode", [Value::Str(text), Value::Str(codec)])
                if matches!(&**codec, "latin1" | "latin-1" | "iso-8859-1") =>
            {
                let bytes = text
                    .chars()
                    .map(|c| u8::try_from(u32::from(c)))
                    .collect::<Result<Vec<u8>, _>>()
                    .map_err(|_| "a latin-1 string holds a character above 255".to_string())?;
                return Ok(Value::Bytes(bytes.into()));
            }
            ("__builtin__" | "builtins", "bytearray" | "bytes", [Value::Bytes(b)]) => {
                return Ok(Value::Bytes(b.clone()));
            }
            ("__builtin__" | "builtins", "bytearray" | "bytes", []) => {
                return Ok(Value::Bytes(Rc::from(Vec::new())));
            }
            _ => {}
        }
    }
    Ok(Value::Call(Rc::new((callable, args))))
}

/// Parses a whole pickle and returns its value.
pub(crate) fn parse(bytes: &[u8]) -> Result<Value, String> {
    let mut r = Reader { bytes, pos: 0 };
    let mut m = Machine {
        stack: Vec::new(),
        memo: HashMap::new(),
    };
    loop {
        let at = r.pos;
        let op = r.u8()?;
        match op {
            0x80 => {
                let proto = r.u8()?;
                if proto > 5 {
                    return Err(format!(
                        "pickle protocol {proto} is not supported (0 to 5 are)"
                    ));
                }
            }
            0x95 => {
                r.take(8)?;
            }
            b'.' => return Ok(m.pop()?.0),
            b'(' => m.push(Value::Mark),
            b'}' => m.push(Value::Dict(Rc::new(Vec::new()))),
            b']' | 0x8f => m.push(Value::List(Rc::new(Vec::new()))),
            b')' => m.push(Value::Tuple(Rc::new(Vec::new()))),
            b'N' => m.push(Value::None),
            0x88 => m.push(Value::Bool(true)),
            0x89 => m.push(Value::Bool(false)),
            b'K' => m.push(Value::Int(i64::from(r.u8()?))),
            b'M' => m.push(Value::Int(i64::from(u16::from_le_bytes(r.le()?)))),
            b'J' => m.push(Value::Int(i64::from(i32::from_le_bytes(r.le()?)))),
            0x8a => {
                let n = usize::from(r.u8()?);
                m.push(Value::Int(int_from_le(r.take(n)?)?));
            }
            0x8b => {
                let n = r.len_u32()?;
                m.push(Value::Int(int_from_le(r.take(n)?)?));
            }
            b'I' => {
                let line = r.line()?;
                m.push(match line {
                    "00" => Value::Bool(false),
                    "01" => Value::Bool(true),
                    text => Value::Int(text.parse().map_err(|_| format!("bad INT {text:?}"))?),
                });
            }
            b'L' => {
                let line = r.line()?;
                let text = line.trim_end_matches('L');
                m.push(Value::Int(
                    text.parse().map_err(|_| format!("bad LONG {line:?}"))?,
                ));
            }
            b'G' => {
                r.take(8)?;
                m.push(Value::Float);
            }
            b'F' => {
                let line = r.line()?;
                line.parse::<f64>()
                    .map_err(|_| format!("bad FLOAT {line:?}"))?;
                m.push(Value::Float);
            }
            b'U' | b'C' => {
                let n = usize::from(r.u8()?);
                m.push(Value::Bytes(r.take(n)?.into()));
            }
            b'T' => {
                let n = usize::try_from(i32::from_le_bytes(r.le()?))
                    .map_err(|_| "a string has a negative length: the pickle is damaged")?;
                m.push(Value::Bytes(r.take(n)?.into()));
            }
            b'B' => {
                let n = r.len_u32()?;
                m.push(Value::Bytes(r.take(n)?.into()));
            }
            0x8e | 0x96 => {
                let n = r.len_u64()?;
                m.push(Value::Bytes(r.take(n)?.into()));
            }
            b'X' | 0x8c | 0x8d => {
                let n = match op {
                    b'X' => r.len_u32()?,
                    0x8c => usize::from(r.u8()?),
                    _ => r.len_u64()?,
                };
                let text = String::from_utf8_lossy(r.take(n)?);
                m.push(Value::Str(Rc::from(text.as_ref())));
            }
            b'c' => {
                let module = r.line()?;
                let name = r.line()?;
                m.push(Value::Global(module.into(), name.into()));
            }
            0x93 => {
                let (name, _) = m.pop()?;
                let (module, _) = m.pop()?;
                match (module, name) {
                    (Value::Str(module), Value::Str(name)) => m.push(Value::Global(module, name)),
                    _ => return Err("STACK_GLOBAL needs two strings: the pickle is damaged".into()),
                }
            }
            b'R' | 0x81 => {
                let (args, d1) = m.pop()?;
                let (callable, d2) = m.pop()?;
                let args = match args {
                    Value::Tuple(items) => items.as_ref().clone(),
                    other => {
                        return Err(format!(
                            "a call's arguments are {}, not a tuple: the pickle is damaged",
                            other.describe()
                        ))
                    }
                };
                let v = reduce(callable, args)?;
                m.push_container(v, d1.max(d2) + 1)?;
            }
            0x92 => {
                let (_kwargs, d0) = m.pop()?;
                let (args, d1) = m.pop()?;
                let (cls, d2) = m.pop()?;
                let args = match args {
                    Value::Tuple(items) => items.as_ref().clone(),
                    _ => Vec::new(),
                };
                m.push_container(Value::Call(Rc::new((cls, args))), d0.max(d1).max(d2) + 1)?;
            }
            b'b' => {
                let (state, d1) = m.pop()?;
                let (obj, d2) = m.pop()?;
                m.push_container(Value::Built(Rc::new((obj, state))), d1.max(d2) + 1)?;
            }
            b't' => {
                let (items, d) = m.pop_mark()?;
                m.push_container(Value::Tuple(Rc::new(items)), d + 1)?;
            }
            0x85..=0x87 => {
                let (items, d) = m.pop_n(usize::from(op - 0x84))?;
                m.push_container(Value::Tuple(Rc::new(items)), d + 1)?;
            }
            b'l' | 0x91 => {
                let (items, d) = m.pop_mark()?;
                m.push_container(Value::List(Rc::new(items)), d + 1)?;
            }
            b'd' => {
                let (items, d) = m.pop_mark()?;
                let pairs = pairs(items)?;
                m.push_container(Value::Dict(Rc::new(pairs)), d + 1)?;
            }
            b'a' | b'e' | 0x90 => {
                let (items, d) = if op == b'a' {
                    m.pop_n(1)?
                } else {
                    m.pop_mark()?
                };
                let top = m.top()?;
                let Value::List(list) = &mut top.0 else {
                    return Err(format!(
                        "APPEND to {}, not a list: the pickle is damaged",
                        top.0.describe()
                    ));
                };
                Rc::make_mut(list).extend(items);
                top.1 = top.1.max(d + 1);
                if top.1 > MAX_DEPTH {
                    return Err(format!("containers are nested more than {MAX_DEPTH} deep"));
                }
            }
            b's' | b'u' => {
                let (items, d) = if op == b's' {
                    m.pop_n(2)?
                } else {
                    m.pop_mark()?
                };
                let new = pairs(items)?;
                let top = m.top()?;
                let Value::Dict(dict) = &mut top.0 else {
                    return Err(format!(
                        "SETITEM on {}, not a dict: the pickle is damaged",
                        top.0.describe()
                    ));
                };
                Rc::make_mut(dict).extend(new);
                top.1 = top.1.max(d + 1);
                if top.1 > MAX_DEPTH {
                    return Err(format!("containers are nested more than {MAX_DEPTH} deep"));
                }
            }
            b'q' => {
                let key = usize::from(r.u8()?);
                m.memo_put(key)?;
            }
            b'r' => {
                let key = r.len_u32()?;
                m.memo_put(key)?;
            }
            b'p' => {
                let line = r.line()?;
                let key = line.parse().map_err(|_| format!("bad PUT {line:?}"))?;
                m.memo_put(key)?;
            }
            0x94 => {
                let key = m.memo.len();
                m.memo_put(key)?;
            }
            b'h' => {
                let key = usize::from(r.u8()?);
                m.memo_get(key)?;
            }
            b'j' => {
                let key = r.len_u32()?;
                m.memo_get(key)?;
            }
            b'g' => {
                let line = r.line()?;
                let key = line.parse().map_err(|_| format!("bad GET {line:?}"))?;
                m.memo_get(key)?;
            }
            b'0' => {
                m.pop()?;
            }
            b'1' => {
                m.pop_mark()?;
            }
            b'2' => {
                let top = m.top()?.clone();
                m.stack.push(top);
            }
            0x98 => {}
            _ => {
                return Err(format!(
                    "unsupported pickle opcode 0x{op:02x} at byte {at} (this reader knows the \
                     opcodes of data batches only)"
                ))
            }
        }
    }
}

fn pairs(items: Vec<Value>) -> Result<Vec<(Value, Value)>, String> {
    if !items.len().is_multiple_of(2) {
        return Err("a dict gets an odd number of keys and values: the pickle is damaged".into());
    }
    let mut out = Vec::with_capacity(items.len() / 2);
    let mut it = items.into_iter();
    while let (Some(k), Some(v)) = (it.next(), it.next()) {
        out.push((k, v));
    }
    Ok(out)
}

fn is_global(v: &Value, modules: &[&str], name: &str) -> bool {
    matches!(v, Value::Global(m, n) if modules.contains(&&**m) && &**n == name)
}

/// The element type name of a pickled `numpy.dtype`.
fn dtype_name(v: &Value) -> Option<String> {
    let call = match v {
        Value::Built(b) => &b.0,
        other => other,
    };
    match call {
        Value::Call(c) if is_global(&c.0, &["numpy"], "dtype") => {
            c.1.first()
                .and_then(Value::as_text)
                .map(|t| String::from_utf8_lossy(t).into_owned())
        }
        _ => None,
    }
}

fn shape_of(v: &Value) -> Result<Vec<usize>, String> {
    match v {
        Value::Tuple(items) | Value::List(items) => items
            .iter()
            .map(|d| match d {
                Value::Int(n) => usize::try_from(*n).map_err(|_| "a negative dimension".into()),
                other => Err(format!("a dimension is {}", other.describe())),
            })
            .collect(),
        other => Err(format!("the array shape is {}", other.describe())),
    }
}

/// The shape and the bytes of a pickled NumPy `uint8` array in C order (written by
/// `ndarray.__reduce__`, or `__reduce_ex__` with protocol 5).
pub(crate) fn numpy_u8_array(v: &Value) -> Result<(Vec<usize>, &[u8]), String> {
    const CORE: [&str; 2] = ["numpy.core.multiarray", "numpy._core.multiarray"];
    const NUMERIC: [&str; 2] = ["numpy.core.numeric", "numpy._core.numeric"];
    let (shape, dtype, fortran, data) = match v {
        Value::Built(b) => {
            let (obj, state) = (&b.0, &b.1);
            let is_ndarray =
                matches!(obj, Value::Call(c) if is_global(&c.0, &CORE, "_reconstruct"));
            let Value::Tuple(state) = state else {
                return Err("it is not a NumPy array".into());
            };
            if !is_ndarray {
                return Err("it is not a NumPy array".into());
            }
            match state.as_slice() {
                [_, shape, dtype, fortran, data] | [shape, dtype, fortran, data] => {
                    (shape, dtype, fortran, data)
                }
                _ => return Err("its NumPy state has an unknown layout".into()),
            }
        }
        Value::Call(c) if is_global(&c.0, &NUMERIC, "_frombuffer") => match c.1.as_slice() {
            [data, dtype, shape, order] => {
                let fortran = order.as_text() == Some(b"F");
                return check_array(shape_of(shape)?, dtype, fortran, data);
            }
            _ => return Err("its NumPy _frombuffer call has unknown arguments".into()),
        },
        other => return Err(format!("it is {}, not a NumPy array", other.describe())),
    };
    let fortran = matches!(fortran, Value::Bool(true) | Value::Int(1));
    check_array(shape_of(shape)?, dtype, fortran, data)
}

fn check_array<'a>(
    shape: Vec<usize>,
    dtype: &Value,
    fortran: bool,
    data: &'a Value,
) -> Result<(Vec<usize>, &'a [u8]), String> {
    let name = dtype_name(dtype).unwrap_or_else(|| "unknown".into());
    if !matches!(name.as_str(), "u1" | "|u1" | "uint8" | "B") {
        return Err(format!("its element type is {name}, not uint8 (u1)"));
    }
    if fortran {
        return Err("the array is in Fortran order; CIFAR batches are in C order".into());
    }
    let Value::Bytes(bytes) = data else {
        return Err(format!("its pixel data is {}, not bytes", data.describe()));
    };
    let n = shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or("its shape overflows")?;
    if bytes.len() != n {
        return Err(format!(
            "its shape {shape:?} needs {n} bytes but it holds {}",
            bytes.len()
        ));
    }
    Ok((shape, bytes))
}

/// The integers of a pickled list (or tuple) of ints.
pub(crate) fn int_list(v: &Value) -> Result<Vec<i64>, String> {
    match v {
        Value::List(items) | Value::Tuple(items) => items
            .iter()
            .map(|x| match x {
                Value::Int(n) => Ok(*n),
                Value::Bool(b) => Ok(i64::from(*b)),
                other => Err(format!("it holds {}, not only ints", other.describe())),
            })
            .collect(),
        other => Err(format!("it is {}, not a list of ints", other.describe())),
    }
}
