//! The registry on a toy family: three-bit architectures, a walk, a
//! bit counter.

use std::collections::HashSet;

use nasforge_core::{ArchGraph, EvalContext, EvalError, Estimator, Evaluation, Metrics, ParamError, ParseArchError, Rng, SearchSpace, Strategy};
use serde::{Deserialize, Serialize};

use crate::{
    Built, Components, ConfigError, Document, DynArch, ErasedSpace, EstimatorEntry, NoParams, Params, PathContext, Registry, Serves, SpaceEntry,
    StrategyEntry, erase_estimator,
};

/// Three bits.
struct Bits;

impl SearchSpace for Bits {
    type Arch = [bool; 3];
    fn name(&self) -> &str {
        "bits"
    }
    fn sample(&self, rng: &mut Rng) -> [bool; 3] {
        let r = rng.next_u32();
        [r & 1 == 1, r & 2 == 2, r & 4 == 4]
    }
    fn neighbours(&self, a: &[bool; 3]) -> Vec<[bool; 3]> {
        (0..3).map(|i| {
            let mut b = *a;
            b[i] = !b[i];
            b
        }).collect()
    }
    fn format(&self, a: &[bool; 3]) -> String {
        a.iter().map(|&b| if b { '1' } else { '0' }).collect()
    }
    fn parse(&self, s: &str) -> Result<[bool; 3], ParseArchError> {
        let bits: Vec<bool> = s.chars().filter_map(|c| match c { '0' => Some(false), '1' => Some(true), _ => None }).collect();
        bits.try_into().map_err(|_| ParseArchError { space: "bits".into(), input: s.into(), reason: "three 0/1 digits".into() })
    }
    fn canonical_key(&self, a: &[bool; 3]) -> String {
        self.format(a)
    }
    fn to_graph(&self, _: &[bool; 3]) -> ArchGraph {
        ArchGraph::default()
    }
    fn encode(&self, a: &[bool; 3]) -> Vec<f32> {
        a.iter().map(|&b| f32::from(u8::from(b))).collect()
    }
}

struct Ones;

impl Estimator<[bool; 3]> for Ones {
    fn name(&self) -> &str {
        "ones"
    }
    fn evaluate(&mut self, a: &[bool; 3], _: EvalContext) -> Result<Metrics, EvalError> {
        Ok(Metrics::with_valid(a.iter().filter(|&&b| b).count() as f64))
    }
}

/// Proposes the all-zero cell, then walks to a neighbour.
struct Walk(Option<DynArch>);

impl Strategy<ErasedSpace> for Walk {
    fn name(&self) -> &str {
        "walk"
    }
    fn ask(&mut self, space: &ErasedSpace) -> Option<DynArch> {
        Some(match &self.0 {
            None => space.parse("000").ok()?,
            Some(a) => space.neighbours(a).swap_remove(0),
        })
    }
    fn tell(&mut self, _: &ErasedSpace, arch: &DynArch, _: &Evaluation) {
        self.0 = Some(arch.clone());
    }
}

#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
struct WalkParams {
    steps: usize,
}

impl Default for WalkParams {
    fn default() -> Self {
        Self { steps: 3 }
    }
}

impl Params for WalkParams {
    type Checked = usize;
    fn check(&self) -> Result<usize, ParamError> {
        if self.steps == 0 {
            return Err(ParamError { key: "steps", reason: "must be at least 1".into() });
        }
        Ok(self.steps)
    }
}

fn registry() -> Registry {
    let mut r = Registry::new();
    r.add(|r: &mut Registry| {
        r.add_space(SpaceEntry::new::<NoParams, _>("bits", "Three bits, for these tests.", |_| Bits));
        r.add_strategy(StrategyEntry::new::<WalkParams>("walk", "A deterministic walk.", |_, _| Ok(Box::new(Walk(None)))));
        // Long walks only on `bits`: a setting that holds on some spaces.
        r.add_strategy(StrategyEntry::new::<WalkParams>("long-walk", "A walk of many steps.", |_, _| Ok(Box::new(Walk(None)))).checking_space(
            |steps: &usize, space: &str| {
                if *steps > 5 && space != "bits" { Err(ParamError { key: "steps", reason: format!("more than 5 only on `bits`, not `{space}`") }) } else { Ok(()) }
            },
        ));
        r.add_estimator(
            EstimatorEntry::new::<NoParams>("ones", "Counts the set bits.", Serves::spaces(&["bits"]), |_, _| Ok(Built::new(erase_estimator(Ones))))
                .with_metrics::<NoParams>(|_| vec!["valid".into()]),
        );
        r.add_estimator(EstimatorEntry::new::<NoParams>("elsewhere", "Serves another space.", Serves::spaces(&["other"]), |_, _| {
            Err("never built".into())
        }));
    });
    r
}

fn parse(text: &str) -> Result<Components, ConfigError> {
    let doc = Document::parse("t.toml", text)?;
    registry().parse_components(&doc, &PathContext { data_root: None, base: ".".into() })
}

#[test]
fn erased_architectures_compare_and_hash_by_value() {
    let space = ErasedSpace::new(Bits);
    let (a, b) = (space.parse("101").unwrap(), space.parse("101").unwrap());
    assert_eq!(a, b);
    assert_ne!(a, space.parse("100").unwrap());
    assert_eq!([a.clone(), b].into_iter().collect::<HashSet<_>>().len(), 1);
    assert_eq!(a.downcast_ref::<[bool; 3]>(), Some(&[true, false, true]));
    // Erasing an erased space does not wrap it twice.
    let twice = ErasedSpace::new(space.clone());
    assert!(twice.downcast_ref::<Bits>().is_some());
    let mut estimator = erase_estimator(Ones);
    assert_eq!(estimator.evaluate(&a, EvalContext::default()).unwrap().valid, 2.0);
    assert!(estimator.evaluate(&DynArch::new(7u8), EvalContext::default()).is_err(), "another space's architecture is an invalid trial");
}

#[test]
fn components_are_read_checked_and_built_by_name() {
    let c = parse("[space]\nname = \"bits\"\n[strategy]\nname = \"walk\"\n[estimator]\nname = \"ones\"\n").unwrap();
    assert_eq!(c.strategy.checked::<usize>(), Some(&3));
    assert_eq!(c.strategy.table().get("steps").and_then(|v| v.as_integer()), Some(3), "defaults are stored");
    let mut stack = registry().build(&c, 0).unwrap();
    let first = stack.strategy.ask(&stack.space).unwrap();
    assert_eq!(stack.space.format(&first), "000");
    assert_eq!(stack.estimator.evaluate(&first, EvalContext::default()).unwrap().valid, 0.0);
}

#[test]
fn mistakes_are_located_with_their_choices() {
    let e = parse("[space]\nname = \"bots\"\n[strategy]\nname = \"walk\"\n[estimator]\nname = \"ones\"\n").unwrap_err();
    assert_eq!((e.line, e.column, e.key.as_deref()), (Some(2), Some(8), Some("space.name")));
    assert!(e.message.contains("unknown space `bots`; valid choices: bits"), "{e}");

    let e = parse("space = { name = \"bits\" }\nstrategy = { name = \"walk\", step = 2 }\nestimator = { name = \"ones\" }\n").unwrap_err();
    assert_eq!((e.line, e.column, e.key.as_deref()), (Some(2), Some(29), Some("strategy.step")), "{e}");
    assert!(e.message.contains("expected one of `name`, `steps`"), "{e}");

    let e = parse("space = { name = \"bits\" }\nstrategy = { name = \"walk\", steps = 0 }\nestimator = { name = \"ones\" }\n").unwrap_err();
    assert_eq!((e.line, e.column, e.key.as_deref()), (Some(2), Some(29), Some("strategy.steps")), "{e}");

    let e = parse("[space]\nname = \"bits\"\n[strategy]\nname = \"walk\"\nsteps = \"x\"\n[estimator]\nname = \"ones\"\n").unwrap_err();
    assert_eq!((e.line, e.key.as_deref()), (Some(5), Some("strategy.steps")), "{e}");

    let e = parse("[space]\nname = \"bits\"\n[strategy]\nname = \"walk\"\n[estimator]\nname = \"elsewhere\"\n").unwrap_err();
    assert!(e.message.contains("estimator `elsewhere` cannot evaluate space `bits`; valid choices for it: ones"), "{e}");

    let e = parse("[space]\nname = \"bits\"\n[strategy]\nname = \"ones\"\n[estimator]\nname = \"ones\"\n").unwrap_err();
    assert!(e.message.contains("`ones` is an estimator"), "{e}");

    let e = parse("[space]\nname = \"bits\"\n[strategy]\nname = \"walk\"\n[estimator]\nname = \"ones\"\n[trainer]\nepochs = 1\n").unwrap_err();
    assert_eq!(e.key.as_deref(), Some("trainer"), "{e}");
}

#[test]
fn a_setting_that_does_not_hold_on_the_space_is_refused_at_its_line() {
    let mut r = registry();
    r.add(|r: &mut Registry| {
        r.add_space(SpaceEntry::new::<NoParams, _>("more-bits", "Three bits again.", |_| Bits));
    });
    let text = "[space]\nname = \"more-bits\"\n[strategy]\nname = \"long-walk\"\nsteps = 9\n[estimator]\nname = \"ones\"\n";
    let doc = Document::parse("t.toml", text).unwrap();
    let paths = PathContext { data_root: None, base: ".".into() };
    // `ones` serves `bits` only: the space check comes first.
    let e = r.parse_components(&doc, &paths).unwrap_err();
    assert_eq!((e.line, e.key.as_deref()), (Some(5), Some("strategy.steps")), "{e}");
    assert!(e.message.contains("strategy `long-walk` on space `more-bits`: more than 5 only on `bits`"), "{e}");
    assert!(parse("[space]\nname = \"bits\"\n[strategy]\nname = \"long-walk\"\nsteps = 9\n[estimator]\nname = \"ones\"\n").is_ok());
    // Components configured in code are checked the same way.
    let mut c = parse("[space]\nname = \"bits\"\n[strategy]\nname = \"long-walk\"\nsteps = 9\n[estimator]\nname = \"ones\"\n").unwrap();
    c.space = r.configure(crate::Kind::Space, "more-bits", "").unwrap();
    let e = r.check(&c).unwrap_err();
    assert!(e.message.contains("on space `more-bits`, `steps`: more than 5"), "{}", e.message);
}

#[test]
#[should_panic(expected = "strategy `walk`: its space check takes bool, its parameters check into usize")]
fn a_space_check_of_another_parameter_type_is_refused_at_registration() {
    let _ = StrategyEntry::new::<WalkParams>("walk", "A walk.", |_, _| Ok(Box::new(Walk(None)))).checking_space(|_: &bool, _: &str| Ok(()));
}

#[test]
#[should_panic(expected = "two components of kind strategy are registered as `walk`")]
fn a_name_is_registered_once() {
    let mut r = registry();
    r.add_strategy(StrategyEntry::new::<NoParams>("walk", "Again.", |_, _| Ok(Box::new(Walk(None)))));
}
