"""Bits-back coding with ANS (BB-ANS: Townsend, Bird & Barber, ICLR 2019): the trained VAE as a lossless
compressor of k-level images whose message grows by about the negative ELBO per image — bpd made literal.

Per image x, on one ANS stack (``constriction``'s ``AnsCoder``, a last-in-first-out entropy coder):
  encode: pop latent buckets j ~ Q(j|x) (the posterior, discretised: this *borrows* bits from the stack);
          push x's pixels with p(x|z_j) (the decoder's 16-way categorical per pixel); push j with the prior.
  decode: pop j with the prior; pop x with p(x|z_j); push j back with Q(j|x) (the borrowed bits are returned).
The net cost is −log p(x|z_j) − log P(j) + log Q(j|x): on average the negative ELBO of the discretised model.

The latent is discretised per dimension into ``buckets`` intervals of equal prior mass (so P(j) = 1/buckets
exactly); z_j is the prior median of interval j, and Q(j|x) = Φ((e_(j+1) − μ)/σ) − Φ((e_j − μ)/σ). Encoder and
decoder must compute bit-identical probabilities at both ends: every network call sees one image (the same batch
composition), runs in fp32 on the CPU with one thread, and the probabilities are computed in float64 from it.
The stack starts from ``seed_words`` random 32-bit words ("initial bits") so the first image has bits to borrow;
they are part of the message and come back out at the end of decoding (checked).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch

from vaeadv.errors import VaeadvError

DEFAULT_BUCKETS = 1 << 10
SEED_WORDS = 64


def _constriction():
    try:
        import constriction
    except ImportError:  # an optional extra: the rest of vaeadv works without it
        raise VaeadvError("bits-back compression needs the 'constriction' entropy coder: "
                          "pip install 'vaeadv[compress]' (or pip install constriction).") from None
    return constriction


@dataclass(frozen=True)
class LatentGrid:
    """Bucket edges and centres of the standard normal prior, equal mass 1/buckets each."""

    edges: torch.Tensor  # [buckets + 1], float64, −inf and +inf at the ends
    centres: torch.Tensor  # [buckets], float64

    @classmethod
    def standard_normal(cls, buckets: int) -> LatentGrid:
        if buckets < 2:
            raise ValueError(f"buckets must be >= 2, got {buckets}")
        k = torch.arange(buckets + 1, dtype=torch.float64)
        edges = torch.special.ndtri(k / buckets)
        centres = torch.special.ndtri((torch.arange(buckets, dtype=torch.float64) + 0.5) / buckets)
        return cls(edges, centres)

    def posterior_probabilities(self, mean: torch.Tensor, std: torch.Tensor) -> np.ndarray:
        """Q(j|x) for every dimension: ``[z_dim, buckets]`` float64, the Gaussian's mass in each bucket."""
        mean, std = mean.double().view(-1, 1), std.double().view(-1, 1)
        cdf = torch.special.ndtr((self.edges.view(1, -1) - mean) / std)
        return np.ascontiguousarray((cdf[:, 1:] - cdf[:, :-1]).clamp_min(0.0).numpy())


@contextlib.contextmanager
def deterministic_cpu() -> Iterator[None]:
    """One CPU thread for the duration: the same kernels and summation order at encode and decode time."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


class BitsBackCoder:
    """BB-ANS with a trained ``vaeadv`` VAE (``encoder(x) → (mean, log_std)``, ``decoder(z) → logits``)."""

    def __init__(self, model: torch.nn.Module, buckets: int = DEFAULT_BUCKETS) -> None:
        self.model = model.float().cpu().eval()
        self.levels = int(model.hparams.levels)
        self.z_dim = int(model.hparams.z_dim)
        self.grid = LatentGrid.standard_normal(buckets)
        self.buckets = buckets

    @torch.no_grad()
    def _posterior(self, image: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(image.astype(np.int64)).view(1, 1, *image.shape)
        mean, log_std = self.model.encoder(x)
        return self.grid.posterior_probabilities(mean[0], log_std[0].exp())

    @torch.no_grad()
    def _pixel_probabilities(self, buckets: np.ndarray) -> np.ndarray:
        z = self.grid.centres[torch.from_numpy(buckets.astype(np.int64))].float().view(1, -1)
        logits = self.model.decoder(z)[0]  # [levels, H, W]
        probs = torch.softmax(logits.double(), dim=0)
        # C order: constriction reads the table's raw memory row by row, whatever numpy's strides say
        return np.ascontiguousarray(probs.permute(1, 2, 0).reshape(-1, self.levels).numpy())

    def encode(self, images: np.ndarray, seed: int = 0, progress=None) -> tuple[np.ndarray, dict]:
        """Images ``[N,H,W]`` of levels 0..k−1 → (compressed uint32 words, statistics)."""
        c = _constriction()
        model = c.stream.model
        rng = np.random.default_rng(seed)
        initial = rng.integers(0, 2**32, size=SEED_WORDS, dtype=np.uint64).astype(np.uint32)
        coder = c.stream.stack.AnsCoder(initial)
        uniform = np.full(self.buckets, 1.0 / self.buckets)
        with deterministic_cpu():
            for i, image in enumerate(images):
                q = self._posterior(image)
                j = coder.decode(model.Categorical(perfect=False), q).astype(np.int32)  # borrow bits
                p = self._pixel_probabilities(j)
                pixels = image.reshape(-1).astype(np.int32)
                coder.encode_reverse(pixels, model.Categorical(perfect=False), p)
                coder.encode_reverse(j, model.Categorical(perfect=False), np.tile(uniform, (self.z_dim, 1)))
                if progress:
                    progress(i + 1)
        words = coder.get_compressed()
        return words, {"initial_bits": 32 * SEED_WORDS, "message_bits": int(32 * len(words))}

    def decode(self, words: np.ndarray, count: int, shape: tuple[int, int], seed: int = 0,
               progress=None) -> np.ndarray:
        """The inverse of ``encode``: ``count`` images ``[count,H,W]`` (uint8), last-encoded first internally."""
        c = _constriction()
        model = c.stream.model
        coder = c.stream.stack.AnsCoder(words.astype(np.uint32))
        uniform = np.full(self.buckets, 1.0 / self.buckets)
        out = np.empty((count, *shape), dtype=np.uint8)
        with deterministic_cpu():
            for n, i in enumerate(reversed(range(count))):
                j = coder.decode(model.Categorical(perfect=False), np.tile(uniform, (self.z_dim, 1))).astype(np.int32)
                p = self._pixel_probabilities(j)
                pixels = coder.decode(model.Categorical(perfect=False), p)
                out[i] = pixels.reshape(shape).astype(np.uint8)
                q = self._posterior(out[i])
                coder.encode_reverse(j, model.Categorical(perfect=False), q)  # give the borrowed bits back
                if progress:
                    progress(n + 1)
        rng = np.random.default_rng(seed)
        initial = rng.integers(0, 2**32, size=SEED_WORDS, dtype=np.uint64).astype(np.uint32)
        left = coder.get_compressed()
        if not np.array_equal(left, initial):
            raise VaeadvError("bits-back decoding did not end at the initial bits: the probabilities differed from "
                              "those the file was encoded with (another model, machine or library version).")
        return out
