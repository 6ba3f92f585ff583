"""The harness's pytest plugin turns tests/selftests.targets into selftest items."""

pytest_plugins = ["harness.plugin", "pytester"]
