"""Model tests run on two CPU threads, like the machine they are timed on, with no network for weights."""

from __future__ import annotations

import urllib.error

import pytest
import torch

torch.set_num_threads(2)


@pytest.fixture
def torch_home(tmp_path, monkeypatch):
    """An empty torch cache, and downloads that fail at once as they do offline, whatever the network."""
    home = tmp_path / "torch_home"
    monkeypatch.setenv("TORCH_HOME", str(home))

    def no_download(url, *args, **kwargs):
        raise urllib.error.URLError(f"offline: cannot fetch {url}")

    monkeypatch.setattr(torch.hub, "download_url_to_file", no_download)
    return home
