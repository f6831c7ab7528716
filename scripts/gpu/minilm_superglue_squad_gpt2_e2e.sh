# Other tasks, GPU runs (seed 0): MiniLM on SuperGLUE CB and COPA and on SQuAD v1.1 trained on 90% of the dev articles
# (evaluated on the other 10%, split by title: record data.note says so), and a randomly initialised small GPT-2
# (6 layers, n_embd 512) trained briefly on E2E, evaluated with beam search and all E2E metrics.
# Run on a GPU machine after `source scripts/gpu/setup.sh`: scripts/gpu/run_jobs.sh 4 scripts/gpu/minilm_superglue_squad_gpt2_e2e.sh
# CB/COPA: MAdaKron App. A.3-style full fine-tune settings scaled to MiniLM (lr 5e-5 full FT would need many epochs
#   on 250/400 examples; we use lr 1e-4, batch 16, 20 epochs: ~320 / 500 steps, < 2 min each).
# SQuAD: lr 1e-4, batch 32, 2 epochs over ~9.2k questions (~600 steps), max_length 384, doc_stride 128.
# E2E: GPT-2 from scratch, lr 1e-3, batch 32, 3000 steps over the 42k (MR, ref) pairs, warmup 6%; dev/test eval
#   on the first 300 MRs of each (train.max_eval_samples=300), beam 10, length penalty 0.8, no-repeat 4-gram.
python -m kronbench model=minilm task=super_glue/cb method=full train=gpu train.lr=1e-4 train.batch_size=16 train.epochs=20 data_dir=$DATA_DIR seed=0 output_dir=results
python -m kronbench model=minilm task=super_glue/copa method=full train=gpu train.lr=1e-4 train.batch_size=16 train.epochs=20 data_dir=$DATA_DIR seed=0 output_dir=results
python -m kronbench model=minilm task=squad task.split_protocol=dev_by_article method=full train=gpu train.lr=1e-4 train.batch_size=32 train.epochs=2 data_dir=$DATA_DIR seed=0 output_dir=results
python -m kronbench model=gpt2-small-random task=e2e_nlg method=full train=gpu train.lr=1e-3 train.batch_size=32 train.max_steps=3000 train.warmup_ratio=0.06 train.eval_strategy=steps train.eval_steps=3000 train.max_eval_samples=300 train.eval_batch_size=64 data_dir=$DATA_DIR seed=0 output_dir=results
