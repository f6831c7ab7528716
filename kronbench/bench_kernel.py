"""Kernel probe for `kron_matvec`: forward+backward time per KronA Table-9 factor shape vs LoRA and PEFT LoKr's
explicit `kron(A, B)`, and profiler summaries (wall vs GPU-kernel time, kernel launches) of BERT-base training
steps and batch-1 forwards per method.

`python -m kronbench.bench_kernel [--probe] [--tokens 4096] [--profile out.json]` (GPU). Prints tables; correctness
lives in tests.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import torch

from kronbench.methods.kron import kron_matvec, kron_matvec_reference

SHAPES = [(48, 16), (32, 24), (3, 256), (24, 32), (2, 384), (192, 4), (12, 64)]


def time_fn(fn: Callable[[], None], warmup: int = 10, calls: int = 20) -> float:
    """GPU kernel ms per call of `fn` (profiler), after `warmup` calls: the kernels' own cost, which
    CUDA-event timing of a host-bound call would hide behind launch gaps."""
    from kronbench.profiling import gpu_profile

    for _ in range(warmup):
        fn()
    return gpu_profile(fn, calls)["gpu_kernel_ms"]


def fwd_bwd(f: Callable, x: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> Callable[[], None]:
    """One forward (bf16 autocast) and backward to `x`, `a`, `b` of `f(x, a, b)`."""

    def run() -> None:
        with torch.autocast("cuda", dtype=torch.bfloat16):
            y = f(x, a, b)
        grads = torch.autograd.grad(y.float().sum(), [x, a, b])
        del grads

    return run


def probe(tokens: int, d: int = 768) -> list[tuple[str, float]]:
    """Forward+backward GPU kernel ms of one adapter on `tokens × d` input (bf16 autocast, fp32 params)."""
    dev = torch.device("cuda")
    x = torch.randn(tokens, d, device=dev, requires_grad=True)
    rows = []
    la, lb = (
        torch.randn(8, d, device=dev, requires_grad=True),
        torch.randn(d, 8, device=dev, requires_grad=True),
    )
    rows.append(("lora r=8", time_fn(fwd_bwd(lambda t, a, b: (t @ a.t()) @ b.t(), x, la, lb))))
    variants: dict[str, Callable] = {
        "krona": lambda t, a, b: kron_matvec(a, b, t),
        "  previous": lambda t, a, b: kron_matvec_reference(a, b, t),
        "  einsum": lambda t, a, b: torch.einsum("ik,jl,nkl->nij", a, b, t.view(-1, a.shape[1], b.shape[1])),
        "  lokr(kron)": lambda t, a, b: t @ torch.kron(a, b).t(),
    }
    for a1, a2 in SHAPES:
        a = torch.randn(a1, a2, device=dev, requires_grad=True)
        b = torch.randn(d // a1, d // a2, device=dev, requires_grad=True)
        for name, f in variants.items():
            rows.append((f"{name} {a1}x{a2}", time_fn(fwd_bwd(f, x, a, b))))
    return rows


def profile_summary(fn: Callable[[], None], steps: int = 3) -> dict[str, float]:
    """Wall ms per call beside the GPU kernel ms and kernel launches per call (:func:`kronbench.bench.gpu_profile`):
    shows whether a call is bound by the GPU or by the host launching kernels."""
    import time

    from kronbench.profiling import gpu_profile

    sync = torch.cuda.synchronize if torch.cuda.is_available() else (lambda: None)
    for _ in range(3):
        fn()
    sync()
    t0 = time.perf_counter()
    for _ in range(steps):
        fn()
    sync()
    wall = (time.perf_counter() - t0) / steps * 1e3
    gpu = gpu_profile(fn, steps)
    return {"wall_ms": wall, **gpu, "gpu_busy_fraction": gpu["gpu_kernel_ms"] / wall}


def profile_cases(layers: int = 12, train_shape: tuple[int, int] = (32, 128)) -> list[dict[str, object]]:
    """BERT-base, bf16: one training step (batch 32 × 128) per method and one batch-1 × 10 inference forward per
    method (merged/dense forms included), each profiled on its own. (`layers`/`train_shape`: CPU smoke runs.)"""
    from kronbench.bench import make_batch, model_config, prepare, train_step_fn

    spec = {"family": "bert", "config": {"num_hidden_layers": layers}}
    mcfg = model_config("bert-base", spec)
    dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    rows: list[dict[str, object]] = []
    train_cases = [
        ("full", {}), ("lora", {}), ("lokr", {"factor_shape": [32, 24]}), ("krona", {"factor_shape": [32, 24]}),
        ("krona", {"factor_shape": [2, 384]}), ("krona_b", {}), ("krona_b_res", {}), ("pfeiffer", {}), ("adakron", {}),
    ]  # fmt: skip
    batch = make_batch(spec, *train_shape, dev, train=True)
    for method, overrides in train_cases:
        model, meth, _ = prepare({"method": method, "overrides": overrides}, spec, mcfg, dev)
        model.train()
        step, _ = train_step_fn(model, meth, batch, torch.bfloat16)
        rows.append({"kind": "train", "method": method, "overrides": overrides} | profile_summary(step, 2))
        print(rows[-1], flush=True)
        del model, meth, step
    infer_cases = [
        ("base", {}, False), ("krona", {}, True), ("krona", {}, False), ("lora", {}, True),
        ("krona_b", {}, False), ("krona_b", {"inference": "factored"}, False),
        ("krona_b_res", {}, False), ("krona_b_res", {"inference": "factored"}, False), ("adakron", {}, False),
    ]  # fmt: skip
    batch = make_batch(spec, 1, 10, dev, train=False)
    for method, overrides, merged in infer_cases:
        model, meth, _ = prepare({"method": method, "overrides": overrides}, spec, mcfg, dev)
        model.eval()
        if merged:
            model = meth.merge_and_unload(model)

        def forward(model=model) -> None:
            with torch.inference_mode(), torch.autocast(dev.type, dtype=torch.bfloat16):
                model(**batch)

        row = {"kind": "infer", "method": method, "overrides": overrides, "merged": merged}
        rows.append(row | profile_summary(forward, steps=10))
        print(rows[-1], flush=True)
        del model, meth
    return rows


def main() -> None:
    import json

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tokens", type=int, default=32 * 128)
    parser.add_argument(
        "--profile", metavar="JSON", help="profile BERT-base steps/forwards; write the rows here"
    )
    parser.add_argument("--probe", action="store_true", help="time one adapter per factor shape")
    args = parser.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = True
    if args.profile:
        rows = profile_cases()
        with open(args.profile, "w") as f:
            json.dump(
                {"device": torch.cuda.get_device_name(), "torch": torch.__version__, "rows": rows},
                f,
                indent=1,
            )
    if args.probe:
        for name, ms in probe(args.tokens):
            print(f"{name:28s} {ms * 1e3:9.1f} us of GPU kernels (forward + backward)")


if __name__ == "__main__":
    main()
