"""Installs iba_tf, the Per-Sample Information Bottleneck for TensorFlow 1 / Keras models."""
from setuptools import find_packages, setup

TF_PINS = ["keras==2.3.1", "protobuf>=3.8,<4", "h5py<3", "numpy>=1.16,<1.19"]
# The TensorFlow 2 stack: TensorFlow 2.14 brings its own Keras 2.14 (what both `import keras` and
# tf.keras give there). innvestigate 2.1.2 is installed with --no-deps (see
# requirements-tf2.txt): it declares `tensorflow`, which would add a second TensorFlow beside
# tensorflow-cpu.
TF2_PINS = ["numpy>=1.23.5,<2", "h5py>=3"]

setup(
    name="iba-tf",
    version="0.1.0",
    description="Per-Sample Information Bottleneck attribution (IBA) for TensorFlow 1 / Keras models",
    long_description=open("README.md").read(),
    long_description_content_type="text/markdown",
    packages=find_packages(include=["iba_tf", "iba_tf.*"]),
    # Two TensorFlow stacks: TensorFlow 1.15 on Python 3.6/3.7 (its last wheels), and
    # TensorFlow 2.14 (graph mode, eager execution disabled) on Python 3.9-3.11; the numpy
    # utilities, and the optional PyTorch port, also install on newer Pythons.
    python_requires=">=3.6",
    # TensorFlow comes from an extra so that the CPU or the GPU build can be chosen; the core
    # never pulls tensorflow_probability or torch.
    install_requires=["numpy>=1.16", "scipy", "matplotlib", "tqdm"],
    extras_require={
        "tf": ["tensorflow==1.15.*"] + TF_PINS,
        "tf-gpu": ["tensorflow-gpu==1.15.*"] + TF_PINS,
        "tf2": ["tensorflow-cpu==2.14.*"] + TF2_PINS,
        # CUDA 11.8 and cuDNN 8.6 come as pip packages with this extra (requirements-gpu-tf2.txt)
        "tf2-gpu": ["tensorflow[and-cuda]==2.14.*"] + TF2_PINS,
        "torch": ["torch>=1.10"],
        # the last releases that support Python 3.7; their dask-scheduler / dask-worker
        # commands need click < 8.1
        "dask": ["dask==2022.2.0", "distributed==2022.2.0", "click>=8.0,<8.1"],
        # the TensorFlow 2 stack (Python 3.11): releases whose commands start there
        "dask-tf2": ["dask==2023.9.3", "distributed==2023.9.3", "click==8.1.7"],
        "dev": ["pytest", "pillow", "future"],
    },
    entry_points={"console_scripts": ["iba-tf=iba_tf.cli:main"]},
    classifiers=[
        "Programming Language :: Python :: 3.7",
        "Programming Language :: Python :: 3.9",
        "Programming Language :: Python :: 3.10",
        "Programming Language :: Python :: 3.11",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
    ],
)
