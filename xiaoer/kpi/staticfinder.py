"""Serves plotly.js from the installed ``plotly`` wheel as ``kpi/vendor/plotly.min.js`` (decision
164): the charting library comes through pip, not a CDN and not a copy in our tree."""

from __future__ import annotations

import importlib.resources
from pathlib import Path

from django.contrib.staticfiles.finders import BaseFinder
from django.core.files.storage import FileSystemStorage

PREFIX = "kpi/vendor"
FILES = {"plotly.min.js": ("plotly", "package_data")}


def _folder(package: str, folder: str) -> Path | None:
    try:
        path = Path(str(importlib.resources.files(package) / folder))
    except ModuleNotFoundError:
        return None
    return path if path.is_dir() else None


class PackageDataFinder(BaseFinder):
    def check(self, **kwargs):
        return []

    def find(self, path: str, find_all: bool = False, **kwargs):
        prefix, _, name = path.rpartition("/")
        if prefix != PREFIX or name not in FILES:
            return [] if find_all else None
        folder = _folder(*FILES[name])
        found = str(folder / name) if folder and (folder / name).is_file() else None
        if find_all:
            return [found] if found else []
        return found

    def list(self, ignore_patterns):
        for name, (package, folder) in FILES.items():
            where = _folder(package, folder)
            if where is None:
                continue
            storage = FileSystemStorage(location=str(where))
            storage.prefix = PREFIX
            yield name, storage
