"""Variational autoencoder on k-level images: the assignment's template names, plus β and IWAE."""

from vaeadv.vae.losses import KLD, elbo_to_bpd, sample_reparameterize
from vaeadv.vae.module import VAE
from vaeadv.vae.networks import CNNDecoder, CNNEncoder
from vaeadv.vae.viz import visualize_manifold

__all__ = ["KLD", "VAE", "CNNDecoder", "CNNEncoder", "elbo_to_bpd", "sample_reparameterize", "visualize_manifold"]
