"""Training data: window cropping, camera re-basing to the window's first frame, seeded order, the folder reader."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from engine.camera.conditioning import CameraConditioner
from engine.camera.intrinsics import fov_deg
from engine.camera.poses import se3_inverse
from engine.components.patch_codec import PatchDCTCodec
from engine.errors import ConfigError, InputFileError
from engine.train.data import ClipFolder, TrainingData, median_intrinsics

SIZE = (48, 32)


def test_a_window_is_the_encoding_of_its_pixel_frames_with_poses_relative_to_its_first_frame(clip_factory):
    clip = clip_factory(3)  # 49 frames = 7 latent frames
    codec = PatchDCTCodec(8, 16)
    data = TrainingData([clip], codec, SIZE, window_latent_frames=4, seed=0)
    sample = data.sample_at(0, start=2)  # latent frames 2..5 = pixel frames 16..40

    assert torch.equal(sample.latents, codec.encode(clip.frames[16:41])[0])
    assert sample.latents.shape == (8, 4, 2, 3) and sample.chunk_plucker.shape == (48, 4, 2, 3)
    cams = sample.camera_conditions.double()  # (4, 20)
    assert torch.equal(cams[0, :16], torch.eye(4, dtype=torch.float64).flatten())  # the window's image: identity
    for j in range(4):
        expected = se3_inverse(clip.c2w[16]) @ clip.c2w[16 + 8 * j]
        np.testing.assert_allclose(cams[j, :16].numpy().reshape(4, 4), expected, atol=1e-6)
    np.testing.assert_allclose(cams[:, 16].numpy(), clip.intrinsics[0, 0] * 3 / 48, rtol=1e-6)  # fx on the grid
    reference = CameraConditioner(clip.c2w[16:41], clip.intrinsics[16:41], SIZE, (3, 2)).chunk_plucker()
    assert torch.allclose(sample.chunk_plucker, reference.float())


class WrappedCodec:
    """A codec the data pipeline cannot assume frame-local: it must encode every window by itself."""

    def __init__(self) -> None:
        self.inner = PatchDCTCodec(8, 16)
        self.name, self.latent_channels, self.spatial_factor, self.temporal_factor = "wrapped", 8, 16, 8
        self.encoded_frames: list[int] = []

    def encode(self, frames: np.ndarray) -> torch.Tensor:
        self.encoded_frames.append(frames.shape[0])
        return self.inner.encode(frames)


def test_codecs_that_are_not_frame_local_encode_each_window_once(clip_factory):
    clip = clip_factory(5)
    codec = WrappedCodec()
    data = TrainingData([clip], codec, SIZE, window_latent_frames=4, seed=0)
    first = data.sample_at(0, 1).latents
    again = data.sample_at(0, 1).latents
    assert codec.encoded_frames == [25]  # one 25-frame window, cached
    assert torch.equal(first, again) and torch.equal(first, codec.inner.encode(clip.frames[8:33])[0])


def test_sample_order_is_a_seeded_function_of_the_position_that_visits_every_clip_once_per_epoch(clip_factory):
    clips = [clip_factory(i) for i in range(5)]
    data = TrainingData(clips, PatchDCTCodec(8, 16), SIZE, window_latent_frames=4, seed=7)
    order = [data.clip_for(n) for n in range(10)]
    assert sorted(order[:5]) == sorted(order[5:]) == list(range(5))
    again = TrainingData(clips, PatchDCTCodec(8, 16), SIZE, window_latent_frames=4, seed=7)
    assert [again.sample(n).start for n in range(10)] == [data.sample(n).start for n in range(10)]
    assert torch.equal(again.batch(3, 2).latents, data.batch(3, 2).latents)  # no hidden state: any position
    other = TrainingData(clips, PatchDCTCodec(8, 16), SIZE, window_latent_frames=4, seed=8)
    assert [other.clip_for(n) for n in range(10)] != order
    starts = {data.sample(n).start for n in range(40)}
    assert starts == {0, 1, 2, 3}  # 7 latent frames, window 4: every start occurs


def test_batches_stack_samples(clip_factory):
    data = TrainingData([clip_factory(i) for i in range(3)], PatchDCTCodec(8, 16), SIZE, 7, seed=0)
    batch = data.batch(0, 2)
    assert batch.latents.shape == (2, 8, 7, 2, 3)
    assert batch.camera_conditions.shape == (2, 7, 20) and batch.chunk_plucker.shape == (2, 48, 7, 2, 3)
    assert batch.latents.dtype == batch.camera_conditions.dtype == batch.chunk_plucker.dtype == torch.float32
    assert [s[1] for s in batch.sources] == [0, 0]  # 7-frame clips fit a 7-frame window once


def test_bad_windows_and_clips_are_reported(clip_factory):
    with pytest.raises(ConfigError, match="1 \\+ 3k"):
        TrainingData([clip_factory(0)], PatchDCTCodec(8, 16), SIZE, window_latent_frames=6, seed=0)
    short = TrainingData([clip_factory(0, num_frames=25)], PatchDCTCodec(8, 16), SIZE, window_latent_frames=7, seed=0)
    with pytest.raises(InputFileError, match="shorter than the window"):
        short.sample(0)
    wrong_size = TrainingData([clip_factory(0)], PatchDCTCodec(8, 16), (64, 32), window_latent_frames=4, seed=0)
    with pytest.raises(InputFileError, match="48x32, expected the training frame size 64x32"):
        wrong_size.sample(0)


def test_clip_folder_reads_raw_npz_in_index_order_and_points_to_the_jpeg_hook(tmp_path, clip_factory, dataset_writer):
    clips = [clip_factory(i) for i in range(2)]
    folder = dataset_writer(tmp_path / "ds", clips)
    data = ClipFolder(folder)
    assert len(data) == 2
    assert np.array_equal(data[1].frames, clips[1].frames) and np.allclose(data[1].c2w, clips[1].c2w)
    assert np.allclose(data.intrinsics(0), clips[0].intrinsics)

    np.savez(folder / "clips" / "clip_000000.npz", jpeg=np.zeros(3, np.uint8), c2w=clips[0].c2w,
             intrinsics=clips[0].intrinsics)  # fmt: skip
    with pytest.raises(InputFileError, match="reader=engine.synth.dataset.read_clip"):
        data[0]
    decoded = ClipFolder(folder, reader=lambda path: clips[0])  # the hook: any Path -> clip callable
    assert np.array_equal(decoded[0].frames, clips[0].frames)

    (folder / "index.json").write_text(json.dumps({"fps": 16}))  # no list: every clips/*.npz by name
    assert [p.name for p in ClipFolder(folder).paths] == ["clip_000000.npz", "clip_000001.npz"]
    (folder / "index.json").write_text(json.dumps({"clips": ["clips/missing.npz"]}))
    with pytest.raises(InputFileError, match="missing"):
        ClipFolder(folder)
    with pytest.raises(InputFileError, match="index.json"):
        ClipFolder(tmp_path)


def test_median_intrinsics_keep_the_datas_field_of_view(clip_factory):
    clips = [clip_factory(i) for i in range(3)]
    intr = median_intrinsics(clips, SIZE)
    fovs = sorted(float(fov_deg(c.intrinsics[:1], *SIZE)[0][0]) for c in clips)
    assert float(fov_deg(intr, *SIZE)[0][0]) == pytest.approx(fovs[1])
    assert intr[2:].tolist() == [24.0, 16.0]
