"""The README stays true to the code: every setting is documented, and the two commands are there."""

from service.settings import Settings
from tests.support.server import ROOT

README = (ROOT / "README.md").read_text()


def test_every_setting_is_in_the_configuration_table() -> None:
    missing = [name.upper() for name in Settings.model_fields if f"| `{name.upper()}` |" not in README]
    assert not missing, f"README's configuration table lacks {missing}"


def test_the_two_commands_are_documented() -> None:
    assert "make run" in README and "make test" in README
