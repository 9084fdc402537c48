"""vaeadv's own pretrained weights, shipped inside the package (found from an installed wheel too).

Each entry is ``NAME.pt`` (a torchvision-layout state dict in fp16) beside ``NAME.json`` (its manifest: SHA-256,
recipe, command, accuracy measured on the fp16 file). The model card is ``docs/weights.md``.
"""
