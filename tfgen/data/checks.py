"""Is a dataset there? Checked before a run writes anything.

`check_available(name, ...)` raises ValueError (naming the dataset, the
path or the bad file, and the fix) when `tfgen.data` could not deliver the
source: a tfds dataset that is not prepared in `data_dir` (and may not be
downloaded), a `folder:` that does not exist, holds no images, or holds a
file that is not a decodable image. It reads only: nothing is downloaded,
built or written.
"""

from __future__ import annotations

import os
from typing import Optional

from tfgen.data import sources

# Magic bytes of the formats `tf.io.decode_image` reads.
_MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a", b"BM")
# Files fully decoded (every file's header is checked).
MAX_DECODED = 256


def _folder_images(path: str) -> list[str]:
  if not os.path.isdir(path):
    raise ValueError(
        f"dataset='folder:{path}': {path!r} is not a directory. Point it at a "
        "directory of .png/.jpg images.")
  files = sorted(
      os.path.join(root, f) for root, _, names in os.walk(path) for f in names
      if f.lower().endswith(sources._IMAGE_EXTENSIONS))  # pylint: disable=protected-access
  if not files:
    raise ValueError(
        f"dataset='folder:{path}' holds no .png/.jpg/.jpeg images.")
  return files


def _bad_image(folder: str, path: str, reason: str) -> ValueError:
  return ValueError(
      f"dataset='folder:{folder}': {path!r} is not a decodable image "
      f"({reason}); remove or replace it (PNG, JPEG, GIF or BMP).")


def check_folder(path: str, channels: int = 3) -> int:
  """Checks every image's header and decodes the first MAX_DECODED."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  files = _folder_images(path)
  for index, name in enumerate(files):
    try:
      with open(name, "rb") as f:
        head = f.read(16)
    except OSError as error:
      raise _bad_image(path, name, f"unreadable: {error.strerror}") from error
    if not head.startswith(_MAGIC):
      raise _bad_image(path, name, "not PNG, JPEG, GIF or BMP data" if head
                       else "an empty file")
    if index < MAX_DECODED:
      try:
        image = tf.io.decode_image(tf.io.read_file(name), channels=channels,
                                   expand_animations=False)
      except (tf.errors.OpError, ValueError) as error:
        reason = str(getattr(error, "message", error)).strip().splitlines()
        raise _bad_image(path, name, reason[0][:200] if reason else "corrupt") from (
            error)
      if min(image.shape[:2]) < 1:
        raise _bad_image(path, name, f"shape {list(image.shape)}")
  return len(files)


def check_tfds(name: str, data_dir: Optional[str], download: bool) -> None:
  """A tfds dataset is prepared in `data_dir` (or may be downloaded)."""
  if download:
    return  # tfds.load downloads and prepares it; its errors are reported.
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  try:
    builder = tfds.builder(name, data_dir=data_dir)
  except Exception as error:  # pylint: disable=broad-except
    raise ValueError(f"dataset={name!r} is not a tfds dataset here "
                     f"({str(error).splitlines()[0][:200]}).") from error
  if not builder.is_prepared():
    where = data_dir or "tfds' default data_dir (~/tensorflow_datasets)"
    raise ValueError(
        f"dataset={name!r} is not prepared in {where} "
        f"(no {builder.data_dir}). Prepare it with `tfds build {name}"
        + (f" --data_dir={data_dir}" if data_dir else "")
        + "` on a machine with network access (or copy that folder here), "
        "or pass --download=true.")


def check_available(name: str, data_dir: Optional[str] = None,
                    download: bool = False, folder_channels: int = 3) -> None:
  """Raises ValueError if `tfgen.data.load(name, ...)` could not load it."""
  kind = sources._kind(name)  # pylint: disable=protected-access
  if kind == "folder":
    check_folder(name[len("folder:"):], folder_channels)
  elif kind == "tfds":
    check_tfds(name, data_dir, download)
