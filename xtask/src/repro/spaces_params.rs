//! `spaces-params`: parameter counts of published networks, from our
//! spaces' exact counters, against the figures their papers print.

use anyhow::{Context, Result};
use nasforge::autognn::AutoGnnSpace;
use nasforge::darts::{DartsSpace, network_params};
use nasforge::mobilenet::MobileNetSpace;
use nasforge::transformer::TransformerSpace;
use nasforge_core::SearchSpace;

use super::table::{Check, Row, Table, Value};
use super::{Mode, Suite};

pub const SUITE: Suite = Suite {
    name: "spaces-params",
    paper: "DARTS (Liu et al., ICLR 2019) Table 1: DARTS-V2 3.3 M; MobileNetV2 (Sandler et al., CVPR 2018) Table 4: 3.4 M; BERT (Devlin et al., NAACL 2019) §3: BERT-base 110 M; GAT (Veličković et al., ICLR 2018) §3.3: the Cora model (8 heads × 8, then 1 head), params as PyG counts them",
    runs: "the exact counters of the darts, mobilenet, transformer and auto-gnn spaces on examples/archs/*.txt and the GAT layers; no search",
    quick: "the same (it takes milliseconds)",
    build,
};

fn arch_file(name: &str) -> Result<String> {
    let path = format!("examples/archs/{name}");
    Ok(std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?.trim().to_owned())
}

/// A figure printed to one unit of `step` is consistent with any value it
/// rounds *or* truncates to: `[x − step/2, x + step)`.
fn printed(x: f64, step: f64, what: &str) -> Check {
    Check::Within { lo: x - step / 2.0, hi: x + step, against: format!("{what}: {x} printed to {step} (rounded or truncated)") }
}

/// PyG's `GATConv(d_in, d_out, heads, concat)` parameters: the shared
/// linear map (no bias), a source and a target attention vector per head,
/// and the output bias (`heads·d_out` when concatenated, else `d_out`).
fn pyg_gat_conv(d_in: u64, d_out: u64, heads: u64, concat: bool) -> u64 {
    d_in * heads * d_out + 2 * heads * d_out + if concat { heads * d_out } else { d_out }
}

fn build(_mode: Mode) -> Result<Table> {
    let mut t = Table::new(
        SUITE.name,
        "parameter counts of published networks",
        "Parameters in millions; ours from the spaces' exact counters (the exact integers in the notes).",
        6,
    );
    t.trim_zeros = true;
    let m = |x: u64| x as f64 / 1e6;

    let darts = DartsSpace.parse(&arch_file("darts-v2.txt")?)?;
    let darts_params = network_params(&darts, 36, 20, 10);
    t.rows.push(Row {
        label: "DARTS-V2 (second order), CIFAR-10 evaluation network: C = 36, 20 cells, no auxiliary head".into(),
        paper: Some(Value::exact(3.3)),
        ours: Some(Value::exact(m(darts_params))),
        ri: None,
        check: printed(3.3, 0.1, "DARTS Table 1"),
    });

    let mobile = MobileNetSpace::default();
    let v2 = mobile.parse(&arch_file("mobilenet-v2.txt")?)?;
    let cost = mobile.cost(&v2);
    t.rows.push(Row {
        label: "MobileNetV2 1.0, 224 × 224, 1000 classes, without batch norm's scales and shifts".into(),
        paper: Some(Value::exact(3.4)),
        ours: Some(Value::exact(m(cost.params - cost.batch_norm))),
        ri: None,
        check: printed(3.4, 0.1, "MobileNetV2 Table 4"),
    });
    t.rows.push(Row {
        label: "MobileNetV2 1.0, every trainable parameter (batch norm included)".into(),
        paper: Some(Value::exact(3.4)),
        ours: Some(Value::exact(m(cost.params))),
        ri: None,
        check: Check::Info("printed for reference: the paper does not say whether its 3.4 M counts batch norm".into()),
    });

    let transformer = TransformerSpace::default();
    let bert = transformer.parse(&arch_file("bert-base.txt")?)?;
    let encoder = transformer.cost(&bert).params;
    let pooler = 768 * 768 + 768;
    t.rows.push(Row {
        label: "BERT-base (L = 12, H = 768, A = 12, WordPiece 30,522, 512 positions), with its pooler".into(),
        paper: Some(Value::exact(110.0)),
        ours: Some(Value::exact(m(encoder + pooler))),
        ri: None,
        check: Check::Within {
            lo: 105.0,
            hi: 120.0,
            against: "BERT §3: 110 M, printed to 2 significant figures, rounded or truncated (the same paper prints 340 M for BERT-large's 335 M)".into(),
        },
    });

    let gnn = AutoGnnSpace::default();
    let gat = gnn.parse("gat,sum,elu,8,8,0|gat,sum,linear,1,8,0")?;
    let ours_gat = gnn.param_count(&gat);
    let pyg = pyg_gat_conv(1433, 8, 8, true) + pyg_gat_conv(64, 7, 1, false);
    t.rows.push(Row {
        label: "GAT on Cora (1,433 features, 8 heads × 8 hidden, then 1 head to 7 classes)".into(),
        paper: None,
        ours: Some(Value::exact(m(ours_gat))),
        ri: None,
        check: Check::Near { target: m(pyg), tol: 0.0, against: "PyG's GATConv count, computed here".into() },
    });

    t.notes = vec![
        format!(
            "Exact counts: DARTS-V2 {darts_params}; MobileNetV2 {} without batch norm, {} with; BERT-base {} ({encoder} without the pooler's {pooler}); GAT {ours_gat} (PyG: {pyg}).",
            cost.params - cost.batch_norm,
            cost.params,
            encoder + pooler
        ),
        "Tolerances: a figure printed to one unit of its last digit is consistent with any count that rounds or truncates to it, [x − unit/2, x + unit); BERT's 110 M is read as 2 significant figures (unit 10 M); the GAT count must equal PyG's exactly.".into(),
        "Sources: DARTS, Liu et al., ICLR 2019, Table 1 (DARTS second order, 3.3 M params); MobileNetV2, Sandler et al., CVPR 2018, Table 4 (3.4 M, 300 M MAdds); BERT, Devlin et al., NAACL 2019, §3 (BERT-base 110 M, BERT-large 340 M); GAT, Veličković et al., ICLR 2018, §3.3 (Cora: K = 8 heads of F' = 8 features, then one head of C = 7): the paper prints no parameter count, so the row is checked against PyG's GATConv (lin without bias, att_src, att_dst, bias).".into(),
    ];
    Ok(t)
}
