"""Test plugins shared by every test package (pytest loads this file before collecting)."""

pytest_plugins = ["xiaoer.chat.tests.live_server"]
