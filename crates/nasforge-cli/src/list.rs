//! `nasforge list`: what a registry holds, with each component's
//! parameters (and their defaults, where every parameter has one).

use anyhow::{Result, bail};
use nasforge_registry::{About, Registry, Serves};

struct Row<'a> {
    kind: &'static str,
    about: &'a About,
    serves: Option<String>,
    data: Option<&'static str>,
}

/// The served spaces, marking those this binary does not register.
fn serves(registry: &Registry, s: &Serves) -> String {
    match s {
        Serves::Any => "any space".into(),
        Serves::Spaces(names) => names
            .iter()
            .map(|n| if registry.space(n).is_some() { n.clone() } else { format!("{n} (not in this binary)") })
            .collect::<Vec<_>>()
            .join(", "),
    }
}

pub(crate) fn list(registry: &Registry, only: Option<&str>, json: bool) -> Result<()> {
    const KINDS: [&str; 5] = ["space", "strategy", "estimator", "dataset", "trainer"];
    // `list strategies` means `list strategy`.
    let only = only.map(|k| KINDS.iter().find(|kind| plural(kind) == k).copied().unwrap_or(k));
    if let Some(k) = only {
        if !KINDS.contains(&k) {
            bail!("nasforge list: unknown kind `{k}`; valid choices: {}", KINDS.join(", "));
        }
    }
    let mut rows: Vec<Row<'_>> = Vec::new();
    rows.extend(registry.spaces().iter().map(|e| Row { kind: "space", about: &e.about, serves: None, data: None }));
    rows.extend(registry.strategies().iter().map(|e| Row { kind: "strategy", about: &e.about, serves: None, data: None }));
    rows.extend(registry.estimators().iter().map(|e| {
        let served = if e.is_training() {
            let all: Vec<String> = registry.trainers().iter().flat_map(|t| match &t.serves {
                Serves::Spaces(s) => s.clone(),
                Serves::Any => vec!["any space".into()],
            }).collect();
            serves(registry, &Serves::Spaces(all))
        } else {
            serves(registry, &e.serves)
        };
        Row { kind: "estimator", about: &e.about, serves: Some(served), data: None }
    }));
    rows.extend(registry.datasets().iter().map(|e| Row { kind: "dataset", about: &e.about, serves: None, data: Some(e.data) }));
    rows.extend(registry.trainers().iter().map(|e| Row { kind: "trainer", about: &e.about, serves: Some(serves(registry, &e.serves)), data: Some(e.data) }));
    rows.retain(|r| only.is_none_or(|k| k == r.kind));

    let mut out = serde_json::Map::new();
    let mut last_kind = "";
    for r in &rows {
        if r.kind != last_kind {
            println!("{}{}:", if last_kind.is_empty() { "" } else { "\n" }, plural(r.kind));
            last_kind = r.kind;
        }
        println!("  {}", r.about.name);
        println!("      {}", r.about.about);
        if let Some(s) = &r.serves {
            println!("      serves: {s}");
        }
        if let Some(d) = r.data {
            println!("      data: {d}");
        }
        let defaults = r.about.params.defaults();
        let fields = r.about.params.fields();
        if !fields.is_empty() {
            let shown: Vec<String> = fields
                .iter()
                .map(|f| match defaults.as_ref().and_then(|d| d.get(*f)) {
                    Some(v) => format!("{f} = {v}"),
                    None => (*f).to_owned(),
                })
                .collect();
            println!("      parameters: {}", shown.join(", "));
        }
        let entry = serde_json::json!({
            "name": r.about.name, "about": r.about.about, "serves": r.serves, "data": r.data,
            "parameters": fields, "defaults": defaults.map(|d| serde_json::to_value(d).unwrap_or_default()),
        });
        out.entry(plural(r.kind)).or_insert_with(|| serde_json::Value::Array(Vec::new())).as_array_mut().expect("an array").push(entry);
    }
    if json {
        println!("{}", serde_json::Value::Object(out));
    }
    Ok(())
}

fn plural(kind: &str) -> &'static str {
    match kind {
        "space" => "spaces",
        "strategy" => "strategies",
        "estimator" => "estimators",
        "dataset" => "datasets",
        _ => "trainers",
    }
}
