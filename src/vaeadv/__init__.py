"""vaeadv: VAEs on 4-bit MNIST and adversarial robustness of a CIFAR-10 ResNet18."""

__version__ = "0.1.0"
