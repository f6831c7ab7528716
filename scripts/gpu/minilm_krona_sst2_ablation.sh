# Why is KronA A=(32,24) 3.7 points below full fine-tuning on SST-2 (MiniLM)? One factor at a time, seed 0.
# Run on a GPU machine after `source scripts/gpu/setup.sh`: scripts/gpu/run_jobs.sh 4 scripts/gpu/minilm_krona_sst2_ablation.sh
# scale: s=4 instead of 1 (same lr)
python -m kronbench model=minilm task=glue/sst2 method=krona method.scale=4 train=gpu train.lr=3e-3 train.epochs=3 data_dir=$DATA_DIR seed=0 output_dir=results
# learning rate: 1e-2 instead of 3e-3
python -m kronbench model=minilm task=glue/sst2 method=krona train=gpu train.lr=1e-2 train.epochs=3 data_dir=$DATA_DIR seed=0 output_dir=results
# factor shape: A=(64,48), B=(6,8): 3,120 parameters per layer (LoRA r=8: 6,144) instead of 960
python -m kronbench model=minilm task=glue/sst2 method=krona 'method.factor_shape=[64,48]' train=gpu train.lr=3e-3 train.epochs=3 data_dir=$DATA_DIR seed=0 output_dir=results
# targets: all four attention projections (query, key, value, output) instead of query/value
python -m kronbench model=minilm task=glue/sst2 method=krona 'method.target_modules=[attention.self.query,attention.self.key,attention.self.value,attention.output.dense]' train=gpu train.lr=3e-3 train.epochs=3 data_dir=$DATA_DIR seed=0 output_dir=results
