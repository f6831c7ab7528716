"""Compiled steps equal eager ones: bucketed padding changes no logit, compiled forward/backward match eager."""

from __future__ import annotations

import pytest
import torch
import torch._dynamo

from kronbench.compile import BucketPadding, compile_model, eager, padded_length, repeated_blocks, uncompile
from kronbench.registry import METHODS
from kronbench.run import run
from tests.conftest import DATA_DIR, compose_config, needs_shared
from tests.test_baselines import make_method
from tests.test_sites_mixture import tiny_model


def test_padded_length():
    assert [padded_length(n, 32) for n in (1, 31, 32, 33, 128)] == [32, 32, 32, 64, 128]
    with pytest.raises(ValueError, match="pad_to_multiple_of=0"):
        BucketPadding(lambda f: f, 0, 0)


def test_bucket_padding_pads_sequences_and_token_labels_only():
    def collate(features):
        return {
            "input_ids": torch.ones(2, 5, dtype=torch.long),
            "attention_mask": torch.ones(2, 5, dtype=torch.long),
            "labels": torch.tensor([0, 1]),
            "token_labels_like": torch.ones(2, 5),  # not a sequence key: untouched
        }

    batch = BucketPadding(collate, pad_token_id=7, multiple=8)([])
    assert batch["input_ids"].shape == (2, 8) and batch["input_ids"][0, 5:].tolist() == [7, 7, 7]
    assert batch["attention_mask"][0].tolist() == [1] * 5 + [0] * 3
    assert batch["labels"].tolist() == [0, 1] and batch["token_labels_like"].shape == (2, 5)
    lm = BucketPadding(
        lambda f: {"input_ids": torch.ones(1, 3, dtype=torch.long), "labels": torch.ones(1, 3)}, 0, 4
    )
    assert lm([])["labels"].tolist() == [[1, 1, 1, -100]]


def test_bucket_padding_changes_no_logit_of_an_encoder():
    model, _ = tiny_model("tiny-bert")
    model.eval()
    gen = torch.Generator().manual_seed(0)
    batch = {
        "input_ids": torch.randint(5, 1000, (3, 9), generator=gen),
        "attention_mask": torch.ones(3, 9).long(),
    }
    batch["attention_mask"][1, 6:] = 0  # a shorter row, already padded inside the batch
    padded = BucketPadding(lambda f: dict(batch), pad_token_id=0, multiple=16)([])
    assert padded["input_ids"].shape == (3, 16)
    with torch.no_grad():
        torch.testing.assert_close(model(**padded).logits, model(**batch).logits, rtol=1e-5, atol=1e-5)


def loss_and_grads(model, batch):
    model.zero_grad(set_to_none=True)
    loss = model(**batch).loss
    loss.backward()
    return loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


def assert_compiled_equals_eager(model, scope: str):
    """Loss and gradients of one batch, eager then compiled (backend aot_eager: the graphs the GPU compiler
    receives, run eagerly), equal within fp32 rounding; returns the compile state."""
    model.train(False)  # dropout off: both passes see the same function
    gen = torch.Generator().manual_seed(1)
    ids = torch.randint(5, 1000, (2, 8), generator=gen)
    batch = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": torch.tensor([0, 1])}
    eager_loss, eager_grads = loss_and_grads(model, batch)
    state = compile_model(model, backend="aot_eager", scope=scope)
    compiled_loss, compiled_grads = loss_and_grads(model, batch)
    assert state.used, state.fallback_reason
    torch.testing.assert_close(compiled_loss, eager_loss, rtol=1e-5, atol=1e-6)
    assert compiled_grads.keys() == eager_grads.keys() and eager_grads
    for key, grad in eager_grads.items():
        torch.testing.assert_close(compiled_grads[key], grad, rtol=1e-4, atol=1e-6, msg=key)
    return state


@pytest.mark.parametrize(
    ("name", "overrides"),
    [
        ("krona", ["method.factor_shape=[4,8]"]),
        ("lora", []),
        ("adakron", ["method.r=8", "method.r2=2"]),
        ("full", []),
    ],
)
@pytest.mark.parametrize("scope", ["model", "blocks"])
def test_compiled_forward_and_backward_equal_eager(name, overrides, scope):
    """Traced by Dynamo + AOT autograd, whole model or block by block."""
    torch._dynamo.reset()
    model, _ = tiny_model("tiny-bert")
    torch.manual_seed(0)
    make_method(name, "tiny-bert", *overrides).apply(model)
    state = assert_compiled_equals_eager(model, scope)
    assert (state.scope, state.blocks) == (("blocks", 2) if scope == "blocks" else ("model", 0))
    uncompile(model)
    assert all(m._compiled_call_impl is None for m in model.modules())


# every other registered method, at the trainer's default scope: a method that breaks the compiled graph (a graph
# break is fine, a different number is not) is caught here rather than in a GPU run
OTHER_METHODS = sorted(set(METHODS) - {"krona", "lora", "adakron", "full"})
TINY_SHAPES = {"krona_b": ["method.factor_shape=[4,8]"], "krona_b_res": ["method.factor_shape=[4,8]"]}


@pytest.mark.parametrize("name", OTHER_METHODS)
def test_every_method_compiles_to_the_eager_loss_and_gradients(name):
    torch._dynamo.reset()
    model, _ = tiny_model("tiny-bert")
    torch.manual_seed(0)
    make_method(name, "tiny-bert", *TINY_SHAPES.get(name, [])).apply(model)
    for param in model.parameters():  # zero-initialised factors would make every gradient check trivial
        if param.requires_grad:
            with torch.no_grad():
                param.add_(
                    0.01 * torch.randn(param.shape, generator=torch.Generator().manual_seed(param.numel()))
                )
    assert_compiled_equals_eager(model, "blocks")
    uncompile(model)


def test_block_scope_compiles_the_outermost_stack_once_for_identical_layers():
    """tiny-bert's two encoder layers (adapters and experts inside them are not stacks of their own) share one
    traced graph: the backend is asked once for both, so a 24-layer model compiles about as fast as one layer."""
    torch._dynamo.reset()
    model, _ = tiny_model("tiny-bert")
    make_method("madakron_partial", "tiny-bert", "method.r=8", "method.r2=2").apply(model)
    blocks = repeated_blocks(model)
    assert blocks == list(model.bert.encoder.layer)
    graphs = []

    def counting_backend(graph, example_inputs):
        graphs.append(graph)
        return graph.forward

    model.eval()
    ids = torch.randint(5, 1000, (2, 8), generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        expected = model(input_ids=ids).logits
        state = compile_model(model, backend=counting_backend, scope="blocks")
        got = model(input_ids=ids).logits
    assert state.used and state.blocks == 2
    assert len(graphs) == 1
    # what the record says: one graph, nothing eager between
    assert (state.graphs, state.graph_breaks) == (1, 0)
    torch.testing.assert_close(got, expected)
    with eager(model):
        assert all(m._compiled_call_impl is None for m in model.modules())
    assert all(b._compiled_call_impl is not None for b in blocks)


def run_shape_variants(model) -> int:
    """Forward a tiny BERT over 4 sequence buckets x 3 batch sizes, training with grad and evaluating without:
    24 variants of the blocks' one compiled frame. Returns how many graphs the backend was asked for."""
    graphs = []

    def counting_backend(graph, example_inputs):
        graphs.append(graph)
        return graph.forward

    compile_model(model, backend=counting_backend, scope="blocks")
    gen = torch.Generator().manual_seed(4)
    for training in (True, False):
        model.train(training)
        with torch.set_grad_enabled(training):
            for batch in (2, 3, 5):
                for length in (8, 16, 24, 32):
                    model(input_ids=torch.randint(5, 1000, (batch, length), generator=gen))
    return len(graphs)


def test_every_shape_bucket_stays_compiled_past_dynamos_default_limit():
    """Dynamo's default (8 variants per frame) would run most of a bucketed run's blocks eagerly after a warning
    only; compile_model raises the limit, and the record counts the frames that still hit it."""
    torch._dynamo.reset()
    model, _ = tiny_model("tiny-bert")
    with torch._dynamo.config.patch(recompile_limit=8, accumulated_recompile_limit=256):
        graphs = run_shape_variants(model)
    assert graphs > 8  # variants past Dynamo's default of 8 were compiled too, none left to run eagerly
    torch._dynamo.reset()


def test_a_frame_past_the_recompile_limit_is_counted_in_the_record(monkeypatch):
    torch._dynamo.reset()
    monkeypatch.setattr("kronbench.compile.RECOMPILE_LIMIT", 2)
    model, _ = tiny_model("tiny-bert")
    gen = torch.Generator().manual_seed(5)
    with torch._dynamo.config.patch(recompile_limit=2):
        state = compile_model(model, backend="eager", scope="blocks")
        model.eval()
        with torch.no_grad():
            for length in (8, 16, 24, 32):
                model(input_ids=torch.randint(5, 1000, (2, length), generator=gen))
    assert state.recompile_limit_hits >= 1
    assert state.as_record()["recompile_limit_hits"] == state.recompile_limit_hits
    torch._dynamo.reset()


def test_cuda_graphs_at_block_scope_are_refused_before_training():
    """The identical blocks replay one CUDA graph: each call overwrites the output the next block still reads
    (seen on an H100: "accessing tensor output of CUDAGraphs that has been overwritten"). Refused up front."""
    import torch._inductor

    from kronbench.config import CUDA_GRAPH_MODES, TrainConfig

    # the modes that replay CUDA graphs are exactly those inductor's mode options turn CUDA graphs on in
    options = torch._inductor.list_mode_options()
    assert set(CUDA_GRAPH_MODES) == {m for m, o in options.items() if o.get("triton.cudagraphs")}
    for mode in CUDA_GRAPH_MODES:
        with pytest.raises(ValueError, match=f"{mode} \\(CUDA graphs\\) needs train.compile_scope=model"):
            TrainConfig(compile=True, compile_mode=mode, compile_scope="blocks")
        TrainConfig(compile=True, compile_mode=mode, compile_scope="model")
        TrainConfig(compile=False, compile_mode=mode)  # not compiling: nothing to refuse
    TrainConfig(compile=True, compile_mode="max-autotune-no-cudagraphs", compile_scope="blocks")


def test_graph_breaks_are_counted_in_the_record():
    """A forward Dynamo must split runs eagerly between its pieces: the record says how many breaks and graphs."""
    torch._dynamo.reset()

    class Breaking(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a, self.b = torch.nn.Linear(4, 4), torch.nn.Linear(4, 4)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = self.a(x).relu()
            torch._dynamo.graph_break()
            return self.b(x)

    model = Breaking()
    state = compile_model(model, backend="eager", scope="model")
    model(torch.randn(2, 4))
    record = state.as_record()
    assert record["graph_breaks"] == 1 and record["graphs"] == 2
    torch._dynamo.reset()


def test_a_model_without_a_stack_is_compiled_whole():
    model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.ReLU())
    state = compile_model(model, backend="aot_eager", scope="blocks")
    assert (state.scope, state.blocks) == ("model", 0) and model._compiled_call_impl is not None
    with pytest.raises(ValueError, match="compile_scope='layers' is not valid"):
        compile_model(model, scope="layers")


def test_a_failing_compiler_falls_back_to_eager_and_says_why():
    torch._dynamo.reset()

    def broken_backend(graph, example_inputs):
        raise RuntimeError("no C++ compiler on this machine")

    model, _ = tiny_model("tiny-bert")
    model.eval()
    ids = torch.randint(5, 1000, (2, 8), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        expected = model(input_ids=ids).logits
        state = compile_model(model, backend=broken_backend)
        got = model(input_ids=ids).logits
    assert not state.used and "no C++ compiler" in state.fallback_reason
    assert state.as_record() == {
        "requested": True,
        "used": False,
        "mode": "default",
        "fallback": state.fallback_reason,
        "scope": "model",
        "blocks": 0,
        "recompile_limit_hits": 0,
        "graphs": state.graphs,
        "graph_breaks": 0,
    }
    torch.testing.assert_close(got, expected)


TRACE_ONLY = ["train.compile_backend=aot_eager"]  # the graphs the GPU compiler gets, run eagerly (CPU-exact)
CUDA_GRAPHS = ["train.compile_backend=inductor", "train.compile_mode=reduce-overhead"]
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA graphs need a GPU")


@pytest.mark.parametrize(
    ("scope", "backend", "loss_rel", "accuracy_abs"),
    [
        ("blocks", TRACE_ONLY, 1e-5, 1e-6),
        ("model", TRACE_ONLY, 1e-5, 1e-6),
        # on a GPU: the whole model compiled by inductor and replayed as CUDA graphs; its kernels reorder
        # reductions, so a loss may move in the 5th digit and one of the 24 predictions may flip (accuracy in percent)
        pytest.param("model", CUDA_GRAPHS, 1e-4, 100 / 24 + 1e-6, marks=needs_cuda, id="model-cudagraphs"),
        # what the trainer bench runs: CUDA-graph training, then eager evaluations of the same model
        pytest.param(
            "model",
            [*CUDA_GRAPHS, "train.compile_eval=false"],
            1e-4,
            100 / 24 + 1e-6,
            marks=needs_cuda,
            id="model-cudagraphs-eager-eval",
        ),  # fmt: skip
    ],
)
@needs_shared
def test_trainer_runs_compiled_with_bucketed_shapes_and_matches_eager(
    tmp_path, scope, backend, loss_rel, accuracy_abs
):
    """A real run (tiny BERT + KronA on RTE, dropout off): compiled and eager give the same training losses and
    evaluations, block by block, with the whole model as one graph (the graph CUDA graphs replay), and on a GPU
    replayed as CUDA graphs."""
    common = [
        f"data_dir={DATA_DIR}",
        "model=tiny-bert",
        "+model.config_overrides.hidden_dropout_prob=0.0",
        "+model.config_overrides.attention_probs_dropout_prob=0.0",
        "method=krona",
        "method.factor_shape=[4,8]",
        "task=glue/rte",
        "train=demo",
        "train.max_steps=3",
        "train.max_train_samples=24",
        "train.max_eval_samples=24",
        "train.batch_size=8",
        "train.pad_to_multiple_of=32",
        "train.progress_bar=false",
    ]
    torch._dynamo.reset()
    eager_run = run(compose_config(*common, f"output_dir={tmp_path / 'eager'}"))
    compiled_run = run(
        compose_config(
            *common,
            "train.compile=true",
            *backend,
            f"train.compile_scope={scope}",
            f"output_dir={tmp_path / 'c'}",
        )
    )
    compile_record = compiled_run["timing"]["compile"]
    assert compile_record["used"] and not eager_run["timing"]["compile"]["requested"]
    assert compile_record["scope"] == scope and compile_record["graph_breaks"] == 0
    for a, b in zip(eager_run["metrics"]["evals"], compiled_run["metrics"]["evals"], strict=True):
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=loss_rel)
        assert a["validation"] == pytest.approx(b["validation"], abs=accuracy_abs)


@needs_shared
def test_compile_eval_false_evaluates_eagerly_and_compiles_only_the_training_graphs(tmp_path):
    """`train.compile_eval=false` (the trainer bench's short runs): training compiled, evaluation eager — fewer
    graphs than a run that compiles its evaluation too, and the same evaluations."""
    common = [f"data_dir={DATA_DIR}", "model=tiny-bert", "method=lora", "task=glue/rte", "train=demo",
              "train.max_steps=2", "train.max_train_samples=16", "train.max_eval_samples=12", "train.batch_size=8",
              "train.pad_to_multiple_of=32", "train.progress_bar=false", "train.compile=true", *TRACE_ONLY,
              "train.compile_scope=model"]  # fmt: skip
    both = run(compose_config(*common, f"output_dir={tmp_path / 'both'}"))
    train_only = run(compose_config(*common, "train.compile_eval=false", f"output_dir={tmp_path / 'train'}"))
    graphs_both, graphs_train = (r["timing"]["compile"]["graphs"] for r in (both, train_only))
    assert train_only["timing"]["compile"]["used"] and 0 < graphs_train < graphs_both
    assert train_only["metrics"]["report"]["metrics"] == pytest.approx(both["metrics"]["report"]["metrics"])
