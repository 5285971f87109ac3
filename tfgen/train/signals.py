"""Stopping a training run cleanly on SIGTERM or Ctrl-C.

`StopRequest` turns the first SIGTERM or SIGINT into a request that the
training loop sees at its next step boundary: it finishes the step, saves a
checkpoint and returns, and `apps.train` exits with 128 + the signal number
(143 for SIGTERM, 130 for SIGINT), the shell's convention for a process
ended by a signal, so that a scheduler retries it. A second SIGINT raises
KeyboardInterrupt at once (the loop still saves on the way out). Under a
multi-worker strategy the loop sums the request over all workers inside the
step, so every worker stops (and saves) after the same step.
"""

from __future__ import annotations

import signal
import threading
from typing import Optional

import tensorflow as tf

SIGNALS = (signal.SIGTERM, signal.SIGINT)


class StopRequest:
  """A context manager that records SIGTERM / SIGINT while it is active.

  Handlers are installed only in the main thread (Python allows no other)
  and only when `enabled`; the previous handlers come back on exit.
  """

  def __init__(self, enabled: bool = True):
    self.enabled = enabled
    self.signum: Optional[int] = None
    self._previous = {}
    self._flags = None

  def __enter__(self) -> "StopRequest":
    self._flags = (tf.constant(0.0), tf.constant(1.0))
    if self.enabled and threading.current_thread() is threading.main_thread():
      for signum in SIGNALS:
        self._previous[signum] = signal.signal(signum, self._handle)
    return self

  def __exit__(self, *exc_info) -> None:
    for signum, handler in self._previous.items():
      signal.signal(signum, handler)
    self._previous = {}

  def _handle(self, signum, frame) -> None:
    del frame
    if self.signum is not None and signum == signal.SIGINT:
      raise KeyboardInterrupt  # A second Ctrl-C: stop now.
    self.signum = signum

  @property
  def requested(self) -> bool:
    return self.signum is not None

  @property
  def name(self) -> str:
    return signal.Signals(self.signum).name if self.signum else "none"

  def flag(self) -> tf.Tensor:
    """1.0 once a stop was requested, else 0.0 (an input of the step)."""
    return self._flags[int(self.requested)]
