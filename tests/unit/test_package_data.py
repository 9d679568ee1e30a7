"""Every data file of the packages is installed with them: the image installs the project as a wheel, not editable,
so a file the code reads that the wheel leaves out is found only in the container (a transformer demo rejected for a
missing unicode_tables.json)."""

import fnmatch
import subprocess
import tomllib

from tests.support.server import ROOT

# Sources kept beside what is generated from them, not read at run time.
NOT_INSTALLED = {
    "service/protocols/v2/messages/grpc_service.proto": "grpc_service_pb2*.py are generated from it (make grpc-code)",
    "service/protocols/v2/messages/model_config.proto": "model_config_pb2.py is generated from it (make grpc-code)",
}


def test_every_data_file_in_the_packages_is_package_data() -> None:
    package_data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"].get("package-data", {})
    tracked = subprocess.run(
        ["git", "ls-files", "service", "model_export"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    data_files = [path for path in tracked if not path.endswith(".py") and path not in NOT_INSTALLED]
    assert data_files, "no data file found: the check would pass on anything"
    left_out = [
        path
        for path in data_files
        if not any(
            path.startswith(package.replace(".", "/") + "/")
            and fnmatch.fnmatch(path.removeprefix(package.replace(".", "/") + "/"), pattern)
            for package, patterns in package_data.items()
            for pattern in patterns
        )
    ]
    assert not left_out, f"add these to [tool.setuptools.package-data] in pyproject.toml: {left_out}"
