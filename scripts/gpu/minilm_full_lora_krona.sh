# Foundation GPU runs: MiniLM, seed 0, full training of full / lora / krona on SST-2 and STS-B.
# Run on a GPU machine after `source scripts/gpu/setup.sh`: scripts/gpu/run_jobs.sh 6 scripts/gpu/minilm_full_lora_krona.sh
# lr: full FT 5e-5 (BERT-style); LoRA 1e-3 and KronA 3e-3 (adapter lrs; KronA paper uses 1e-3..2e-3 at batch 100).
python -m kronbench model=minilm task=glue/sst2 method=full train=gpu train.lr=5e-5 train.epochs=3 data_dir=$DATA_DIR seed=0 output_dir=results
python -m kronbench model=minilm task=glue/sst2 method=lora train=gpu train.lr=1e-3 train.epochs=3 data_dir=$DATA_DIR seed=0 output_dir=results
python -m kronbench model=minilm task=glue/sst2 method=krona train=gpu train.lr=3e-3 train.epochs=3 data_dir=$DATA_DIR seed=0 output_dir=results
python -m kronbench model=minilm task=glue/stsb method=full train=gpu train.lr=5e-5 train.epochs=10 data_dir=$DATA_DIR seed=0 output_dir=results
python -m kronbench model=minilm task=glue/stsb method=lora train=gpu train.lr=1e-3 train.epochs=10 data_dir=$DATA_DIR seed=0 output_dir=results
python -m kronbench model=minilm task=glue/stsb method=krona train=gpu train.lr=3e-3 train.epochs=10 data_dir=$DATA_DIR seed=0 output_dir=results
