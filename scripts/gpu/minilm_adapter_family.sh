# Final adapter-family runs (Kronecker family and baselines), MiniLM, seed 0: AdamW lr 1e-3 (Compacter 3e-3, KronA paper Table 13),
# batch 32, 6 epochs, warmup 6%, on GLUE MRPC and STS-B. Why not the papers' Adafactor: with relative_step +
# warmup_init (the "no learning rate" Adafactor the MAdaKron paper describes) the lr starts at 1e-6·step and is
# scaled by each parameter's RMS, so zero-initialised up projections barely move in a short run — a first try
# gave STS-B Pearson 4-26 for Pfeiffer / Parallel Adapter / AdaMix after 1,800 steps. Epochs: GPU budget.
# Run: scripts/gpu/run_jobs.sh 16 scripts/gpu/minilm_adapter_family.sh
python -m kronbench model=minilm task=glue/mrpc method=houlsby method.r=48 train=gpu train.optimizer=adamw train.lr=1e-3 train.batch_size=32 train.epochs=6 train.warmup_ratio=0.06 data_dir=$DATA_DIR seed=0 output_dir=results
python -m kronbench model=minilm task=glue/mrpc method=pfeiffer method.r=48 train=gpu train.optimizer=adamw train.lr=1e-3 train.batch_size=32 train.epochs=6 train.warmup_ratio=0.06 data_dir=$DATA_DIR seed=0 output_dir=results
python -m kronbench model=minilm task=glue/mrpc method=parallel_adapter method.r=48 train=gpu train.optimizer=adamw train.lr=1e-3 train.batch_size=32 train.epochs=6 train.warmup_ratio=0.06 data_dir=$DATA_DIR seed=0 output_dir=results
python -m kronbench model=minilm task=glue/mrpc method=compacter train=gpu train.optimizer=adamw train.lr=3e-3 train.batch_size=32 train.epochs=6 train.warmup_ratio=0.06 data_dir=$DATA_DIR seed=0 output_dir=results
python -m kronbench model=minilm task=glue/mrpc method=adamix train=gpu train.optimizer=adamw train.lr=1e-3 train.batch_size=32 train.epochs=6 train.warmup_ratio=0.06 data_dir=$DATA_DIR seed=0 output_dir=results
python -m kronbench model=minilm task=glue/mrpc method=adakron method.r=48 method.r2=4 train=gpu train.optimizer=adamw train.lr=1e-3 train.batch_size=32 train.epochs=6 train.warmup_ratio=0.06 data_dir=$DATA_DIR seed=0 output_dir=results
python -m kronbench model=minilm task=glue/mrpc method=madakron_partial method.r=48 method.r2=4 method.n_experts=4 train=gpu train.optimizer=adamw train.lr=1e-3 train.batch_size=32 train.epochs=6 train.warmup_ratio=0.06 data_dir=$DATA_DIR seed=0 output_dir=results
python -m kronbench model=minilm task=glue/mrpc method=madakron_full method.r=48 method.r2=4 method.n_experts=4 train=gpu train.optimizer=adamw train.lr=1e-3 train.batch_size=32 train.epochs=6 train.warmup_ratio=0.06 data_dir=$DATA_DIR seed=0 output_dir=results
python -m kronbench model=minilm task=glue/stsb method=houlsby method.r=48 train=gpu train.optimizer=adamw train.lr=1e-3 train.batch_size=32 train.epochs=6 train.warmup_ratio=0.06 data_dir=$DATA_DIR seed=0 output_dir=results
python -m kronbench model=minilm task=glue/stsb method=pfeiffer method.r=48 train=gpu train.optimizer=adamw train.lr=1e-3 train.batch_size=32 train.epochs=6 train.warmup_ratio=0.06 data_dir=$DATA_DIR seed=0 output_dir=results
python -m kronbench model=minilm task=glue/stsb method=parallel_adapter method.r=48 train=gpu train.optimizer=adamw train.lr=1e-3 train.batch_size=32 train.epochs=6 train.warmup_ratio=0.06 data_dir=$DATA_DIR seed=0 output_dir=results
python -m kronbench model=minilm task=glue/stsb method=compacter train=gpu train.optimizer=adamw train.lr=3e-3 train.batch_size=32 train.epochs=6 train.warmup_ratio=0.06 data_dir=$DATA_DIR seed=0 output_dir=results
python -m kronbench model=minilm task=glue/stsb method=adamix train=gpu train.optimizer=adamw train.lr=1e-3 train.batch_size=32 train.epochs=6 train.warmup_ratio=0.06 data_dir=$DATA_DIR seed=0 output_dir=results
python -m kronbench model=minilm task=glue/stsb method=adakron method.r=48 method.r2=4 train=gpu train.optimizer=adamw train.lr=1e-3 train.batch_size=32 train.epochs=6 train.warmup_ratio=0.06 data_dir=$DATA_DIR seed=0 output_dir=results
python -m kronbench model=minilm task=glue/stsb method=madakron_partial method.r=48 method.r2=4 method.n_experts=4 train=gpu train.optimizer=adamw train.lr=1e-3 train.batch_size=32 train.epochs=6 train.warmup_ratio=0.06 data_dir=$DATA_DIR seed=0 output_dir=results
python -m kronbench model=minilm task=glue/stsb method=madakron_full method.r=48 method.r2=4 method.n_experts=4 train=gpu train.optimizer=adamw train.lr=1e-3 train.batch_size=32 train.epochs=6 train.warmup_ratio=0.06 data_dir=$DATA_DIR seed=0 output_dir=results
