"""Perplexity of a smoothed bigram language model, scored with sparse cross-entropy.

Shows
-----
* a corpus that is always available offline: the Python standard library's own
  source files (the ``*.py`` files beside the ``os`` module), tokenized with a
  simple regex into identifiers, numbers and single symbols, one "sentence" per
  source line (``<s> tokens </s>``), split into train and test by file;
* an interpolated bigram model (Witten-Bell smoothing onto an add-k unigram),
  whose log-probabilities are used directly as logits:
  ``xent.sparse_categorical_cross_entropy(targets, log_p, from_logits=True)``.
  ``<s>`` is never predicted, so its column is a ``-inf`` logit, which xent
  handles exactly (zero probability, zero contribution);
* batched scoring of lines of unequal length, padded to a rectangle with the
  padding targets set to ``ignore_index``; the total loss over batches equals
  the unpadded computation, and perplexity = ``exp(mean loss)``;
* why the log-space path matters: the product of the test-token probabilities
  underflows to 0.0 in float64 (perplexity ``inf``), per-line products underflow
  in float32 for many lines, while the log-space sum is exact, in float32 too.

Run ``python examples/language_model_eval.py [--vocab-size 5000] [--n-files N]``.
"""

from __future__ import annotations

import argparse
import os
import re
import time
from collections import Counter
from pathlib import Path

import numpy as np
from scipy import sparse

import xent

TOKEN = re.compile(r"[A-Za-z_][A-Za-z_0-9]*|\d+|\S")
UNK, EOS, BOS = "<unk>", "</s>", "<s>"
PAD = -1  # ignore_index for padded target positions


def read_lines(path: Path) -> list[list[str]]:
    """Token lists of the non-empty source lines of one file."""
    text = path.read_text(encoding="utf-8", errors="replace")
    return [toks for line in text.splitlines() if (toks := TOKEN.findall(line))]


class BigramLM:
    """Witten-Bell interpolated bigram model over a fixed vocabulary.

    ``P(w | v) = (c(v, w) + T(v) * P1(w)) / (c(v) + T(v))`` with ``T(v)`` the number
    of distinct successors of ``v`` and ``P1`` the add-``k`` unigram distribution.
    """

    def __init__(self, train_lines: list[list[str]], vocab_size: int, k: float = 0.5):
        counts = Counter(tok for line in train_lines for tok in line)
        words = [w for w, _ in counts.most_common(vocab_size)]
        self.vocab = [UNK, EOS, BOS, *words]
        self.index = {w: i for i, w in enumerate(self.vocab)}
        self.bos = self.index[BOS]
        prev, nxt = self.pairs(train_lines)
        V = len(self.vocab)
        bigrams = sparse.csr_matrix(
            (np.ones(len(prev)), (prev, nxt)), shape=(V, V), dtype=np.float64
        )
        bigrams.sum_duplicates()
        self.bigrams = bigrams
        self.context_count = np.asarray(bigrams.sum(axis=1)).ravel()
        self.successors = np.diff(bigrams.indptr).astype(np.float64)
        uni = np.bincount(nxt, minlength=V).astype(np.float64) + k
        uni[self.bos] = 0.0  # <s> is a context only, never a prediction
        self.unigram = uni / uni.sum()

    def encode(self, line: list[str]) -> np.ndarray:
        unk = self.index[UNK]
        return np.array([self.index.get(t, unk) for t in line] + [self.index[EOS]])

    def pairs(self, lines: list[list[str]]) -> tuple[np.ndarray, np.ndarray]:
        """(context, target) id pairs of all lines, each line starting from ``<s>``."""
        targets = [self.encode(line) for line in lines]
        contexts = [np.concatenate([[self.bos], t[:-1]]) for t in targets]
        return np.concatenate(contexts), np.concatenate(targets)

    def _mix(self, ctx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        denom = self.context_count[ctx] + self.successors[ctx]
        seen = denom > 0
        lam = np.where(seen, self.successors[ctx] / np.where(seen, denom, 1.0), 1.0)
        scale = np.where(seen, 1.0 / np.where(seen, denom, 1.0), 0.0)
        return lam, scale

    def log_probs(self, ctx: np.ndarray) -> np.ndarray:
        """Dense rows ``log P(. | ctx)``, shape ``ctx.shape + (V,)``, ``-inf`` for ``<s>``."""
        flat = ctx.ravel()
        lam, scale = self._mix(flat)
        rows = self.bigrams[flat].toarray() * scale[:, None] + lam[:, None] * self.unigram
        with np.errstate(divide="ignore"):  # log(0) = -inf for the <s> column, on purpose
            out = np.log(rows)
        return out.reshape(*ctx.shape, -1)

    def token_log_probs(self, ctx: np.ndarray, tgt: np.ndarray) -> np.ndarray:
        """``log P(tgt | ctx)`` elementwise, without building V-wide rows."""
        lam, scale = self._mix(ctx)
        c = np.asarray(self.bigrams[ctx, tgt]).ravel()
        return np.log(c * scale + lam * self.unigram[tgt])


def padded_batches(lm: BigramLM, lines: list[list[str]], batch_lines: int):
    """Yield ``(contexts, targets)`` of shape ``(B, T)``; padding targets are ``PAD``.

    Lines are grouped by length, as in language-model training, so batches are
    nearly rectangular; within a batch the lengths still differ.
    """
    lines = sorted(lines, key=len)
    for start in range(0, len(lines), batch_lines):
        enc = [lm.encode(line) for line in lines[start : start + batch_lines]]
        T = max(len(t) for t in enc)
        ctx = np.full((len(enc), T), lm.bos)
        tgt = np.full((len(enc), T), PAD)
        for i, t in enumerate(enc):
            tgt[i, : len(t)] = t
            ctx[i, 1 : len(t)] = t[:-1]
        yield ctx, tgt


def main(argv: list[str] | None = None) -> dict[str, float]:
    """Train the bigram model, score the test files and return the key numbers."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vocab-size", type=int, default=5000)
    parser.add_argument(
        "--n-files",
        type=int,
        default=None,
        help="use only the first N stdlib files (sorted by name)",
    )
    parser.add_argument("--test-every", type=int, default=10, help="every k-th file is a test file")
    parser.add_argument("--max-test-lines", type=int, default=3000)
    parser.add_argument("--batch-lines", type=int, default=32)
    args = parser.parse_args(argv)

    files = sorted(Path(os.__file__).parent.glob("*.py"))[: args.n_files]
    test_files = files[args.test_every // 2 :: args.test_every]
    train_files = [f for f in files if f not in set(test_files)]
    train_lines = [line for f in train_files for line in read_lines(f)]
    test_lines = [line for f in test_files for line in read_lines(f)][: args.max_test_lines]

    t0 = time.perf_counter()
    lm = BigramLM(train_lines, args.vocab_size)
    n_test = sum(len(line) + 1 for line in test_lines)
    print(
        f"corpus: {len(train_files)} train files ({len(lm.pairs(train_lines)[1])} tokens), "
        f"{len(test_files)} test files ({len(test_lines)} lines, {n_test} tokens), "
        f"vocabulary {len(lm.vocab)} (incl. {UNK}, {EOS}, {BOS})"
    )

    # Batched, padded scoring with ignore_index (float64 and float32 logits).
    total, total32, count, padded = 0.0, 0.0, 0, 0
    for b, (ctx, tgt) in enumerate(padded_batches(lm, test_lines, args.batch_lines)):
        logits = lm.log_probs(ctx)
        loss_sum = xent.sparse_categorical_cross_entropy(
            tgt, logits, from_logits=True, ignore_index=PAD, reduction="sum"
        )
        n_real = int(np.sum(tgt != PAD))
        if b == 0:  # "mean" divides by the number of non-ignored targets
            loss_mean = xent.sparse_categorical_cross_entropy(
                tgt, logits, from_logits=True, ignore_index=PAD
            )
            assert np.isclose(loss_mean, loss_sum / n_real, rtol=1e-12, atol=0.0)
        total += float(loss_sum)
        total32 += float(
            xent.sparse_categorical_cross_entropy(
                tgt, logits.astype(np.float32), from_logits=True, ignore_index=PAD, reduction="sum"
            )
        )
        count += n_real
        padded += tgt.size
    mean_batched = total / count
    ppl_batched = float(np.exp(mean_batched))
    t_score = time.perf_counter() - t0

    # Unpadded: every (context, target) pair once, log P gathered directly.
    ctx_flat, tgt_flat = lm.pairs(test_lines)
    logp = lm.token_log_probs(ctx_flat, tgt_flat)
    mean_flat = float(-np.mean(logp))
    ppl_flat = float(np.exp(mean_flat))
    # The same pairs through xent, unpadded, in chunks of rows.
    total_x = 0.0
    for s in range(0, len(ctx_flat), 2048):
        total_x += float(
            xent.sparse_categorical_cross_entropy(
                tgt_flat[s : s + 2048],
                lm.log_probs(ctx_flat[s : s + 2048]),
                from_logits=True,
                reduction="sum",
            )
        )
    mean_x = total_x / len(tgt_flat)

    print(
        f"batched with padding ({count} tokens in {padded} slots, "
        f"{1 - count / padded:.0%} padding): mean loss {mean_batched:.12f} nats, "
        f"perplexity {ppl_batched:.6f}"
    )
    print(f"unpadded rows through xent      : mean loss {mean_x:.12f} nats")
    print(
        f"unpadded, log P gathered directly: mean loss {mean_flat:.12f} nats, "
        f"perplexity {ppl_flat:.6f}"
    )
    rel = abs(mean_batched - mean_flat) / mean_flat
    print(f"relative difference batched vs unpadded: {rel:.1e}   (scored in {t_score:.1f} s)")
    assert count == len(tgt_flat)
    assert rel < 1e-12, rel
    assert abs(mean_x - mean_flat) < 1e-12 * mean_flat

    # Why log space: the probabilities themselves.
    p64 = np.exp(logp)
    prod64 = np.prod(p64)
    with np.errstate(divide="ignore"):  # 0.0 ** (-1/N) = inf, which is the point
        ppl_from_prod = float(np.power(prod64, -1.0 / len(p64)))
    print("why log space:")
    print(
        f"  product of the {len(p64)} test-token probabilities (float64) = {prod64}"
        f"  -> perplexity {ppl_from_prod}"
    )
    print(
        f"  sum of log-probabilities = {logp.sum():.3f}  -> the product is "
        f"10^{logp.sum() / np.log(10):.0f}"
    )
    # Per-line probabilities in float32: how many lines underflow to 0?
    bounds = np.cumsum([0] + [len(line) + 1 for line in test_lines])
    line_logp = np.add.reduceat(logp, bounds[:-1])
    line_p32 = np.multiply.reduceat(p64.astype(np.float32), bounds[:-1])
    line_p64 = np.multiply.reduceat(p64, bounds[:-1])
    print(
        f"  lines whose probability product underflows to 0: float32 "
        f"{np.mean(line_p32 == 0):.1%}, float64 {np.mean(line_p64 == 0):.1%}; "
        f"smallest line log-probability {line_logp.min():.1f} "
        f"(float32 normal range ends at {np.log(np.finfo(np.float32).tiny):.1f})"
    )
    # Float32 is fine in log space (summed above from float32 logits).
    ppl32 = float(np.exp(total32 / count))
    print(
        f"  perplexity from float32 logits: {ppl32:.6f} "
        f"(relative difference to float64 {abs(ppl32 - ppl_batched) / ppl_batched:.1e})"
    )
    return {
        "perplexity": ppl_batched,
        "perplexity_unpadded": ppl_flat,
        "mean_loss": mean_batched,
        "mean_loss_unpadded": mean_flat,
        "mean_loss_unpadded_xent": mean_x,
        "perplexity_float32": ppl32,
        "perplexity_from_product": ppl_from_prod,
        "n_test_tokens": float(count),
        "padding_fraction": 1 - count / padded,
        "float32_line_underflow_fraction": float(np.mean(line_p32 == 0)),
    }


if __name__ == "__main__":
    main()
