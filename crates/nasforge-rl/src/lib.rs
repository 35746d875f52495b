//! The RL controller family: REINFORCE (Williams 1992) as NAS uses it
//! (Zoph & Le 2017; the NAS-Bench-201 baseline), learning a policy over
//! the optional categorical decisions of a space.
//!
//! `controller = "factorised"` learns independent softmax logits per
//! decision; `controller = "lstm"` (feature `lstm`) the NASNet/ENAS
//! autoregressive LSTM controller.

use nasforge_core::ParamError;
use nasforge_registry::{Params, Registry, StrategyEntry};
use serde::{Deserialize, Serialize};

#[cfg(feature = "lstm")]
mod lstm;
mod reinforce;

#[cfg(feature = "lstm")]
pub use lstm::{LstmPolicy, LstmPolicyConfig, LstmPolicyParams};
pub use reinforce::{FactorisedPolicy, Policy, Reinforce, ReinforceConfig, ReinforceParams, draw};

/// REINFORCE's policies, as named in experiment files.
pub const CONTROLLERS: &[&str] = if cfg!(feature = "lstm") { &["factorised", "lstm"] } else { &["factorised"] };

/// The step size of the factorised policy when the file gives none (NB201,
/// 20 seeds: 0.05-0.15 all within 0.04 of the best).
const FACTORISED_LR: f64 = 0.1;
/// Adam's step size for the LSTM controller when the file gives none.
const LSTM_LR: f64 = 0.005;

/// `[strategy] name = "reinforce"`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ReinforceToml {
    /// `factorised` (default) or `lstm`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub controller: Option<String>,
    /// Step size (default 0.1 for the factorised policy, Adam's 0.005 for
    /// the LSTM).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lr: Option<f64>,
    /// Decay of the reward's moving mean and variance.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub baseline_decay: Option<f64>,
    /// Weight of the entropy bonus.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entropy: Option<f64>,
    /// LSTM hidden size.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hidden: Option<usize>,
    /// LSTM logit temperature.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// LSTM tanh squashing constant.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tanh_constant: Option<f64>,
}

/// The policy REINFORCE learns, checked.
#[derive(Clone, Debug, PartialEq)]
pub enum Controller {
    /// Independent softmax logits per decision.
    Factorised,
    /// The NASNet/ENAS autoregressive LSTM controller (dfdx).
    #[cfg(feature = "lstm")]
    Lstm(LstmPolicyConfig),
}

/// REINFORCE's checked parameters.
#[derive(Clone, Debug)]
pub struct ReinforceChecked {
    /// The policy-gradient settings.
    pub config: ReinforceConfig,
    /// The policy.
    pub controller: Controller,
}

impl Params for ReinforceToml {
    type Checked = ReinforceChecked;

    fn check(&self) -> Result<ReinforceChecked, ParamError> {
        let (controller, default_lr) = match self.controller.as_deref() {
            None | Some("factorised") => {
                for (key, given) in [("hidden", self.hidden.is_some()), ("temperature", self.temperature.is_some()), ("tanh-constant", self.tanh_constant.is_some())] {
                    if given {
                        return Err(ParamError { key, reason: "sets the LSTM controller; add `controller = \"lstm\"` or remove it".into() });
                    }
                }
                (Controller::Factorised, FACTORISED_LR)
            }
            #[cfg(feature = "lstm")]
            Some("lstm") => {
                let d = LstmPolicyParams::default();
                let params = LstmPolicyParams {
                    hidden: self.hidden.unwrap_or(d.hidden),
                    temperature: self.temperature.unwrap_or(d.temperature),
                    tanh_constant: self.tanh_constant.unwrap_or(d.tanh_constant),
                    init_range: d.init_range,
                };
                let checked = params.check()?;
                (Controller::Lstm(checked), LSTM_LR)
            }
            #[cfg(not(feature = "lstm"))]
            Some("lstm") => {
                return Err(ParamError {
                    key: "controller",
                    reason: "the LSTM controller is not in this binary (it was built without the `lstm` feature of nasforge-rl)".into(),
                });
            }
            Some(other) => {
                return Err(ParamError { key: "controller", reason: format!("unknown controller `{other}`; valid choices: {}", CONTROLLERS.join(", ")) });
            }
        };
        let d = ReinforceParams::default();
        let config = ReinforceParams {
            lr: self.lr.unwrap_or(default_lr),
            baseline_decay: self.baseline_decay.unwrap_or(d.baseline_decay),
            entropy: self.entropy.unwrap_or(d.entropy),
            objective: d.objective,
        }
        .check()?;
        Ok(ReinforceChecked { config, controller })
    }

    fn resolved(&self, c: &ReinforceChecked) -> Self {
        let p = c.config.params();
        let mut out = ReinforceToml { lr: Some(p.lr), baseline_decay: Some(p.baseline_decay), entropy: Some(p.entropy), ..Default::default() };
        match &c.controller {
            Controller::Factorised => out.controller = Some("factorised".into()),
            #[cfg(feature = "lstm")]
            Controller::Lstm(l) => {
                let l = l.params();
                out.controller = Some("lstm".into());
                (out.hidden, out.temperature, out.tanh_constant) = (Some(l.hidden), Some(l.temperature), Some(l.tanh_constant));
            }
        }
        out
    }
}

/// Registers `reinforce`.
pub fn register(registry: &mut Registry) {
    registry.add_strategy(StrategyEntry::new::<ReinforceToml>(
        "reinforce",
        "REINFORCE over the space's categorical decisions (NAS-Bench-201's RL baseline): a normalised moving baseline and an entropy bonus; \
         `controller = \"factorised\"` or `\"lstm\"` (the NASNet/ENAS controller).",
        |c, ctx| {
            Ok(match &c.controller {
                Controller::Factorised => Box::new(Reinforce::new(c.config.clone(), ctx.seed)),
                #[cfg(feature = "lstm")]
                Controller::Lstm(l) => Box::new(Reinforce::with_policy(c.config.clone(), ctx.seed, Box::new(LstmPolicy::new(l.clone())))),
            })
        },
    ));
}
