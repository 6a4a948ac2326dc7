import shutil

import pytest
import torch
import torchvision

import fep.data
import fep.models.download
from fep import models
from fep.models import (
    REGISTRY,
    CheckpointError,
    ToyVideoNet,
    WeightsNotFoundError,
    categories,
    check_input_size,
    load_model,
    preprocess,
)
from fep.testing import same_weights

VALID_INPUT = {
    "r3d_18": (2, 4, 32, 32),
    "mc3_18": (1, 4, 32, 32),
    "r2plus1d_18": (1, 4, 32, 32),
    "s3d": (1, 13, 224, 224),
    "mvit_v1_b": (1, 16, 224, 224),
    "mvit_v2_s": (1, 16, 224, 224),
    "swin3d_t": (1, 4, 64, 64),
    "swin3d_s": (1, 2, 32, 32),
    "swin3d_b": (1, 2, 32, 32),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", [name for name, spec in REGISTRY.items() if not spec.shipped])
def test_every_architecture_builds_offline_and_runs_at_a_valid_size(name):
    model = load_model(name, weights=None)
    assert not model.training
    n, t, h, w = VALID_INPUT[name]
    check_input_size(name, t, h, w)
    with torch.no_grad():
        logits = model(torch.rand(n, 3, t, h, w))
    assert logits.shape == (n, 400)
    assert len(categories(name)) == 400


def test_missing_kinetics_weights_name_file_url_and_folder_and_leave_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    url = torchvision.models.get_model_weights("r2plus1d_18").DEFAULT.url
    with pytest.raises(WeightsNotFoundError) as err:
        load_model("r2plus1d_18")
    message = str(err.value)
    assert url in message and url.rsplit("/", 1)[1] in message and str(tmp_path / "hub" / "checkpoints") in message
    assert list(tmp_path.iterdir()) == []  # no empty checkpoints folder, no partial file


def test_kinetics_weights_load_from_the_hub_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    url = torchvision.models.get_model_weights("r3d_18").DEFAULT.url
    folder = tmp_path / "hub" / "checkpoints"
    folder.mkdir(parents=True)
    reference = torchvision.models.get_model("r3d_18", weights=None)
    torch.save(reference.state_dict(), folder / url.rsplit("/", 1)[1])
    loaded = load_model("r3d_18")
    assert same_weights(loaded, reference)


def test_explicit_checkpoints_corrupted_or_mismatched(tmp_path):
    good = tmp_path / "toy.pt"
    torch.save(ToyVideoNet().state_dict(), good)
    assert isinstance(load_model("toy", weights=good), ToyVideoNet)
    (tmp_path / "broken.pt").write_bytes(b"\x00garbage" * 10)
    with pytest.raises(CheckpointError, match="broken.pt is not a readable PyTorch checkpoint"):
        load_model("toy", weights=tmp_path / "broken.pt")
    torch.save(ToyVideoNet(width=8).state_dict(), tmp_path / "small.pt")
    with pytest.raises(CheckpointError, match="small.pt does not fit toy"):
        load_model("toy", weights=tmp_path / "small.pt")
    torch.save({"epoch": 3}, tmp_path / "meta.pt")
    with pytest.raises(CheckpointError, match="state dict of tensors"):
        load_model("toy", weights=tmp_path / "meta.pt")
    with pytest.raises(FileNotFoundError, match="No checkpoint at"):
        load_model("toy", weights=tmp_path / "absent.pt")
    with pytest.raises(ValueError, match="Unknown model 'resnet50'"):
        load_model("resnet50")


def test_shipped_toy_model_is_checked_against_its_card(tmp_path, monkeypatch):
    model = load_model("toy")
    assert isinstance(model, ToyVideoNet) and not model.training
    copy = tmp_path / "data"
    copy.mkdir()
    spec = models.REGISTRY["toy"]
    shutil.copy(spec.card_file, copy / spec.card_file.name)
    torch.save(ToyVideoNet().state_dict(), copy / spec.weights_file.name)  # not the shipped weights
    monkeypatch.setattr(fep.data, "DATA_DIR", copy)
    with pytest.raises(CheckpointError, match="does not match the sha256"):
        load_model("toy")
    (copy / spec.weights_file.name).unlink()
    with pytest.raises(WeightsNotFoundError, match="retrain"):
        load_model("toy")


def test_toy_model_size_and_random_init_is_reproducible():
    assert sum(p.numel() for p in ToyVideoNet().parameters()) <= 300_000
    a, b = load_model("toy", weights=None), load_model("toy", weights=None)
    assert same_weights(a, b)
    assert categories("toy") == ["moves right", "moves left", "moves down", "moves up"]


def test_preprocess_uses_each_models_transforms():
    frames = torch.rand(3, 16, 128, 171)
    batch = preprocess(frames, "r2plus1d_18")
    assert batch.shape == (1, 3, 16, 112, 112)
    assert batch.mean().abs() < 1.5 and batch.min() < 0  # normalised, not in [0, 1]
    assert preprocess(torch.rand(2, 3, 16, 240, 320), "s3d").shape == (2, 3, 16, 224, 224)
    toy = preprocess(torch.rand(3, 16, 64, 80), "toy")
    assert toy.shape == (1, 3, 16, 112, 112) and toy.min() >= 0 and toy.max() <= 1
    with pytest.raises(ValueError, match="RGB frames"):
        preprocess(torch.rand(16, 3, 112, 112), "toy")


@pytest.mark.parametrize(
    "name, size, message",
    [
        ("s3d", (12, 224, 224), "s3d needs at least 13 frames of 224x224"),
        ("s3d", (16, 112, 112), "s3d needs at least 13 frames"),
        ("mvit_v2_s", (8, 224, 224), "mvit_v2_s accepts only 16x224x224"),
        ("mvit_v1_b", (16, 256, 256), "mvit_v1_b accepts only 16x224x224"),
    ],
)
def test_invalid_input_sizes_are_named(name, size, message):
    with pytest.raises(ValueError, match=message):
        check_input_size(name, *size)


# ---- downloading Kinetics weights: a local server on 127.0.0.1 stands in for download.pytorch.org ----


class _Server:
    """A threaded HTTP server on 127.0.0.1 serving ``folder``; counts requests; ``mode`` misbehaves."""

    def __init__(self, folder, mode="serve"):
        import functools
        import http.server
        import threading

        server = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                server.requests += 1
                if server.mode == "truncate":  # promises the whole file, sends half, hangs up
                    data = (folder / self.path.lstrip("/")).read_bytes()
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data[: len(data) // 2])
                    self.close_connection = True
                    return
                if server.mode == "silent":  # accepts the connection, never answers
                    server.release.wait(30)
                    return
                super().do_GET()

        self.mode, self.requests, self.release = mode, 0, threading.Event()
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=folder))
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def close(self):
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def published(tmp_path_factory):
    """An mc3_18 state dict published under torchvision's naming (name-<sha256 prefix>.pth)."""
    import hashlib

    folder = tmp_path_factory.mktemp("published")
    reference = torchvision.models.get_model("mc3_18", weights=None)
    torch.save(reference.state_dict(), folder / "state.pth")
    prefix = hashlib.sha256((folder / "state.pth").read_bytes()).hexdigest()[:8]
    (folder / "state.pth").rename(folder / f"mc3_18-{prefix}.pth")
    (folder / "mc3_18-00000000.pth").write_bytes((folder / f"mc3_18-{prefix}.pth").read_bytes())  # wrong hash
    return folder, f"mc3_18-{prefix}.pth", reference


@pytest.fixture
def online(tmp_path, monkeypatch):
    monkeypatch.delenv("FEP_OFFLINE", raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    return tmp_path / "torch"


def _serve(monkeypatch, folder, name, mode="serve"):
    server = _Server(folder, mode)
    monkeypatch.setattr(fep.models.download, "checkpoint_url", lambda model_name: f"{server.url}/{name}")
    return server


def test_missing_weights_are_downloaded_into_the_hub_cache(online, published, monkeypatch):
    folder, name, reference = published
    server = _serve(monkeypatch, folder, name)
    try:
        loaded = load_model("mc3_18", progress=False)
    finally:
        server.close()
    assert same_weights(loaded, reference)
    assert sorted(p.name for p in (online / "hub" / "checkpoints").iterdir()) == [name]  # no temporary left
    server = _serve(monkeypatch, folder, name)
    try:
        load_model("mc3_18", progress=False)  # the second time it is in the cache
    finally:
        server.close()
    assert server.requests == 0


def test_a_download_with_the_wrong_hash_is_refused_and_nothing_is_left(online, published, monkeypatch):
    folder, _, _ = published
    server = _serve(monkeypatch, folder, "mc3_18-00000000.pth")
    try:
        with pytest.raises(CheckpointError, match="sha256 .* not 00000000… as its name says"):
            load_model("mc3_18", progress=False)
    finally:
        server.close()
    assert not online.exists()  # no partial file, no empty folder


@pytest.mark.parametrize("mode", ["refused", "silent", "truncate"])
def test_a_failed_download_answers_within_seconds_and_leaves_nothing(online, published, monkeypatch, mode):
    import socket
    import time

    folder, name, _ = published
    monkeypatch.setattr(fep.models.download, "DOWNLOAD_TIMEOUT", 1.0)
    server = None
    if mode == "refused":
        with socket.socket() as s:  # a port nobody listens on
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        monkeypatch.setattr(fep.models.download, "checkpoint_url", lambda model_name: f"http://127.0.0.1:{port}/{name}")
    else:
        server = _serve(monkeypatch, folder, name, mode)
    started = time.monotonic()
    try:
        with pytest.raises(WeightsNotFoundError) as err:
            load_model("mc3_18", progress=False)
    finally:
        if server is not None:
            server.close()
    assert time.monotonic() - started < 10
    message = str(err.value)
    assert "could not be downloaded" in message and name in message and "weights='path/to/checkpoint.pth'" in message
    assert not online.exists()


def test_download_false_and_fep_offline_never_touch_the_network(online, published, monkeypatch):
    folder, name, _ = published
    server = _serve(monkeypatch, folder, name)
    try:
        with pytest.raises(WeightsNotFoundError, match="are not on this machine: put"):
            load_model("mc3_18", download=False)
        monkeypatch.setenv("FEP_OFFLINE", "1")
        with pytest.raises(WeightsNotFoundError, match="FEP_OFFLINE=1: no download tried"):
            load_model("mc3_18")
    finally:
        server.close()
    assert server.requests == 0 and not online.exists()


def test_the_cli_downloads_through_the_same_path_and_offline_refuses(online, published, monkeypatch, tmp_path, capsys):
    from fep.cli import main
    from fep.data.samples import SAMPLES_DIR

    folder, name, _ = published
    server = _serve(monkeypatch, folder, name)
    sample = str(SAMPLES_DIR / "sample_00.mp4")
    common = ["--iterations", "1", "--areas", "0.1", "--size", "32", "--frames", "4"]
    try:
        assert main(["explain", sample, "--model", "mc3_18", "--offline", "--out", str(tmp_path / "a"), *common]) == 2
        assert server.requests == 0 and "are not on this machine: put" in capsys.readouterr().err
        assert main(["explain", sample, "--model", "mc3_18", "--out", str(tmp_path / "b"), *common]) == 0
    finally:
        server.close()
    assert server.requests == 1 and (online / "hub" / "checkpoints" / name).is_file()


def test_display_frames_are_what_the_model_sees_so_overlays_align():
    from fep.models import display_frames

    video = torch.full((3, 4, 128, 171), 0.5)
    video[:, :, :, 160:] = 1.0  # a bright bar near the right edge: r2plus1d_18's centre crop drops it
    frames = display_frames(video, "r2plus1d_18")
    assert frames.shape == (3, 4, 112, 112)
    assert frames.max() < 0.55 and frames.min() > 0.45  # the bar is outside what the model sees
    normalised = preprocess(video, "r2plus1d_18")[0]
    assert not torch.allclose(normalised, frames)  # preprocess normalises; display_frames undoes only that
    toy = display_frames(video, "toy")
    assert toy.shape == (3, 4, 112, 112) and toy.max() > 0.9  # the toy model squashes: the bar stays in
