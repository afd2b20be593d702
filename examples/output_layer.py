"""Train a language model's output layer over a large vocabulary without its logits.

Shows
-----
* data that needs no download: the "hidden states" of a frozen model body are Gaussian
  vectors, and the next tokens are drawn from a teacher output layer ``softmax(W* h + b*)``
  whose bias follows Zipf's law, as word frequencies do (sampled by inverting cumulative
  sums a few rows at a time, so no ``N x V`` array is made there either);
* a student output layer ``(W, b)``, started at zero, trained by Adam on mini-batches with
  ``xent.linear_cross_entropy(..., return_grad=True)``: the loss and the gradients of ``W``,
  ``b`` (and of the hidden states, which a full model would backpropagate further) come from
  chunks of ``chunk_bytes``, never from the ``batch x V`` logits;
* padding: a tenth of each batch's positions carry ``ignore_index`` and neither count in the
  mean nor move the weights;
* the price of the logits it avoids: the peak memory of one step (tracemalloc) beside the size
  of the batch's logits and their gradient, and the same step through the materialized logits
  and `xent.sparse_categorical_cross_entropy` giving the same loss and gradients;
* the held-out loss approaching the teacher's own (the entropy of the data, the floor).

Run ``python examples/output_layer.py [--vocab 50000] [--dim 64] [--steps 150]``.
"""

from __future__ import annotations

import argparse
import time
import tracemalloc

import numpy as np

import xent

PAD = -100


def teacher(rng: np.random.Generator, vocab: int, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """Teacher weight (V, D) and Zipf bias: log-frequency of rank r is -log(r) + const."""
    w = rng.standard_normal((vocab, dim)) * (1.5 / np.sqrt(dim))
    b = -np.log(np.arange(1, vocab + 1))
    return w, b - b.mean()


def sample_tokens(
    rng: np.random.Generator, h: np.ndarray, w: np.ndarray, b: np.ndarray, rows: int = 256
) -> np.ndarray:
    """Next tokens ~ softmax(h @ w.T + b) by inverting the cumulative sums, ``rows`` at a time."""
    out = np.empty(len(h), dtype=np.int64)
    for r0 in range(0, len(h), rows):
        cdf = np.cumsum(xent.softmax(h[r0 : r0 + rows] @ w.T + b), axis=1)
        u = rng.random(len(cdf)) * cdf[:, -1]
        out[r0 : r0 + rows] = np.minimum((cdf < u[:, None]).sum(axis=1), len(b) - 1)
    return out


class Adam:
    """Adam (Kingma and Ba, 2015) on a list of arrays, updated in place."""

    def __init__(self, params: list[np.ndarray], lr: float, b1: float = 0.9, b2: float = 0.999):
        self.params, self.lr, self.b1, self.b2, self.t = params, lr, b1, b2, 0
        self.m = [np.zeros_like(p) for p in params]
        self.v = [np.zeros_like(p) for p in params]

    def step(self, grads: list[np.ndarray]) -> None:
        self.t += 1
        c1, c2 = 1 - self.b1**self.t, 1 - self.b2**self.t
        for p, g, m, v in zip(self.params, grads, self.m, self.v, strict=True):
            m *= self.b1
            m += (1 - self.b1) * g
            v *= self.b2
            v += (1 - self.b2) * g * g
            p -= self.lr * (m / c1) / (np.sqrt(v / c2) + 1e-8)


def main(argv: list[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vocab", type=int, default=50_000)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--batch", type=int, default=1024)
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--test", type=int, default=4096, help="held-out tokens")
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--chunk-mib", type=float, default=4.0, help="chunk budget in MiB")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    V, D, B = args.vocab, args.dim, args.batch
    chunk = int(args.chunk_mib * 2**20)
    rng = np.random.default_rng(args.seed)

    w_star, b_star = teacher(rng, V, D)
    h_test = rng.standard_normal((args.test, D)).astype(np.float32)
    y_test = sample_tokens(rng, h_test, w_star, b_star)
    floor = float(xent.linear_cross_entropy(y_test, h_test.astype(np.float64), w_star, b_star))

    w = np.zeros((V, D), np.float32)
    b = np.zeros(V, np.float32)
    opt = Adam([w, b], args.lr)
    losses: list[float] = []
    t0 = time.perf_counter()
    for step in range(args.steps):
        h = rng.standard_normal((B, D)).astype(np.float32)
        y = sample_tokens(rng, h, w_star, b_star)
        y[rng.random(B) < 0.1] = PAD
        if step == 0:
            tracemalloc.start()
        loss, grads = xent.linear_cross_entropy(
            y, h, w, b, ignore_index=PAD, return_grad=True, chunk_bytes=chunk
        )
        if step == 0:
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            z = h @ w.T + b
            ref, dz = xent.sparse_categorical_cross_entropy(
                y, z, from_logits=True, ignore_index=PAD, return_grad=True
            )
            diff = max(
                abs(float(loss) - float(ref)),
                float(np.max(np.abs(grads.weight - dz.T @ h))),
                float(np.max(np.abs(grads.hidden - dz @ w))),
            )
            del z, dz
        assert grads.bias is not None
        opt.step([grads.weight, grads.bias])
        losses.append(float(loss))
        if step % max(1, args.steps // 5) == 0 or step == args.steps - 1:
            print(f"step {step:4d}  train loss {loss:.4f}")
    seconds = time.perf_counter() - t0
    test = float(xent.linear_cross_entropy(y_test, h_test, w, b, chunk_bytes=chunk))
    logits_bytes = B * V * 4

    print(
        f"\nvocabulary {V:,}, hidden size {D}, batches of {B} tokens, {args.steps} Adam steps "
        f"in {seconds:.1f} s"
    )
    print(f"held-out loss {test:.4f} (uniform guess log V = {np.log(V):.4f}, teacher {floor:.4f})")
    grads_bytes = (V * D + B * D + V) * 4
    print(
        f"peak memory of a step {peak / 2**20:.1f} MiB (gradients {grads_bytes / 2**20:.1f} MiB"
        f" included) beside {2 * logits_bytes / 2**20:.1f} MiB for the batch's logits and "
        f"their gradient; largest difference from the materialized logits {diff:.2e}"
    )
    return {
        "train_loss": losses,
        "test_loss": test,
        "teacher_loss": floor,
        "uniform_loss": float(np.log(V)),
        "peak_bytes": peak,
        "logits_bytes": logits_bytes,
        "grads_bytes": grads_bytes,
        "chunk_bytes": chunk,
        "max_diff_vs_materialized": diff,
    }


if __name__ == "__main__":
    main()
