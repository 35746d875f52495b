//! Drawings of architectures: any space's [`ArchGraph`] (cells as DAGs
//! of their operations, macro networks as chains of blocks) as Graphviz
//! DOT, and as SVG laid out by `layout-rs` (no Graphviz needed).

use nasforge_core::{ArchGraph, AttrValue};

/// The node's label: its operation and attributes (`sep_conv (kernel=3)`).
fn label(graph: &ArchGraph, i: usize) -> String {
    let node = &graph.nodes[i];
    if node.attrs.is_empty() {
        return node.op.clone();
    }
    let attrs: Vec<String> = node
        .attrs
        .iter()
        .map(|(k, v)| match v {
            AttrValue::Int(n) => format!("{k}={n}"),
            AttrValue::Float(x) => format!("{k}={x}"),
            AttrValue::Text(s) => format!("{k}={s}"),
        })
        .collect();
    format!("{} ({})", node.op, attrs.join(", "))
}

/// A DOT string literal.
fn quoted(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// The graph in Graphviz DOT: one node per operation (`n0`, `n1`, … in
/// the graph's topological order), labelled with its operation and
/// attributes; `title` becomes the graph's label.
pub fn dot(graph: &ArchGraph, title: &str) -> String {
    let mut s = String::from("digraph arch {\n");
    s += &format!("  label={};\n  node [shape=box];\n", quoted(title));
    for i in 0..graph.nodes.len() {
        s += &format!("  n{i} [label={}];\n", quoted(&label(graph, i)));
    }
    for &(a, b) in &graph.edges {
        s += &format!("  n{a} -> n{b};\n");
    }
    s + "}\n"
}

/// The graph as an SVG document, laid out top to bottom.
pub fn svg(graph: &ArchGraph) -> Result<String, String> {
    use layout::backends::svg::SVGWriter;
    use layout::core::base::Orientation;
    use layout::core::geometry::Point;
    use layout::core::style::StyleAttr;
    use layout::std_shapes::shapes::{Arrow, Element, ShapeKind};
    use layout::topo::layout::VisualGraph;

    if graph.nodes.is_empty() {
        return Err("the architecture's graph has no nodes".into());
    }
    graph.validate()?;
    let mut vg = VisualGraph::new(Orientation::TopToBottom);
    let handles: Vec<_> = (0..graph.nodes.len())
        .map(|i| {
            // The attributes on a line of their own.
            let text = label(graph, i).replacen(" (", "\n(", 1);
            let size = layout::core::geometry::get_size_for_str(&text, 15).add(Point::splat(10.0));
            vg.add_node(Element::create(ShapeKind::new_box(&text), StyleAttr::simple(), Orientation::LeftToRight, size))
        })
        .collect();
    for &(a, b) in &graph.edges {
        vg.add_edge(Arrow::simple(""), handles[a], handles[b]);
    }
    let mut writer = SVGWriter::new();
    vg.do_it(false, false, false, &mut writer);
    let out = writer.finalize();
    // The page inlines the drawing: the XML declaration would be text there.
    Ok(match out.find("<svg") {
        Some(at) => out[at..].to_owned(),
        None => out,
    })
}

#[cfg(test)]
mod tests {
    use nasforge_core::SearchSpace;
    use nasforge_space_nb201::Nb201Space;

    use super::*;

    #[test]
    fn a_cell_is_drawn_with_every_operation_and_edge() {
        let cell = Nb201Space.parse("|nor_conv_3x3~0|+|skip_connect~0|none~1|+|avg_pool_3x3~0|nor_conv_1x1~1|skip_connect~2|").unwrap();
        let g = Nb201Space.to_graph(&cell);
        let d = dot(&g, "best \"cell\"");
        assert!(d.contains("label=\"best \\\"cell\\\"\""), "{d}");
        assert!(d.contains("[label=\"nor_conv_3x3 (kernel=3)\"]"), "{d}");
        assert_eq!(d.matches(" -> ").count(), g.edges.len());
        let s = svg(&g).unwrap();
        assert!(s.starts_with("<svg") && s.trim_end().ends_with("</svg>"), "{s}");
        for op in ["nor_conv_3x3", "skip_connect", "avg_pool_3x3", "nor_conv_1x1", "output"] {
            assert!(s.contains(op), "{op} missing from the drawing");
        }
        assert!(!s.contains(">none<"), "a `none` edge is no operation");
    }

    #[test]
    fn an_empty_graph_is_an_error() {
        assert!(svg(&ArchGraph::default()).is_err());
    }
}
