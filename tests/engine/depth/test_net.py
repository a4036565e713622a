"""DepthNet's contract: shapes, metres, the ray-slope input that makes depth metric given the intrinsics."""

from __future__ import annotations

import math

import pytest
import torch

from engine.depth.net import DepthNet, DepthNetConfig, ray_slopes, to_depth

TINY = DepthNetConfig(widths=(4, 8), log_depth_init=math.log(5.0))


def test_a_tiny_random_net_maps_images_and_intrinsics_to_per_pixel_log_depth_and_sky():
    torch.manual_seed(0)
    net = DepthNet(TINY).eval()
    image, k = torch.rand(2, 3, 32, 48), torch.tensor([[40.0, 40.0, 24.0, 16.0], [80.0, 70.0, 20.0, 17.0]])
    log_depth, sky = net(image, k)
    assert log_depth.shape == sky.shape == (2, 32, 48)
    depth = to_depth(log_depth)
    assert torch.isfinite(depth).all() and (depth >= 0.05).all() and (depth <= 1500.0).all()
    # the head starts near exp(log_depth_init) metres: a usable initial guess in scene units
    assert torch.allclose(log_depth.mean(), torch.tensor(math.log(5.0)), atol=0.5)


def test_to_depth_marks_sky_as_inf_and_clamps_to_the_render_range():
    log_depth = torch.tensor([[-10.0, 0.0, math.log(3.0), 20.0]])
    sky = torch.tensor([[-1.0, -1.0, 2.0, -1.0]])
    depth = to_depth(log_depth, sky)
    assert depth[0, 0] == pytest.approx(0.05) and depth[0, 1] == pytest.approx(1.0)
    assert math.isinf(depth[0, 2]) and depth[0, 3] == pytest.approx(1500.0)


def test_ray_slopes_are_the_pixel_centre_rays_of_the_intrinsics():
    k = torch.tensor([[50.0, 25.0, 8.0, 4.0]])
    rays = ray_slopes(k, (8, 16))  # (1, 2, H, W)
    assert rays.shape == (1, 2, 8, 16)
    assert rays[0, 0, 3, 10].item() == pytest.approx((10.5 - 8.0) / 50.0)
    assert rays[0, 1, 3, 10].item() == pytest.approx((3.5 - 4.0) / 25.0)


def test_the_prediction_depends_on_the_focal_length():
    torch.manual_seed(1)
    net = DepthNet(TINY).eval()
    with torch.no_grad():
        net.head.weight.normal_()  # make the head sensitive to every input channel
        image = torch.rand(1, 3, 32, 48)
        a, _ = net(image, torch.tensor([[40.0, 40.0, 24.0, 16.0]]))
        b, _ = net(image, torch.tensor([[80.0, 80.0, 24.0, 16.0]]))
    assert (a - b).abs().max() > 1e-4


def test_sizes_that_are_not_multiples_of_16_are_refused():
    with pytest.raises(ValueError, match="multiples of 16"):
        DepthNet(TINY)(torch.rand(1, 3, 30, 48), torch.tensor([[40.0, 40.0, 24.0, 15.0]]))
