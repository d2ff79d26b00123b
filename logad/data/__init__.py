"""Getting the public corpora: a catalogue (configs/datasets.yaml) and a verified, resumable fetch."""

from logad.data.fetch import fetch, load_catalogue, resolve, sha256_of

__all__ = ["fetch", "load_catalogue", "resolve", "sha256_of"]
