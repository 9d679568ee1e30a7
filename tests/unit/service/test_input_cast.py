"""A number too large for a float32 input is refused with a 400's words, and leaves no numpy warning in the log."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from service.core.errors import InvalidInput
from service.core.inputs import all_finite, to_array
from service.core.types import InputSpec

SPEC = InputSpec("pixels", np.dtype("float32"), (None, 2))


@pytest.mark.filterwarnings("ignore:overflow encountered in cast")
def test_a_number_too_large_for_float32_is_refused() -> None:
    with pytest.raises(InvalidInput, match="too large for float32"):
        to_array(SPEC, [[1e39, 1.0]], may_hold_booleans=False)
    assert to_array(SPEC, [[3.0e38, -1.5]], may_hold_booleans=False).dtype == np.float32


def test_refusing_it_writes_no_warning_to_the_log() -> None:
    # A process of its own: pytest puts its own warning filters in front of the service's.
    script = (
        "import numpy as np\nfrom service.core.inputs import to_array\nfrom service.core.types import InputSpec\n"
        "try:\n    to_array(InputSpec('p', np.dtype('float32'), (None, 1)), [[1e39]], False)\n"
        "except Exception as exc:\n    print(type(exc).__name__)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert (done.stdout.strip(), done.stderr) == ("InvalidInput", "")


@pytest.mark.parametrize(
    ("values", "finite"),
    [
        ([0.5, -2.0], True),
        ([3.0e38, -3.0e38], True),  # squares overflow float32: np.isfinite decides, and they are finite
        ([1.0, np.nan], False),
        ([np.inf, 1.0], False),
        ([-np.inf, np.inf], False),
    ],
)
def test_all_finite_tells_nan_and_infinity_from_large_numbers(values: list[float], finite: bool) -> None:
    for dtype in (np.float16, np.float32, np.float64):
        with np.errstate(over="ignore"):
            array = np.array([values], dtype=dtype)  # 3e38 is infinity in float16: not finite there
        assert all_finite(array) == bool(np.isfinite(array).all())
    assert all_finite(np.array([values], dtype=np.float32)) == finite
