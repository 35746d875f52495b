//! Tests of the pickle reader, on pickles CPython writes (byte for
//! byte where noted) and on malformed and hostile ones.

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

fn dict(pairs: Vec<(Value, Value)>) -> Value {
    Value::Dict(pairs)
}

fn s(v: &str) -> Value {
    Value::Str(v.into())
}

#[test]
fn a_dict_memoized_empty_and_filled_later_is_filled_when_fetched() {
    // a = {'k': 1}; pickle.dumps([a, a], protocol=3): the dict is
    // memoized (q\x01) before SETITEM fills it; h\x01 fetches it again.
    let p3 = b"\x80\x03]q\x00(}q\x01X\x01\x00\x00\x00kq\x02K\x01sh\x01e.";
    // The same at protocol 4: FRAME, MEMOIZE (0x94) instead of BINPUT.
    let p4 = b"\x80\x04\x95\x10\x00\x00\x00\x00\x00\x00\x00]\x94(}\x94\x8c\x01k\x94K\x01sh\x01e.";
    let a = dict(vec![(s("k"), Value::Int(1))]);
    for p in [&p3[..], &p4[..]] {
        assert_eq!(parse(p).unwrap(), Value::Seq(vec![a.clone(), a.clone()]));
    }
}

#[test]
fn long_memo_keys_share_objects_too() {
    // ds = [{'v': i} for i in range(300)];
    // pickle.dumps({'all': ds, 'last': ds[299]}, protocol=2), byte for
    // byte: past key 255 BINPUT becomes LONG_BINPUT (r) and the last
    // dict is fetched with LONG_BINGET (j).
    fn put(p: &mut Vec<u8>, i: u32) {
        match u8::try_from(i) {
            Ok(b) => p.extend([b'q', b]),
            Err(_) => {
                p.push(b'r');
                p.extend(i.to_le_bytes());
            }
        }
    }
    let mut p = b"\x80\x02}q\x00(X\x03\x00\x00\x00allq\x01]q\x02(".to_vec();
    let mut memo = 3;
    let mut last = 0;
    for i in 0..300u16 {
        p.push(b'}');
        put(&mut p, memo);
        last = memo;
        memo += 1;
        if i == 0 {
            p.extend(b"X\x01\x00\x00\x00vq\x04");
            memo += 1;
        } else {
            p.extend(b"h\x04");
        }
        match u8::try_from(i) {
            Ok(b) => p.extend([b'K', b]),
            Err(_) => {
                p.push(b'M');
                p.extend(i.to_le_bytes());
            }
        }
        p.push(b's');
    }
    p.extend(b"eX\x04\x00\x00\x00last");
    put(&mut p, memo);
    p.push(b'j');
    p.extend(last.to_le_bytes());
    p.extend(b"u.");
    assert_eq!(p.len(), 2636, "CPython's length");
    let v = parse(&p).unwrap();
    let Some(Value::Seq(all)) = v.get("all") else { panic!("{v:?}") };
    assert_eq!(all.len(), 300);
    assert_eq!(all[7], dict(vec![(s("v"), Value::Int(7))]));
    assert_eq!(v.get("last"), Some(&dict(vec![(s("v"), Value::Int(299))])));
}

#[test]
fn a_big_endian_dtype_fetched_from_the_memo_keeps_its_byte_order() {
    // Two numpy '>f8' scalars as numpy pickles them: the dtype is
    // memoized (q\x06) before BUILD sets its byte order, and the second
    // scalar fetches it (h\x06). A copy taken at PUT time would read
    // the second one little-endian.
    let mut p: Vec<u8> = b"\x80\x03](cnumpy.core.multiarray\nscalar\nq\x01cnumpy\ndtype\nq\x02X\x02\x00\x00\x00f8q\x03\x89\x88\x87q\x04Rq\x06".to_vec();
    p.extend(b"(K\x03X\x01\x00\x00\x00>q\x07NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tq\x08bC\x08");
    p.extend(2.25f64.to_be_bytes());
    p.extend(b"\x86Rh\x01h\x06C\x08");
    p.extend(0.5f64.to_be_bytes());
    p.extend(b"\x86Re.");
    assert_eq!(parse(&p).unwrap(), Value::Seq(vec![Value::Float(2.25), Value::Float(0.5)]));
}

#[test]
fn a_container_that_contains_itself_is_an_error() {
    // l = []; l.append(l); pickle.dumps(l, protocol=3)
    let err = parse(b"\x80\x03]q\x00h\x00a.").unwrap_err();
    assert!(err.reason.contains("contains itself"), "{err}");
    // d = {}; d['me'] = d; pickle.dumps(d, protocol=3)
    let err = parse(b"\x80\x03}q\x00X\x02\x00\x00\x00meq\x01h\x00s.").unwrap_err();
    assert!(err.reason.contains("contains itself"), "{err}");
}

#[test]
fn shared_references_that_expand_exponentially_are_an_error() {
    // Level i is the pair (level i-1, level i-1): 64 levels in ~400
    // bytes name 2^64 values.
    let mut p = b"\x80\x03]q\x00".to_vec();
    for i in 0..64u8 {
        p.extend([b'h', i, b'h', i, 0x86, b'q', i + 1]);
    }
    p.push(b'.');
    let start = std::time::Instant::now();
    let err = parse(&p).unwrap_err();
    assert!(err.reason.contains("expands to more than"), "{err}");
    assert!(start.elapsed().as_secs() < 10, "{:?}", start.elapsed());
    // So does one long string repeated through the memo: 2,000 copies of
    // 64 KiB are 131 MB, past 64 bytes per input byte plus 64 MiB.
    let mut p = b"\x80\x03]q\x00(X\x00\x00\x01\x00".to_vec();
    p.extend(vec![b'a'; 65_536]);
    p.extend(b"q\x01");
    p.extend(std::iter::repeat_n(&b"h\x01"[..], 2_000).flatten());
    p.extend(b"e.");
    let err = parse(&p).unwrap_err();
    assert!(err.reason.contains("bytes in memory"), "{err}");
    // Sharing within the limit is fine.
    let mut p = b"\x80\x03]q\x00".to_vec();
    for i in 0..10u8 {
        p.extend([b'h', i, b'h', i, 0x86, b'q', i + 1]);
    }
    p.push(b'.');
    assert!(parse(&p).is_ok());
}

/// `]` GLOBAL `module`.`x` PUT 0 APPEND MARK, `refs` × GET 0, APPENDS STOP:
/// a list holding the global `refs + 1` times.
fn a_global_repeated(module_len: usize, refs: usize) -> Vec<u8> {
    let mut p = b"\x80\x03]c".to_vec();
    p.extend(vec![b'm'; module_len]);
    p.extend(b"\nx\nq\x00a(");
    p.extend(std::iter::repeat_n(&b"h\x00"[..], refs).flatten());
    p.extend(b"e.");
    p
}

#[test]
fn a_long_global_repeated_through_the_memo_fails_fast_with_an_error() {
    // A 1 MB module name is refused as the line is read, before any
    // reference could copy it.
    let start = std::time::Instant::now();
    let err = parse(&a_global_repeated(1 << 20, 1_000_000)).unwrap_err();
    assert!(err.reason.contains("longer than 256 bytes"), "{err}");
    assert_eq!(err.offset, 4, "{err}"); // where the line starts
    // The longest allowed name, referenced a million times: 1M values of
    // 56 bytes plus 1M copies of 257 bytes of text (~310 MB) from ~2 MB of
    // input. The size is computed over the object graph before anything
    // is copied, so this fails at once instead of allocating.
    let err = parse(&a_global_repeated(MAX_GLOBAL_LINE, 1_000_000)).unwrap_err();
    assert!(err.reason.contains("expands to more than") && err.reason.contains("bytes in memory"), "{err}");
    assert!(start.elapsed().as_secs() < 5, "{:?}", start.elapsed());
    // A finished tree holding globals is unusual (REDUCE consumes them)
    // but legal, within the limit.
    let v = parse(&a_global_repeated(MAX_GLOBAL_LINE, 1_000)).unwrap();
    let Value::Seq(items) = &v else { panic!("{v:?}") };
    assert_eq!(items.len(), 1_001);
    assert_eq!(items[1_000], Value::Global("m".repeat(MAX_GLOBAL_LINE), "x".into()));
    let err = parse(&a_global_repeated(MAX_GLOBAL_LINE + 1, 1)).unwrap_err();
    assert!(err.reason.contains("longer than 256 bytes"), "{err}");
    // A long name (not only a module) is refused too, and a short
    // unterminated line is still "unterminated".
    let mut p = b"cnumpy\n".to_vec();
    p.extend(vec![b'n'; 300]);
    assert!(parse(&p).unwrap_err().reason.contains("longer than 256 bytes"));
    assert!(parse(b"cnumpy\ndtype").unwrap_err().reason.contains("unterminated line"));
}

#[test]
fn a_dtype_with_a_long_code_repeated_through_the_memo_is_counted() {
    // numpy.dtype(<1 MiB string>) memoized, then referenced 200 times:
    // ~200 MiB of codes from ~1 MiB of input.
    let dtype_list = |refs: usize| {
        let mut p = b"\x80\x03]cnumpy\ndtype\nX\x00\x00\x10\x00".to_vec();
        p.extend(vec![b'f'; 1 << 20]);
        p.extend(b"\x85Rq\x00a(");
        p.extend(std::iter::repeat_n(&b"h\x00"[..], refs).flatten());
        p.extend(b"e.");
        p
    };
    let err = parse(&dtype_list(200)).unwrap_err();
    assert!(err.reason.contains("bytes in memory"), "{err}");
    let v = parse(&dtype_list(2)).unwrap();
    assert!(matches!(&v, Value::Seq(items) if items.len() == 3 && items[2] == Value::Dtype("f".repeat(1 << 20), false)), "not 3 dtypes");
}

#[test]
fn the_expanded_size_counts_values_and_their_text_once_per_reference() {
    // s = 'abcdefghij'; pickle.dumps([s, s, (s,)], protocol=3): 5 values
    // (list, s, s, tuple, s) and 3 copies of 10 bytes.
    let p = b"\x80\x03]q\x00(X\x0a\x00\x00\x00abcdefghijq\x01h\x01h\x01\x85q\x02e.";
    let mut m = Machine::new(p);
    let root = m.run().unwrap();
    assert_eq!(m.expanded_bytes(root).unwrap(), 5 * size_of::<Value>() + 30);
    assert_eq!(m.materialise(root).unwrap(), Value::Seq(vec![s("abcdefghij"), s("abcdefghij"), Value::Seq(vec![s("abcdefghij")])]));
    // A global's module and name and a dtype's code count like strings.
    let p = b"cnumpy\ndtype\nX\x02\x00\x00\x00f8\x85Rcos\nsystem\n\x86.";
    let mut m = Machine::new(p);
    let root = m.run().unwrap();
    assert_eq!(m.expanded_bytes(root).unwrap(), 3 * size_of::<Value>() + 2 + 8);
    assert_eq!(m.materialise(root).unwrap(), Value::Seq(vec![Value::Dtype("f8".into(), false), Value::Global("os".into(), "system".into())]));
    // The limit: 64 bytes per input byte plus 64 MiB.
    assert_eq!(expansion_limit(0), 64 << 20);
    assert_eq!(expansion_limit(1_000), 64_000 + (64 << 20));
    assert_eq!(expansion_limit(usize::MAX), usize::MAX);
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    let nested = |depth: usize| {
        let mut p = vec![0x80, 3];
        p.extend(std::iter::repeat_n(b'(', depth));
        p.extend(std::iter::repeat_n(b't', depth));
        p.push(b'.');
        p
    };
    let err = parse(&nested(1_000_000)).unwrap_err();
    assert!(err.reason.contains("deeper than"), "{err}");
    let err = parse(&nested(MAX_DEPTH + 1)).unwrap_err();
    assert!(err.reason.contains("deeper than"), "{err}");
    let mut v = parse(&nested(MAX_DEPTH)).unwrap();
    let mut depth = 0;
    while let Value::Seq(items) = v {
        depth += 1;
        v = items.into_iter().next().unwrap_or(Value::None);
    }
    assert_eq!(depth, MAX_DEPTH);
}

#[test]
fn huge_lengths_and_stack_misuse_are_errors() {
    for p in [
        &b"X\xff\xff\xff\xff"[..],
        b"B\xff\xff\xff\xffabc",
        b"\x8c\x05ab",
        b"C\x09abc",
        b"J\x01\x02",
        b"G\x01",
        b"cnumpy\n",
        b"c\xff\nx\n.",
        b"h\x00.",
        b"j\x00\x00\x00\x01.",
        b"q\x00",
        b"]]a(s.",
        b"}(K\x01s.",
        b"](a.",
        b"K\x01(\x85.",
        b"}(K\x01u.",
        b"](K\x01K\x02u.",
        b"K\x01(e.",
        b"(.",
        b"e.",
        b"t\x86.",
        b"NNR.",
        b"Nb.",
        b"cnumpy\ndtype\n)R(K\x03tb.",
        b"cnumpy.core.multiarray\nscalar\ncnumpy\ndtype\nX\x02\x00\x00\x00f8\x85RC\x03abc\x86R.",
        b"\x80\x04\x95",
    ] {
        assert!(parse(p).is_err(), "{p:?}");
    }
    // Items above a MARK are reachable; those below it are not.
    assert_eq!(parse(b"K\x01(K\x02\x85t.").unwrap(), Value::Seq(vec![Value::Seq(vec![Value::Int(2)])]));
}

/// The published NAS-Bench-Graph tables, when the shared data is there
/// (the project tests read them from `../shared/data`).
#[test]
fn the_nas_bench_graph_tables_parse() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/nas-bench-graph");
    for (name, rows) in [("cora", 26_206), ("citeseer", 26_206), ("pubmed", 26_206), ("cs", 26_206), ("proteins", 2_021)] {
        let path = dir.join(format!("{name}.bench"));
        let data = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let v = parse(&data).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        // They expand to ~6.5 bytes per input byte: far inside the limit.
        let mut m = Machine::new(&data);
        let root = m.run().unwrap();
        let bytes = m.expanded_bytes(root).unwrap();
        assert!(bytes < expansion_limit(data.len()) / 4, "{name}: {bytes} bytes from {}", data.len());
        let Value::Dict(entries) = &v else { panic!("{name}: not a dict") };
        assert_eq!(entries.len(), rows, "{name}");
        for (_, entry) in entries {
            for key in ["valid_perf", "perf", "latency", "para"] {
                let x = entry.get(key).and_then(Value::as_f64).unwrap_or_else(|| panic!("{name}: {key} in {entry:?}"));
                assert!(x.is_finite() && x >= 0.0, "{name}: {key} = {x}");
            }
        }
        if name == "cora" {
            let best = entries.iter().filter_map(|(_, e)| e.get("perf")?.as_f64()).fold(f64::MIN, f64::max);
            assert!((best - 0.8313).abs() < 5e-5, "{best}");
        }
    }
}

