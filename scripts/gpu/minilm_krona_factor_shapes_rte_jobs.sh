# KronA factor shapes on MiniLM + GLUE RTE as independent processes (parallel on one GPU; the sweep form:
# minilm_krona_factor_shapes_rte.sh): the KronA Table 9 preset at scale=local, 4 seeds x 2 factor shapes.
# warmup_steps=0 -> 6% warmup: the T5 protocol's 500 steps would be the whole 500-step RTE run.
# Records go to the committed results/ (output_dir=results).
# Run: scripts/gpu/run_jobs.sh 8 scripts/gpu/minilm_krona_factor_shapes_rte_jobs.sh
python -m kronbench experiment=krona_table9_factor_shapes scale=local task=glue/rte train=gpu train.lr=2e-3 train.warmup_steps=0 data_dir=$DATA_DIR 'method.factor_shape=[2,384]' seed=0 output_dir=results
python -m kronbench experiment=krona_table9_factor_shapes scale=local task=glue/rte train=gpu train.lr=2e-3 train.warmup_steps=0 data_dir=$DATA_DIR 'method.factor_shape=[2,384]' seed=42 output_dir=results
python -m kronbench experiment=krona_table9_factor_shapes scale=local task=glue/rte train=gpu train.lr=2e-3 train.warmup_steps=0 data_dir=$DATA_DIR 'method.factor_shape=[2,384]' seed=1234 output_dir=results
python -m kronbench experiment=krona_table9_factor_shapes scale=local task=glue/rte train=gpu train.lr=2e-3 train.warmup_steps=0 data_dir=$DATA_DIR 'method.factor_shape=[2,384]' seed=4321 output_dir=results
python -m kronbench experiment=krona_table9_factor_shapes scale=local task=glue/rte train=gpu train.lr=2e-3 train.warmup_steps=0 data_dir=$DATA_DIR 'method.factor_shape=[32,24]' seed=0 output_dir=results
python -m kronbench experiment=krona_table9_factor_shapes scale=local task=glue/rte train=gpu train.lr=2e-3 train.warmup_steps=0 data_dir=$DATA_DIR 'method.factor_shape=[32,24]' seed=42 output_dir=results
python -m kronbench experiment=krona_table9_factor_shapes scale=local task=glue/rte train=gpu train.lr=2e-3 train.warmup_steps=0 data_dir=$DATA_DIR 'method.factor_shape=[32,24]' seed=1234 output_dir=results
python -m kronbench experiment=krona_table9_factor_shapes scale=local task=glue/rte train=gpu train.lr=2e-3 train.warmup_steps=0 data_dir=$DATA_DIR 'method.factor_shape=[32,24]' seed=4321 output_dir=results
