"""Variational autoencoder on k-level images: the assignment's template names, plus β and IWAE — the public API::

    from vaeadv.vae import VAE, CNNEncoder, CNNDecoder, KLD, sample_reparameterize, elbo_to_bpd

The names are loaded on first use, so that importing a light submodule (``vaeadv.vae.config`` for the command
line's ``--help``) does not import torch and Lightning.
"""

from __future__ import annotations

from vaeadv.lazy import lazy_exports

_EXPORTS = {
    "KLD": "losses", "elbo_to_bpd": "losses", "sample_reparameterize": "losses",
    "VAE": "module", "CNNDecoder": "networks", "CNNEncoder": "networks", "visualize_manifold": "viz",
}
__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports("vaeadv.vae", _EXPORTS, globals())
