import matplotlib
matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from iba_tf import ifnone, plot_saliency_map, to_saliency_map, to_unit_interval  # noqa: E402


def test_saliency_sums_channels_in_bits_and_keeps_the_total():
    capacity = np.random.rand(7, 7, 16)
    saliency = to_saliency_map(capacity, (224, 224))
    assert saliency.shape == (224, 224)
    np.testing.assert_allclose(saliency.sum(), capacity.sum() / np.log(2), rtol=1e-6)
    unresized = to_saliency_map(capacity)
    np.testing.assert_allclose(unresized, capacity.sum(-1) / np.log(2))


def test_saliency_resize_is_bilinear_and_keeps_location():
    capacity = np.zeros((8, 8, 2))
    capacity[1, 6] = 1.
    saliency = to_saliency_map(capacity, (32, 32))
    row, col = np.unravel_index(saliency.argmax(), saliency.shape)
    assert 4 <= row < 8 and 24 <= col < 28
    assert np.count_nonzero(saliency) > 16          # interpolated, not nearest neighbour


def test_channels_first_and_sequences():
    capacity = np.random.rand(3, 5, 6)
    np.testing.assert_allclose(to_saliency_map(capacity, data_format="channels_first"),
                               capacity.sum(0) / np.log(2))
    sequence = np.random.rand(10, 4)
    saliency = to_saliency_map(sequence, (40,))
    assert saliency.shape == (40,)
    np.testing.assert_allclose(saliency.sum(), sequence.sum() / np.log(2), rtol=1e-6)


def test_saliency_errors():
    with pytest.raises(ValueError, match="Dense features"):
        to_saliency_map(np.ones(10))
    with pytest.raises(ValueError, match="spatial axes"):
        to_saliency_map(np.ones((4, 4, 2)), (8,))
    with pytest.raises(ValueError, match="data_format"):
        to_saliency_map(np.ones((4, 4, 2)), data_format="nchw")


def test_plot_saliency_map_with_and_without_image(tmp_path):
    saliency = np.random.rand(16, 16)
    ax = plot_saliency_map(saliency, img=np.random.rand(16, 16, 3))
    assert ax.figure.axes[-1].get_ylabel() == "Bits / Pixel"
    ax.figure.savefig(str(tmp_path / "overlay.png"))
    assert (tmp_path / "overlay.png").stat().st_size > 1000
    plot_saliency_map(saliency, vmax=2.)
    with pytest.raises(ValueError, match="does not match"):
        plot_saliency_map(saliency, img=np.zeros((8, 8)))


def test_small_helpers():
    assert ifnone(0, 5) == 0 and ifnone(None, 5) == 5 and ifnone(False, True) is False
    np.testing.assert_allclose(to_unit_interval([2., 4., 6.]), [0, .5, 1])
    np.testing.assert_array_equal(to_unit_interval([3., 3.]), [0, 0])
