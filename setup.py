"""Installs iba_tf, the Per-Sample Information Bottleneck for TensorFlow 1 / Keras models."""
from setuptools import find_packages, setup

TF_PINS = ["keras==2.3.1", "protobuf>=3.8,<4", "h5py<3", "numpy>=1.16,<1.19"]

setup(
    name="iba-tf",
    version="0.1.0",
    description="Per-Sample Information Bottleneck attribution (IBA) for TensorFlow 1 / Keras models",
    long_description=open("README.md").read(),
    long_description_content_type="text/markdown",
    packages=find_packages(include=["iba_tf", "iba_tf.*"]),
    # The TensorFlow classes need Python 3.6/3.7 (the last TensorFlow 1.15 wheels); the numpy
    # utilities, and the optional PyTorch port, also install on newer Pythons.
    python_requires=">=3.6",
    # TensorFlow comes from an extra so that the CPU or the GPU build can be chosen; the core
    # never pulls tensorflow_probability or torch.
    install_requires=["numpy>=1.16", "scipy", "matplotlib", "tqdm"],
    extras_require={
        "tf": ["tensorflow==1.15.*"] + TF_PINS,
        "tf-gpu": ["tensorflow-gpu==1.15.*"] + TF_PINS,
        "torch": ["torch>=1.10"],
        # the last releases that support Python 3.7; their dask-scheduler / dask-worker
        # commands need click < 8.1
        "dask": ["dask==2022.2.0", "distributed==2022.2.0", "click>=8.0,<8.1"],
        "dev": ["pytest", "pillow", "future"],
    },
    entry_points={"console_scripts": ["iba-tf=iba_tf.cli:main"]},
    classifiers=[
        "Programming Language :: Python :: 3.7",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
    ],
)
