"""effl's conformance checks over every component this distribution registers: one test per component."""

from effl_plugins.testing import conformance_tests

test_conformance = conformance_tests("effl-plugins-example")
