"""Where each dataset lives on the public web, what its files are called and their published checksums.

MD5 is what the dataset authors publish; it identifies files, it is not used as a security boundary
(the CIFAR pickles are additionally read with a restricted unpickler).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class FileSpec:
    """One file of a dataset. ``raw_md5`` is the md5 of the decompressed content, which stays the same
    when a mirror (or Debian) re-compresses the gzip wrapper; ``gz_md5`` is the published download's."""

    name: str
    raw_md5: str
    gz_md5: str | None = None


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    files: tuple[FileSpec, ...]
    mirrors: tuple[str, ...]
    subdirs: tuple[str, ...]  # folder names tried below each search root
    system_dirs: tuple[str, ...] = ()
    archive: tuple[str, str] | None = None  # (url, md5) of a tarball holding the files
    classes: tuple[str, ...] = field(default=())


MNIST_CLASSES = tuple(str(d) for d in range(10))
FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer",
                   "dog", "frog", "horse", "ship", "truck")

MNIST = DatasetSpec(
    name="mnist",
    files=(
        FileSpec("train-images-idx3-ubyte", "6bbc9ace898e44ae57da46a324031adb", "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
        FileSpec("train-labels-idx1-ubyte", "a25bea736e30d166cdddb491f175f624", "d53e105ee54ea40749a09fcbcd1e9432"),
        FileSpec("t10k-images-idx3-ubyte", "2646ac647ad5339dbf082846283269ea", "9fb629c4189551a2d022fa330f9573f3"),
        FileSpec("t10k-labels-idx1-ubyte", "27ae3e4e09519cfbb04c329615203637", "ec29112dd5afa0611ce80d1b7f02629c"),
    ),
    mirrors=("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/"),
    subdirs=("", "mnist", "MNIST/raw", "MNIST"),
    system_dirs=("/usr/share/datasets/mnist",),
    classes=MNIST_CLASSES,
)

FASHION_MNIST = DatasetSpec(
    name="fashion-mnist",
    files=(
        FileSpec("train-images-idx3-ubyte", "f4a8712d7a061bf5bd6d2ca38dc4d50a", "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
        FileSpec("train-labels-idx1-ubyte", "9018921c3c673c538a1fc5bad174d6f9", "25c81989df183df01b3e8a0aad5dffbe"),
        FileSpec("t10k-images-idx3-ubyte", "8181f5470baa50b63fa0f6fddb340f0a", "bef4ecab320f06d8554ea6380940ec79"),
        FileSpec("t10k-labels-idx1-ubyte", "15d484375f8d13e6eb1aabb0c3f46965", "bb300cfdad3c16e7a12a480ee83cd310"),
    ),
    mirrors=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
    subdirs=("fashion-mnist", "FashionMNIST/raw", "fashion_mnist", "FashionMNIST"),
    system_dirs=("/usr/share/datasets/fashion-mnist",),
    classes=FASHION_CLASSES,
)

# The python-pickle batches; their md5s are of the plain (uncompressed) batch files.
CIFAR10 = DatasetSpec(
    name="cifar10",
    files=(
        FileSpec("data_batch_1", "c99cafc152244af753f735de768cd75f"),
        FileSpec("data_batch_2", "d4bba439e000b95fd0a9bffe97cbabec"),
        FileSpec("data_batch_3", "54ebc095f3ab1f0389bbae665268c751"),
        FileSpec("data_batch_4", "634d18415352ddfa80567beed471001a"),
        FileSpec("data_batch_5", "482c414d41f54cd18b22e5b47cb7c3cb"),
        FileSpec("test_batch", "40351d587109b95175f43aff81a1287e"),
    ),
    mirrors=(),
    subdirs=("cifar-10-batches-py", "cifar10/cifar-10-batches-py", "CIFAR10/cifar-10-batches-py"),
    archive=("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz", "c58f30108f718f92721af3b95e74349a"),
    classes=CIFAR10_CLASSES,
)

# The offline copies staged for this project (see ../shared/data/README.md): sha256 of the whole file.
CIFAR10_NPZ_FULL = ("cifar10_jpeg_q75_original_order.npz",
                    "64580d8acd991ed76f1432fc285c4c6572ffaf042e97e8ec55814ccc5f755ab8")
CIFAR10_NPZ_EXACT = ("cifar10_exact_subset_train0-3999_test0-999.npz",
                     "7c5b2c9027c45a8076ed828657d6b7333fe6183cdbe09a80d970b38cc62f28c9")
CIFAR10_NPZ_SUBDIRS = ("", "cifar10", "CIFAR10")

SPECS = {s.name: s for s in (MNIST, FASHION_MNIST, CIFAR10)}
DATASET_NAMES = tuple(SPECS)
