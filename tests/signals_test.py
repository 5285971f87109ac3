"""tfgen.train.signals: SIGTERM / Ctrl-C become a stop request."""

import os
import signal
import sys
import threading

import pytest

from tfgen.train import signals


@pytest.mark.parametrize("signum", signals.SIGNALS)
def test_a_signal_is_recorded_and_the_old_handler_comes_back(signum):
  before = signal.getsignal(signum)
  with signals.StopRequest() as stop:
    assert not stop.requested and float(stop.flag()) == 0.0
    os.kill(os.getpid(), signum)
    assert stop.requested and stop.signum == signum
    assert stop.name == signal.Signals(signum).name
    assert float(stop.flag()) == 1.0
  assert signal.getsignal(signum) is before


def test_a_second_ctrl_c_interrupts_at_once():
  with signals.StopRequest():
    os.kill(os.getpid(), signal.SIGINT)
    with pytest.raises(KeyboardInterrupt):
      os.kill(os.getpid(), signal.SIGINT)


def test_disabled_or_off_the_main_thread_installs_no_handler():
  before = signal.getsignal(signal.SIGTERM)
  with signals.StopRequest(enabled=False) as stop:
    assert signal.getsignal(signal.SIGTERM) is before
    assert stop.name == "none"
  seen = {}

  def worker():
    with signals.StopRequest():
      seen["handler"] = signal.getsignal(signal.SIGTERM)

  thread = threading.Thread(target=worker)
  thread.start()
  thread.join()
  assert seen["handler"] is before


if __name__ == "__main__":
  sys.exit(pytest.main([__file__, "-q"]))
