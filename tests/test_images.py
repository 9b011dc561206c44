import numpy as np
import pytest
from PIL import Image

from iba_tf import get_imagenet_generator
from iba_tf.images import list_images, load_image, preprocess


@pytest.fixture
def folder(tmp_path):
    for label, name in enumerate(["cat", "dog", "fish"]):
        (tmp_path / name).mkdir()
        for i in range(label + 2):              # 2, 3 and 4 images
            value = 40 * label + i
            Image.fromarray(np.full((40, 60, 3), value, np.uint8)).save(
                str(tmp_path / name / "{}.png".format(i)))
    (tmp_path / "dog" / "notes.txt").write_text("not an image")
    return tmp_path


def test_imagenet_generator_reads_class_folders(folder):
    batches = get_imagenet_generator(str(folder), target_size=(32, 32), crop_size=(24, 24),
                                     batch_size=4, seed=1, preprocess_input=lambda x: x / 255.)
    assert len(batches) == 3
    images, targets = zip(*batches)
    images, targets = np.concatenate(images), np.concatenate(targets)
    assert images.shape == (9, 24, 24, 3) and sorted(targets) == [0, 0, 1, 1, 1, 2, 2, 2, 2]
    # each image's value says its class folder: labels follow the sorted folder names
    np.testing.assert_array_equal(images[:, 0, 0, 0] * 255 // 40, targets)
    again = np.concatenate([t for _, t in get_imagenet_generator(
        str(folder), (32, 32), (24, 24), 4, seed=1, preprocess_input=lambda x: x)])
    np.testing.assert_array_equal(again, targets)            # the seed fixes the order


def test_imagenet_generator_errors(folder, tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        get_imagenet_generator(str(tmp_path / "missing"))
    with pytest.raises(ValueError, match="no class folders"):
        get_imagenet_generator(str(folder / "cat"))
    with pytest.raises(ValueError, match="larger than target_size"):
        get_imagenet_generator(str(folder), target_size=(16, 16), crop_size=(24, 24))


def test_default_preprocessing_is_caffe_mode(folder):
    images, _ = get_imagenet_generator(str(folder), (32, 32), (32, 32), batch_size=2)[0]
    assert images.min() < 0                # ImageNet means subtracted


def test_load_and_preprocess(folder):
    files = list_images(str(folder))
    assert len(files) == 9
    grey = load_image(files[0], size=(10, 12), grayscale=True)
    assert grey.shape == (10, 12, 1) and grey.dtype == np.float32
    x = np.full((1, 2, 2, 3), 255.)
    assert preprocess(x, "unit").max() == 1 and preprocess(x, "symmetric").max() == 1
    assert preprocess(x, "none").max() == 255 and x.max() == 255       # input unchanged
    with pytest.raises(ValueError, match="unknown preprocessing 'imagenet'"):
        preprocess(x, "imagenet")
    with pytest.raises(ValueError, match="needs RGB"):
        preprocess(np.zeros((1, 2, 2, 1)), "caffe")
