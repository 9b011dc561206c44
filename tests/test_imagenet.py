import pytest

from iba_tf.examples.imagenet import imagenet_class_names, imagenet_photos, load_application


def test_class_names_and_photos_ship_offline():
    names = imagenet_class_names()
    assert len(names) == 1000 and names[281] == "tabby" and names[0] == "tench"
    photos, labels = imagenet_photos(32, n=3)
    assert photos.shape == (3, 32, 32, 3) and photos.max() > 1 and labels.shape == (3,)
    assert all(0 <= label < 1000 for label in labels)


def test_application_without_local_weights_is_random_and_says_so(tmp_path):
    model, pretrained = load_application("VGG16", str(tmp_path / "missing.h5"),
                                         input_shape=(32, 32, 3))
    assert not pretrained and model.output_shape == (None, 1000)
    with pytest.raises(ValueError, match="no model 'VGG99'"):
        load_application("VGG99")
