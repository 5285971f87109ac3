"""Helpers shared by the apps: quiet TF logging, deterministic .npz files."""

from __future__ import annotations

import io
import os
import zipfile

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def save_npz(path: str, **arrays: np.ndarray) -> str:
  """Like `np.savez`, but byte-identical for identical arrays.

  `np.savez` stamps the current time into the zip entries; this writes them
  with a fixed timestamp, in sorted order, atomically (temp file + rename).
  """
  tmp = path + ".tmp"
  with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as archive:
    for name in sorted(arrays):
      buffer = io.BytesIO()
      np.lib.format.write_array(buffer, np.ascontiguousarray(arrays[name]),
                                allow_pickle=False)
      info = zipfile.ZipInfo(name + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
      archive.writestr(info, buffer.getvalue())
  os.replace(tmp, path)
  return path
