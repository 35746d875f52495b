//! Trains one NAS-Bench-Graph cell on Cora: `gnn_probe LINKS OPS EPOCHS DIM DROPOUT LR OPT`.
use nasforge_space_nbgraph::{NbGraphSpace};
use nasforge_core::SearchSpace;
use nasforge_trainer_dfdx::gnn::*;
use nasforge_trainer_dfdx::OptimizerConfig;

fn main() {
    let a: Vec<String> = std::env::args().collect();
    let space = NbGraphSpace::standard();
    let cell = space.parse(&a[1]).unwrap();
    let g = nasforge_datasets::graph_npz("../shared/data/graphs/cora.npz", nasforge_datasets::GraphSplit::default()).unwrap();
    let adj = Adjacency::new(&g);
    let lr: f64 = a[5].parse().unwrap();
    let optimizer = if a[6] == "adam" { OptimizerConfig::Adam { lr, weight_decay: 5e-4 } } else { OptimizerConfig::Sgd { lr, momentum: 0.9, nesterov: false, weight_decay: 5e-4 } };
    let config = GnnTrainConfig { shape: GnnShape { dim: a[3].parse().unwrap(), dropout: a[4].parse().unwrap(), post_layers: 1 }, epochs: a[2].parse().unwrap(), optimizer };
    let t = std::time::Instant::now();
    let r = train_gnn(&cell, &g, &adj, &config, 0).unwrap();
    println!("{r:?} {:.1}s", t.elapsed().as_secs_f64());
}
