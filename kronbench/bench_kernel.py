"""Kernel probe for `kron_matvec`: forward+backward time per KronA Table-9 factor shape vs LoRA and PEFT LoKr's
explicit `kron(A, B)`, and a profiler table of one BERT-base KronA training step.

`python -m kronbench.bench_kernel [--tokens 4096] [--profile]` (GPU). Prints a table; correctness lives in tests.
"""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Callable

import torch

from kronbench.methods.kron import kron_matvec, kron_matvec_reference

SHAPES = [(48, 16), (32, 24), (3, 256), (24, 32), (2, 384), (192, 4), (12, 64)]


def time_fn(fn: Callable[[], None], warmup: int = 20, iters: int = 100) -> float:
    """Median ms over `iters` event-timed calls after `warmup`."""
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(iters):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    return statistics.median(times)


def fwd_bwd(f: Callable, x: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> Callable[[], None]:
    """One forward (bf16 autocast) and backward to `x`, `a`, `b` of `f(x, a, b)`."""

    def run() -> None:
        with torch.autocast("cuda", dtype=torch.bfloat16):
            y = f(x, a, b)
        grads = torch.autograd.grad(y.float().sum(), [x, a, b])
        del grads

    return run


def probe(tokens: int, d: int = 768) -> list[tuple[str, float]]:
    """Forward+backward ms of one adapter on `tokens × d` input (bf16 autocast, fp32 params)."""
    dev = torch.device("cuda")
    x = torch.randn(tokens, d, device=dev, requires_grad=True)
    rows = []
    la, lb = (
        torch.randn(8, d, device=dev, requires_grad=True),
        torch.randn(d, 8, device=dev, requires_grad=True),
    )
    rows.append(("lora r=8", time_fn(fwd_bwd(lambda t, a, b: (t @ a.t()) @ b.t(), x, la, lb))))
    compiled = torch.compile(kron_matvec, dynamic=False)
    variants: dict[str, Callable] = {
        "krona": lambda t, a, b: kron_matvec(a, b, t),
        "  traced": lambda t, a, b: kron_matvec_reference(a, b, t),
        "  compiled": lambda t, a, b: compiled(a, b, t),
        "  einsum": lambda t, a, b: torch.einsum("ik,jl,nkl->nij", a, b, t.view(-1, a.shape[1], b.shape[1])),
        "  lokr(kron)": lambda t, a, b: t @ torch.kron(a, b).t(),
    }
    for a1, a2 in SHAPES:
        a = torch.randn(a1, a2, device=dev, requires_grad=True)
        b = torch.randn(d // a1, d // a2, device=dev, requires_grad=True)
        for name, f in variants.items():
            rows.append((f"{name} {a1}x{a2}", time_fn(fwd_bwd(f, x, a, b))))
    return rows


def profile_step(a_shape: tuple[int, int], method: str = "krona") -> str:
    """Profiler table (CUDA time) of BERT-base training steps with the bench's harness."""
    from kronbench.bench import make_batch, model_config, prepare, train_step_fn

    spec = {"family": "bert", "config": {}}
    dev = torch.device("cuda")
    entry = {"method": method, "overrides": {"factor_shape": list(a_shape)} if method != "lora" else {}}
    model, meth, _ = prepare(entry, spec, model_config("bert-base", spec), dev)
    batch = make_batch(spec, 32, 128, dev, train=True)
    step, _ = train_step_fn(model, meth, batch, torch.bfloat16)
    for _ in range(5):
        step()
    torch.cuda.synchronize()
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CUDA]) as prof:
        for _ in range(3):
            step()
        torch.cuda.synchronize()
    return prof.key_averages().table(sort_by="cuda_time_total", row_limit=18)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tokens", type=int, default=32 * 128)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = True
    if args.profile:
        for shape, method in (((2, 384), "krona"), ((32, 24), "krona"), ((8, 8), "lora")):
            print(f"=== profile {method} {shape} ===")
            print(profile_step(shape, method))
    for name, ms in probe(args.tokens):
        print(f"{name:28s} {ms * 1e3:9.1f} us")


if __name__ == "__main__":
    main()
